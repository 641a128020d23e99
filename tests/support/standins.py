"""The far ends paging talks to, started in the test's process: the Notify stand-in behind
uvicorn on a free port (Notify's client calls it over HTTP from a worker thread) and the SMTP
stand-in (aiosmtpd) in its own thread."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from standins.notify import NotifyStandIn
from standins.smtp import SmtpStandIn

from tests.support.system import free_port


@dataclass
class StandIns:
    notify: NotifyStandIn
    smtp: SmtpStandIn
    notify_url: str
    smtp_port: int

    def settings(self) -> dict[str, Any]:
        """The notifications service's settings that point it here."""
        return {"notify_base_url": self.notify_url, "smtp_port": self.smtp_port}


@contextlib.asynccontextmanager
async def stand_ins() -> AsyncIterator[StandIns]:
    notify, smtp = NotifyStandIn(), SmtpStandIn()
    smtp_port, notify_port = free_port(), free_port()
    controller = smtp.start(port=smtp_port)
    config = uvicorn.Config(
        notify.app(smtp),
        host="127.0.0.1",
        port=notify_port,
        # no logging set-up of uvicorn's own: its config and level would take over its loggers
        # (and the process's) for the rest of the run; the run's logging is the chassis's
        log_config=None,
        log_level=None,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.02)
        yield StandIns(notify, smtp, f"http://127.0.0.1:{notify_port}", smtp_port)
    finally:
        server.should_exit = True
        async with asyncio.timeout(10):
            await serving
        controller.stop()
