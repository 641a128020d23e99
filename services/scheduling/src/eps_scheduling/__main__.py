from eps_chassis.service import run

from eps_scheduling.bootstrap import SERVICE

run(SERVICE)
