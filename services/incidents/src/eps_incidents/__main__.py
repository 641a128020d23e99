from eps_chassis.service import run

from eps_incidents.bootstrap import SERVICE

run(SERVICE)
