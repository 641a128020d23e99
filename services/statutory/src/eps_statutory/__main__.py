from eps_chassis.service import run

from eps_statutory.bootstrap import definition

run(definition())
