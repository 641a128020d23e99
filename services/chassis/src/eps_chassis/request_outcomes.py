"""What became of an upstream system's request, found over HTTP by the id the system gave it.

Each service that takes requests from upstream systems answers at ``GET /<service>/<requests>/
{id}`` with a model of this shape: ``applied`` (the service's record of the request, and where
it stands), or ``waiting`` (valid, but held until what it names is known: ``waiting`` says
what, see ``held_events``). Neither is a 404: not consumed yet, or dead-lettered (its reason is
on ``eps.dlq.<service>.v1``). The same outcome travels on the service's own topic, in events
whose ``causationid`` is the request event's ``id`` (and whose ``correlationid`` is its own).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from pydantic import BaseModel, Field

from eps_chassis import held_events
from eps_chassis.access import OneRecord
from eps_chassis.consumer import EventConsumer
from eps_chassis.held_events_http import HeldEventView
from eps_chassis.unit_of_work import PostgresUnitOfWork

U = TypeVar("U", bound=PostgresUnitOfWork)
Shown = TypeVar("Shown", bound="RequestOutcome")


class RequestOutcome(BaseModel):
    outcome: Literal["applied", "waiting"] = Field(
        description="applied: the service recorded the request (see its record); waiting: it"
        " is valid but held until what it names is known (see waiting)."
    )
    waiting: list[HeldEventView] = Field(
        description="The request's events held, oldest first, with what each waits for."
    )


async def waiting_events(
    uow: PostgresUnitOfWork, consumer: EventConsumer, request_id: object
) -> list[HeldEventView]:
    """The events of one request (their subject, the Kafka key) that ``consumer`` holds."""
    rows = await held_events.of_subject(uow.conn, uow.tenant, consumer.name, str(request_id))
    return [HeldEventView(**dict(r)) for r in rows]


def request_record(
    kind: str,
    view: Callable[[U, uuid.UUID], Awaitable[Shown | None]],
    *,
    service: str,
    field: str,
    record: Callable[[Shown], str | None],
    school: Callable[[Shown], str | None] | None = None,
) -> OneRecord[U, Shown]:
    """A request read by its sender's id as one record (:class:`OneRecord`): audited as the
    record it became (``record``, e.g. ``referral/<id>``) once applied, as ``<kind>/<id>``
    before; a 404 that says where else to look."""
    return OneRecord(
        kind,
        view,
        school=school,
        audited_as=lambda request_id, outcome: record(outcome) or f"{kind}/{request_id}",
        missing=f"nothing with this {field} has been applied or is waiting: not consumed yet,"
        f" or dead-lettered (see eps.dlq.{service}.v1)",
        field=field,
    )
