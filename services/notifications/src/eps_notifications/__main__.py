from eps_chassis.service import run

from eps_notifications.bootstrap import SERVICE

run(SERVICE)
