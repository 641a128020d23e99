from eps_chassis.service import run

from eps_privacy.bootstrap import SERVICE

run(SERVICE)
