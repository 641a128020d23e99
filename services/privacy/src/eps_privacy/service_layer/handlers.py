"""One function per command, ``(command, uow)``, and the work of the privacy service's jobs and
events: load, decide with the rules, save, publish."""

from __future__ import annotations

import uuid
from datetime import date

from eps_chassis.errors import Conflict, DomainError, NotFound
from eps_chassis.london import london_date
from eps_contracts.privacy import (
    ChildDetailsRectified,
    ChildErasureConfirmed,
    ChildErasureOrdered,
    ErasureRule,
    RectifiedDetails,
    SubjectAccessRequestAnswered,
    SubjectAccessRequestDueSoon,
    SubjectAccessRequestExtended,
    SubjectAccessRequestOpened,
)
from eps_contracts.sealed import Unsealed

from eps_privacy.domain import commands
from eps_privacy.domain.rules import (
    MAX_EXTENSION_MONTHS,
    retention_ends,
    subject_access_due,
)
from eps_privacy.service_layer.unit_of_work import PrivacyUnitOfWork

CASEWORK = "casework"


def today(uow: PrivacyUnitOfWork) -> date:
    return london_date(uow.clock())


async def open_request(cmd: commands.OpenSubjectAccessRequest, uow: PrivacyUnitOfWork) -> date:
    """Open it; the day it is due."""
    if cmd.received_on > today(uow):
        raise DomainError("a request cannot be received in the future", field="received_on")
    due = subject_access_due(cmd.received_on)
    await uow.records.open_request({**_fields(cmd), "due_on": due, "opened_by": uow.actor})
    uow.publish(
        SubjectAccessRequestOpened(
            request_id=cmd.request_id, child_id=cmd.child_id, due_on=due,
            received_on=cmd.received_on, opened_by=uow.actor,
        )
    )  # fmt: skip
    return due


async def extend_request(cmd: commands.ExtendSubjectAccessRequest, uow: PrivacyUnitOfWork) -> date:
    """A complex request: due up to two further months later (in all), with the reason."""
    found = await uow.records.request(cmd.request_id, lock=True)
    if found is None:
        raise NotFound("no such subject access request", field="request_id")
    if found["status"] != "open":
        raise Conflict("the request has been answered", field="request_id")
    months = found["extension_months"] + cmd.further_months
    if months > MAX_EXTENSION_MONTHS:
        raise DomainError(
            f"a request may be extended by at most {MAX_EXTENSION_MONTHS} further months in"
            f" all (already {found['extension_months']})",
            field="further_months",
        )
    due = subject_access_due(found["received_on"], months)
    await uow.records.extend(cmd.request_id, months, cmd.reason, due)
    uow.publish(
        SubjectAccessRequestExtended(
            request_id=cmd.request_id, child_id=found["child_id"], due_on=due,
            reason=cmd.reason, extended_by=uow.actor,
        )
    )  # fmt: skip
    return due


async def answer_request(request_id: uuid.UUID, records: int, uow: PrivacyUnitOfWork) -> None:
    """The bundle was assembled and given: the request is answered (once)."""
    found = await uow.records.request(request_id, lock=True)
    if found is None or found["status"] != "open":
        return
    await uow.records.answered(request_id, today(uow))
    uow.publish(
        SubjectAccessRequestAnswered(
            request_id=request_id, child_id=found["child_id"], due_on=found["due_on"],
            answered_on=today(uow), records=records,
        )
    )  # fmt: skip


async def remind_due_requests(uow: PrivacyUnitOfWork) -> int:
    """A reminder for each open request due within the LA's reminder period (once per due
    date: an extension is reminded again)."""
    schedule = await uow.records.schedule()
    now = today(uow)
    due = await uow.records.due_soon(now, schedule.subject_access_reminder_days)
    for row in due:
        await uow.records.reminded(row["request_id"], row["due_on"])
        uow.publish(
            SubjectAccessRequestDueSoon(
                request_id=row["request_id"], child_id=row["child_id"], due_on=row["due_on"],
                days_left=max(0, (row["due_on"] - now).days),
            )
        )  # fmt: skip
    return len(due)


async def place_hold(cmd: commands.PlaceLegalHold, uow: PrivacyUnitOfWork) -> None:
    await uow.records.place_hold(
        {"hold_id": cmd.hold_id, "child_id": cmd.child_id, "reason": cmd.reason,
         "placed_by": uow.actor, "held_from": cmd.held_from}
    )  # fmt: skip


async def lift_hold(cmd: commands.LiftLegalHold, uow: PrivacyUnitOfWork) -> None:
    found = await uow.records.hold(cmd.hold_id)
    if found is None:
        raise NotFound("no such legal hold", field="hold_id")
    if found["lifted_at"] is not None:
        raise Conflict("the hold was lifted already", field="hold_id")
    await uow.records.lift_hold(cmd.hold_id, uow.actor, cmd.reason, uow.clock())


async def order_due_erasures(uow: PrivacyUnitOfWork, confirmers: list[str]) -> list[uuid.UUID]:
    """Order the erasure of every child whose casework retention has ended today or before
    (Europe/London), unless a legal hold suspends it; each holder erases and confirms."""
    schedule = await uow.records.schedule()
    ordered = []
    for row in await uow.records.due_for_erasure(today(uow), schedule.casework_years_after_birth):
        await _order_erasure(
            uow, row["child_id"], ErasureRule.RETENTION_ENDED, row["due"], confirmers,
            reason=f"retention ended: date of birth + {schedule.casework_years_after_birth} years",
        )  # fmt: skip
        ordered.append(row["child_id"])
    return ordered


async def erase_on_request(
    cmd: commands.EraseChild, uow: PrivacyUnitOfWork, confirmers: list[str]
) -> uuid.UUID:
    """The right to erasure, exercised (the officer decided it applies): ordered now, unless a
    legal hold stands or the child's records were erased already."""
    if await uow.records.held(cmd.child_id):
        raise Conflict(
            "a legal hold suspends the erasure of this child's records", field="child_id"
        )
    if await uow.records.erasure_of(cmd.child_id) is not None:
        raise Conflict("this child's records were erased already", field="child_id")
    return await _order_erasure(
        uow, cmd.child_id, ErasureRule.ERASURE_REQUEST, today(uow), confirmers, reason=cmd.reason
    )


async def _order_erasure(
    uow: PrivacyUnitOfWork,
    child_id: uuid.UUID,
    rule: ErasureRule,
    due_on: date,
    confirmers: list[str],
    *,
    reason: str,
) -> uuid.UUID:
    erasure_id = uuid.uuid4()
    await uow.records.order_erasure(
        {"erasure_id": erasure_id, "child_id": child_id, "rule": rule, "record_type": CASEWORK,
         "due_on": due_on, "ordered_at": uow.clock(), "awaiting": sorted(confirmers),
         "ordered_by": uow.actor, "reason": reason}
    )  # fmt: skip
    uow.publish(
        ChildErasureOrdered(
            child_id=child_id, erasure_id=erasure_id, rule=rule, record_type=CASEWORK,
            ordered_at=uow.clock(),
        )
    )  # fmt: skip
    return erasure_id


async def record_confirmation(confirmed: ChildErasureConfirmed, uow: PrivacyUnitOfWork) -> bool:
    """One holder confirmed; True when this completes the erasure (privacy then forgets the
    date of birth, and the child's key is shredded)."""
    erasure = await uow.records.confirm_erasure(
        confirmed.erasure_id, confirmed.service, confirmed.rows, confirmed.at
    )
    if erasure is None or erasure["completed_at"] is not None:
        return False
    if not set(erasure["awaiting"]) <= set(erasure["confirmed"]):
        return False
    await uow.records.complete_erasure(erasure["erasure_id"], erasure["child_id"], uow.clock())
    return True


async def rectify(cmd: commands.RectifyChild, uow: PrivacyUnitOfWork) -> uuid.UUID:
    """Correct the child's details everywhere they are held (each holder applies the event)."""
    if cmd.given_name is None and cmd.family_name is None and cmd.date_of_birth is None:
        raise DomainError("name at least one detail to correct", field="given_name")
    erased = await uow.records.erasure_of(cmd.child_id)
    if erased is not None and erased["completed_at"] is not None:
        raise Conflict(
            "this child's records were erased: nothing is left to correct", field="child_id"
        )
    if cmd.date_of_birth is not None:
        await uow.records.learn_birth_date(cmd.child_id, cmd.date_of_birth, "rectification")
    rectification_id = uuid.uuid4()
    details = RectifiedDetails(
        given_name=cmd.given_name, family_name=cmd.family_name,
        date_of_birth=cmd.date_of_birth, reason=cmd.reason,
    )  # fmt: skip
    uow.publish(
        ChildDetailsRectified(
            child_id=cmd.child_id, rectification_id=rectification_id,
            details=Unsealed(details, cmd.child_id), at=uow.clock(),
        )
    )  # fmt: skip
    return rectification_id


def _fields(cmd: commands.OpenSubjectAccessRequest) -> dict[str, object]:
    return {
        "request_id": cmd.request_id,
        "child_id": cmd.child_id,
        "requester": cmd.requester,
        "received_on": cmd.received_on,
    }


__all__ = ["retention_ends"]
