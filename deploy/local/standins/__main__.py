"""`python -m standins` (from deploy/local): the Notify stand-in on 8025 (``GET /sent``: what it
and the SMTP stand-in received) and the SMTP stand-in on 8026, the addresses the notifications
service's settings default to. `make run` starts it beside the services."""

from __future__ import annotations

import argparse

import uvicorn

from standins import NOTIFY_PORT, SMTP_PORT
from standins.notify import NotifyStandIn
from standins.smtp import SmtpStandIn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notify-port", type=int, default=NOTIFY_PORT)
    parser.add_argument("--smtp-port", type=int, default=SMTP_PORT)
    args = parser.parse_args()
    notify, smtp = NotifyStandIn(), SmtpStandIn()
    controller = smtp.start(port=args.smtp_port)

    try:
        app = notify.app(smtp)
        uvicorn.run(app, host="127.0.0.1", port=args.notify_port, log_level="warning")
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
