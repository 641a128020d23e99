from eps_chassis.service import run

from eps_keys.bootstrap import SERVICE

run(SERVICE)
