"""Fake units of work and repositories: handlers unit-tested with no broker and no database.

:class:`FakeUnitOfWork` keeps what a real one would have written: the events it would publish
(``published``), what it made known (``released``) and whether it committed. Each service's fake
(``fakes.<service>``) adds in-memory repositories behind the same ports as its PostgreSQL ones.
"""

from __future__ import annotations

from typing import TypeVar

from eps_chassis.clock import Clock
from eps_chassis.context import MessageContext
from eps_chassis.unit_of_work import UnitOfWork
from eps_contracts import Event

from tests.support.clock import FakeClock

TENANT = "leicester-city"

E = TypeVar("E", bound=Event)


class FakeUnitOfWork(UnitOfWork):
    def __init__(self, *, tenant: str = TENANT, clock: Clock | None = None) -> None:
        super().__init__(MessageContext(tenant, "user:test"), clock or FakeClock())
        self.published: list[Event] = []
        self.commits = 0

    def commit(self) -> None:
        """What the real one does on leaving its transaction: publish what happened."""
        self.published.extend(self.collect_new_events())
        self.commits += 1

    def events_of(self, kind: type[E]) -> list[E]:
        self.commit()
        return [e for e in self.published if isinstance(e, kind)]
