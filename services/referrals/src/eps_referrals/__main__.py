from eps_chassis.service import run

from eps_referrals.bootstrap import SERVICE

run(SERVICE)
