"""What becomes of a batch the consumer could not simply apply: an event refused (rolled back
and dead-lettered on the next pass), an event held (rolled back and held on the next pass), or
the whole batch tried again after a backoff. Raised inside the batch's transaction."""

from __future__ import annotations

import uuid

from eps_chassis.errors import NotYetKnown
from eps_chassis.held_events import Hold


class RetryBatch(Exception):
    """A handler failed for an unexpected reason: roll back, back off, try the batch again."""


class Refused(Exception):
    """An event must be dead-lettered: roll back and run the batch again without it."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason


class Held(Exception):
    """An event cannot be applied yet: roll back and run the batch again with it held."""

    def __init__(self, index: int, why: Hold) -> None:
        super().__init__(why.reason)
        self.index = index
        self.why = why


def hold_of(exc: NotYetKnown) -> Hold:
    reason = f"{exc.field}: {exc}" if exc.field else str(exc)
    return Hold(f"waiting: {reason}", exc.awaiting, exc.field)


def behind(head_id: uuid.UUID, head: Hold) -> Hold:
    """Why a later event of a held subject waits: released with the event it waits behind."""
    reason = f"waits behind held event {head_id} ({head.reason})"
    return Hold(reason, head.awaiting, head.field, behind=head_id)
