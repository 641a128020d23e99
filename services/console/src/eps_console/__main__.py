from eps_chassis.service import run

from eps_console.bootstrap import SERVICE

run(SERVICE)
