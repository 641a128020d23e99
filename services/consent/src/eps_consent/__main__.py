from eps_chassis.service import run

from eps_consent.bootstrap import SERVICE

run(SERVICE)
