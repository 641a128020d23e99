"""A school's named EP changes: the appointments that go with the role follow the new EP.

What follows the named EP: the domain brief gives the named EP one standing duty towards a
school, meeting it twice a year to agree a plan of work, so only the school's **planning
meetings** move (school-level: no referral, no child). Casework for a child's referral stays with
the EP who holds the case, other school bookings (training, consultations) stay with the EP they
were booked with, and statutory assessment visits and critical-incident responses never move.

Which ones: booked, for the school, starting on or after the later of the first London day the
new EP is named (``effective_from``, from local midnight) and now (an appointment that has
started stays where it is), and not already in the new EP's diary.

Where to, one at a time in start order (each move then counts in the new diary for the next):
the same time if the new EP can take it (``availability.refusal``: working hours, no overlap,
travel buffer, weekly capacity); otherwise the first slot the new EP can take from the original
start to the end of the LA's reschedule horizon (``availability.find_slot``); otherwise the
appointment is cancelled. Each change carries a reason naming the change of named EP.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from eps_contracts.scheduling import AppointmentKind, CancellationParty

from eps_scheduling.domain.availability import find_slot, refusal
from eps_scheduling.domain.calendar import Interval, local_instant
from eps_scheduling.domain.model import Appointment, AppointmentStatus, Ep, Policy

FOLLOWS_NAMED_EP = frozenset({AppointmentKind.PLANNING_MEETING})
"""Appointment kinds that belong to the school's named-EP relationship: routine kinds only
(a unit test holds it), so statutory visits and critical-incident responses never move."""


def handover_start(effective_from: date, now: datetime) -> datetime:
    """The earliest start that moves: local midnight of ``effective_from``, never the past."""
    return max(local_instant(effective_from, 0), now)


def follows_named_ep(
    appointment: Appointment, school_urn: str, new_ep_id: str, start: datetime
) -> bool:
    """Whether ``appointment`` moves to ``new_ep_id`` when the school's named EP changes."""
    return (
        appointment.status is AppointmentStatus.BOOKED
        and appointment.kind in FOLLOWS_NAMED_EP
        and appointment.school_urn == school_urn
        and appointment.referral_id is None
        and appointment.child_id is None
        and appointment.ep_id != new_ep_id
        and appointment.starts_at >= start
    )


@dataclass(frozen=True, slots=True)
class Move:
    """Where one appointment goes; ``slot`` None: the new EP has no room, so it is cancelled."""

    appointment: Appointment
    slot: Interval | None

    @property
    def same_time(self) -> bool:
        return self.slot == self.appointment.interval


def plan_handover(
    new_ep: Ep,
    candidates: Iterable[Appointment],
    new_diary: Sequence[Appointment],
    school_urn: str,
    start: datetime,
    policy: Policy,
) -> list[Move]:
    """Where each of the school's appointments that follow the named EP goes (see the module).

    ``candidates`` may hold anything of the school's; those that do not follow the named EP are
    left out of the plan. ``new_diary`` is the new EP's diary around the moves.
    """
    moving = sorted(
        (a for a in candidates if follows_named_ep(a, school_urn, new_ep.ep_id, start)),
        key=lambda a: (a.starts_at, str(a.appointment_id)),
    )
    moving_ids = {a.appointment_id for a in moving}
    diary = [a for a in new_diary if a.appointment_id not in moving_ids]
    horizon = timedelta(days=policy.reschedule_horizon_days)
    plan: list[Move] = []
    for appointment in moving:
        slot: Interval | None = appointment.interval
        if refusal(new_ep, diary, appointment.interval, appointment.place, policy) is not None:
            window = Interval(appointment.starts_at, appointment.starts_at + horizon)
            slot = find_slot(new_ep, diary, window, appointment.minutes, appointment.place, policy)
        plan.append(Move(appointment, slot))
        if slot is not None:
            diary.append(
                replace(
                    appointment,
                    ep_id=new_ep.ep_id,
                    starts_at=slot.start,
                    ends_at=slot.end,
                    events=[],
                )
            )
    return plan


def change_reason(school_urn: str, previous_ep_id: str, new_ep_id: str, effective: date) -> str:
    return (
        f"named EP for school {school_urn} changed from {previous_ep_id} to {new_ep_id}"
        f" from {effective.isoformat()}"
    )


def hand_over(
    new_ep: Ep,
    previous_ep_id: str,
    candidates: Iterable[Appointment],
    new_diary: Sequence[Appointment],
    school_urn: str,
    effective_from: date,
    now: datetime,
    policy: Policy,
) -> list[Appointment]:
    """Reschedule or cancel the appointments that follow the named EP; returns those changed,
    each with its AppointmentRescheduled or AppointmentCancelled event."""
    start = handover_start(effective_from, now)
    reason = change_reason(school_urn, previous_ep_id, new_ep.ep_id, effective_from)
    changed: list[Appointment] = []
    for move in plan_handover(new_ep, candidates, new_diary, school_urn, start, policy):
        appointment = move.appointment
        if move.slot is None:
            appointment.cancel(
                f"{reason}; {new_ep.ep_id} has no free slot within"
                f" {policy.reschedule_horizon_days} days"[:500],
                cancelled_at=now,
                cancelled_by=CancellationParty.SERVICE,
            )
        elif move.same_time:
            appointment.reschedule(new_ep.ep_id, move.slot.start, move.slot.end, reason[:500])
        else:
            appointment.reschedule(
                new_ep.ep_id,
                move.slot.start,
                move.slot.end,
                f"{reason}; {new_ep.ep_id} is not free at the original time"[:500],
            )
        changed.append(appointment)
    return changed
