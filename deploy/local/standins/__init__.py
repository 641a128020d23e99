"""Stand-ins for the far ends paging talks to, at the network boundary: GOV.UK Notify's API
(``notify``) and an SMTP relay (``smtp``, aiosmtpd). The tests start them in-process; `make run`
starts them as a process beside the services (``python -m standins``), and what they received
is at ``GET /sent`` on the Notify stand-in (the console shows it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

NOTIFY_PORT = 8025
SMTP_PORT = 8026
SENT_URL = f"http://127.0.0.1:{NOTIFY_PORT}/sent"


def launch(
    log_dir: Path, notify_port: int = NOTIFY_PORT, smtp_port: int = SMTP_PORT
) -> subprocess.Popen[bytes]:
    """The stand-ins as a process of their own (`make run`, the system tests), by default on
    the ports the notifications service's settings default to; output in
    ``log_dir/standins.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    ports = ["--notify-port", str(notify_port), "--smtp-port", str(smtp_port)]
    with (log_dir / "standins.log").open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "standins", *ports],
            cwd=Path(__file__).resolve().parents[1],  # deploy/local, where the package lives
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
