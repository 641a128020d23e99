"""What can go wrong, in the domain's words. Free of drivers: domain modules import it.

A :class:`DomainError` says which rule refused what, and the input at fault (``field``); it knows
nothing of HTTP or Kafka. The HTTP layer answers it with a status code (``http.status_for``), a
consumer dead-letters the event that caused it (with the field and the rule as the reason).
"""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the domain refuses a command. ``field`` names the input at fault, if any;
    ``audited`` is set once the refusal is in the audit log (so it is written there once)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.audited = False

    def describe(self) -> str:
        """The refusal in one line, the field first: the reason a dead letter carries."""
        return f"{self.field}: {self}" if self.field else str(self)


class NotFound(DomainError):
    """The record the command names does not exist (for this local authority)."""


class OwnedElsewhere(NotFound):
    """The record an id names belongs to another local authority (ids are unique across them:
    UUIDs, and a school's URN, since a school belongs to one LA).

    To this authority the record does not exist: a caller is answered as for a missing one, in
    the same words (``message``), and learns nothing of the other; only a school is said to be
    another's (which LA a school belongs to is public). An event naming it is dead-lettered
    saying why (:meth:`describe`), for the people who run the platform.
    """

    def __init__(self, kind: str, key: object, *, field: str, message: str | None = None) -> None:
        if message is None:
            message = (
                "the school belongs to another local authority"
                if kind == "school"
                else f"no such {kind}"
            )
        super().__init__(message, field=field)
        self.kind = kind
        self.key = key

    def describe(self) -> str:
        return f"{self.field}: {self.kind} {self.key} belongs to another local authority"


class Conflict(DomainError):
    """The command does not fit the current state (e.g. an invalid lifecycle transition)."""


class Gone(NotFound):
    """The record existed and was destroyed for good (a child's shredded data key)."""


class Forbidden(DomainError):
    """The caller may not do this to this record (e.g. another school's child)."""


class EventRejected(Exception):
    """A consumer refuses an event for a business reason: it is dead-lettered, not retried."""

    @classmethod
    def because(cls, error: DomainError) -> EventRejected:
        """The domain's refusal, naming the field at fault, as the dead letter's reason."""
        return cls(error.describe())


class NotYetKnown(Exception):
    """A handler's event names something this service does not know yet (a school not yet
    registered, an advice request not yet received): the event is held where a person can see
    it (``held_events``) and applied when the data arrives, never dead-lettered for it.

    ``awaiting`` names what it waits for (see :func:`reference`); whatever records that data
    calls ``uow.release(awaiting)``. ``field`` names the input that refers to it.
    """

    def __init__(self, reason: str, *, awaiting: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.awaiting = awaiting
        self.field = field


def reference(kind: str, tenant: str, key: object) -> str:
    """What a held event waits for, e.g. ``school:leicester-city:123456``: the raiser and the
    releaser of one service build it the same way."""
    return f"{kind}:{tenant}:{key}"


class TransientError(Exception):
    """Raised by a handler for a failure that should heal by itself (retry with backoff)."""
