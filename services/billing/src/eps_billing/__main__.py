from eps_chassis.service import run

from eps_billing.bootstrap import SERVICE

run(SERVICE)
