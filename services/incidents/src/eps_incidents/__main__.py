from eps_chassis.service import run

from eps_incidents.bootstrap import definition

run(definition())
