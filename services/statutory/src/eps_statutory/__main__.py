from eps_chassis.service import run

from eps_statutory.bootstrap import SERVICE

run(SERVICE)
