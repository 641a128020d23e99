"""A stand-in SMTP relay (aiosmtpd) that keeps what it receives, and can be told to answer the
next messages with a temporary (451) or permanent (550) refusal."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class SmtpStandIn:
    received: list[dict[str, Any]] = field(default_factory=list)
    _refusals: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def refuse_next(self, code: int = 451, times: int = 1) -> None:
        reply = "451 4.3.0 Try again later" if code < 500 else "550 5.1.1 No such mailbox"
        with self._lock:
            self._refusals.extend([reply] * times)

    def to(self, address: str) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.received if address in m["to"]]

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            if self._refusals:
                return self._refusals.pop(0)
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        email = message_from_bytes(content, policy=policy.default)
        body = email.get_body(("plain",))
        with self._lock:
            self.received.append(
                {
                    "type": "smtp",
                    "from": envelope.mail_from,
                    "to": list(envelope.rcpt_tos),
                    "subject": str(email["subject"]),
                    "body": body.get_content().strip() if body is not None else "",
                    "created_at": datetime.now(UTC).isoformat(),
                }
            )
        return "250 Message accepted for delivery"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Controller:
        """Serve on ``port`` (0: a free one; ``controller.server.servers[0]`` says which) in a
        thread of its own, as aiosmtpd's controller does."""
        controller = Controller(self, hostname=host, port=port)
        controller.start()
        return controller
