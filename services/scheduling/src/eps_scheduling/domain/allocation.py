"""The fast track: which EPs go to a critical incident, when, and what they must drop.

Rules, in order:
1. The school's named EP goes if they can start by ``needed_by``.
2. When a senior lead is required and the named EP is not senior, the best senior or principal
   EP (on the rota or not: the principal may lead) is added as lead.
3. The remaining places go to critical-incident rota EPs. Ranking: an EP free without moving
   anything first, then fewer displaced appointments, then the shortest distance from their base
   to the school, then the earliest start.
Each EP gets the option that displaces least (then the earliest). Only routine appointments that
have not started may be displaced; statutory visits and other incidents never move.
4. On a later request for the same incident (the coordinator asking for EPs still missing), the
   EPs already going are excluded, so nobody is booked twice; a senior or principal EP among
   them already leads, so no second lead is sought.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from eps_chassis.london import LONDON, london_date
from eps_contracts.scheduling import AppointmentKind, FundingStream

from eps_scheduling.domain.availability import blocked_span, find_slot
from eps_scheduling.domain.calendar import Interval, ceil_to_step
from eps_scheduling.domain.model import Appointment, AppointmentStatus, Ep, Policy, School


@dataclass(frozen=True, slots=True)
class FastTrackNeed:
    incident_id: uuid.UUID
    school: School
    eps_needed: int
    needed_by: datetime
    duration_minutes: int
    senior_lead_required: bool
    on_site: bool  # level 1 is a telephone consultation: no travel
    excluded_ep_ids: frozenset[str] = frozenset()  # already going (earlier attempts)

    @property
    def place(self) -> str | None:
        return self.school.school_urn if self.on_site else None


@dataclass(frozen=True, slots=True)
class Option:
    """One EP can respond in ``slot`` if ``displaced`` are moved."""

    ep: Ep
    slot: Interval
    displaced: tuple[Appointment, ...]
    distance_km: float
    is_named_ep: bool

    def rank(self) -> tuple[bool, int, float, datetime]:
        return (bool(self.displaced), len(self.displaced), self.distance_km, self.slot.start)


@dataclass(frozen=True, slots=True)
class Allocation:
    chosen: tuple[Option, ...]
    shortfall: int
    reason: str | None = None  # why EPs are short (for the coordinator), None when none are


def response_appointment(need: FastTrackNeed, option: Option) -> Appointment:
    """The incident response booked in the chosen EP's diary."""
    return Appointment.book(
        ep_id=option.ep.ep_id,
        kind=AppointmentKind.CRITICAL_INCIDENT_RESPONSE,
        starts_at=option.slot.start,
        ends_at=option.slot.end,
        funding_stream=FundingStream.CRITICAL_INCIDENT,
        place=need.place,
        school_urn=need.school.school_urn,
        case_ref=f"incident:{need.incident_id}",
    )


def unknown_school(school_urn: str, eps_needed: int) -> Allocation:
    """The answer for a school scheduling has no record of: nobody, and the coordinator told why.

    Without the school there is no named EP and no location to rank rota EPs by; an answer
    (rather than silence) lets the coordinator arrange EPs by hand at once.
    """
    return Allocation(
        (),
        eps_needed,
        f"school {school_urn} is not known to scheduling (no named EP or location):"
        " arrange EPs by hand",
    )


def shortfall_reason(
    need: FastTrackNeed, chosen: Sequence[Option], *, lead_going: bool = False
) -> str | None:
    """Why the allocation falls short of what the level needs, or None when it does not.

    ``lead_going``: a senior or principal EP allocated earlier to the incident already leads.
    """
    problems = []
    if len(chosen) < need.eps_needed:
        by = need.needed_by.astimezone(LONDON).strftime("%Y-%m-%d %H:%M")
        problems.append(f"only {len(chosen)} of {need.eps_needed} EPs can start by {by} (London)")
    if (
        need.senior_lead_required
        and not lead_going
        and not any(o.ep.role.is_senior for o in chosen)
    ):
        problems.append("no senior or principal EP can lead")
    return "; ".join(problems) or None


def displaceable(appointment: Appointment, now: datetime) -> bool:
    return (
        appointment.is_routine
        and appointment.status is AppointmentStatus.BOOKED
        and appointment.starts_at >= now
    )


def option_for(
    ep: Ep,
    appointments: Sequence[Appointment],
    need: FastTrackNeed,
    now: datetime,
    policy: Policy,
    *,
    is_named_ep: bool = False,
) -> Option | None:
    """The least disruptive (then earliest) slot starting by ``needed_by``, if any."""
    if not ep.active or not ep.role.is_qualified_ep:
        return None
    length = timedelta(minutes=need.duration_minutes)
    step = timedelta(minutes=policy.fast_track_step_minutes)
    start = ceil_to_step(now, policy.fast_track_step_minutes)
    if start > need.needed_by:
        return None
    # Each appointment blocks the span it covers, widened by the travel buffer when it is at
    # another place (the rule of ``clash``). Worked out once per EP, and only for the spans that
    # reach the window: the diary runs weeks beyond it, to the rescheduling horizon. In order of
    # start, and dropped once a start has passed them, so a full diary costs a walk through it.
    window_end = need.needed_by + length
    spans = sorted(
        (
            (lo, hi, a, displaceable(a, now))
            for a in appointments
            for lo, hi in [blocked_span(a, need.place, policy)]
            if a.occupies_diary and lo < window_end and start < hi
        ),
        key=lambda span: span[0],
    )
    hours_by_day: dict[date, Interval | None] = {}
    best: Option | None = None
    while start <= need.needed_by:
        end = start + length
        blocking = []
        for lo, hi, a, movable in spans:
            if lo >= end:
                break
            if start < hi:
                blocking.append((hi, a, movable))
        fixed = [hi for hi, _, movable in blocking if not movable]
        if fixed:
            # No start before the fixed appointment ends can be free, working hours or not.
            start = max(start + step, ceil_to_step(max(fixed), policy.fast_track_step_minutes))
            spans = [span for span in spans if start < span[1]]
            continue
        slot = Interval(start, end)
        day = london_date(start)
        if day not in hours_by_day:
            hours_by_day[day] = ep.pattern.hours_on(day)
        hours = hours_by_day[day]
        if hours is not None and hours.contains(slot):
            candidate = Option(
                ep,
                slot,
                tuple(a for _, a, _ in blocking),
                ep.base.km_to(need.school.location),
                is_named_ep,
            )
            if best is None or len(candidate.displaced) < len(best.displaced):
                best = candidate
            if not blocking:
                break
        start += step
    return best


def allocate(
    need: FastTrackNeed,
    eps: Sequence[Ep],
    diaries: Mapping[str, Sequence[Appointment]],
    now: datetime,
    policy: Policy,
) -> Allocation:
    """Choose up to ``eps_needed`` EPs for the incident (see the module rules).

    Only as many diaries are searched as the choice needs: see ``_best``.
    """
    named_id = need.school.named_ep_id
    excluded = need.excluded_ep_ids
    lead_going = any(ep.ep_id in excluded and ep.role.is_senior for ep in eps)
    order = {ep.ep_id: index for index, ep in enumerate(eps)}  # ties keep the EPs' order
    searched: dict[str, Option | None] = {}

    def option_of(ep: Ep) -> Option | None:
        if ep.ep_id not in searched:
            searched[ep.ep_id] = option_for(
                ep, diaries.get(ep.ep_id, ()), need, now, policy, is_named_ep=ep.ep_id == named_id
            )
        return searched[ep.ep_id]

    def best(candidates: list[Ep], wanted: int) -> list[Option]:
        return _best(candidates, wanted, option_of, need, order)

    eligible = [ep for ep in eps if ep.ep_id not in excluded]
    named_ep = next((ep for ep in eligible if ep.ep_id == named_id), None)
    named = option_of(named_ep) if named_ep is not None else None
    chosen: list[Option] = []
    if need.senior_lead_required and not lead_going and not (named and named.ep.role.is_senior):
        chosen.extend(best([ep for ep in eligible if ep.role.is_senior], 1))
    if named is not None and named not in chosen:
        chosen.append(named)
    taken = {o.ep.ep_id for o in chosen}
    rota = [ep for ep in eligible if ep.on_rota and ep.ep_id not in taken]
    chosen.extend(best(rota, need.eps_needed - len(chosen)))
    chosen = chosen[: need.eps_needed]
    return Allocation(
        tuple(chosen),
        need.eps_needed - len(chosen),
        shortfall_reason(need, chosen, lead_going=lead_going),
    )


def _best(
    candidates: list[Ep],
    wanted: int,
    option_of: Callable[[Ep], Option | None],
    need: FastTrackNeed,
    order: Mapping[str, int],
) -> list[Option]:
    """The ``wanted`` best options among ``candidates`` by ``Option.rank``, searching the fewest
    diaries: nearest first, stopping once ``wanted`` of them are free without displacing anyone
    and every EP left is farther away, so none of them could rank higher. On a rota of dozens
    with full diaries this is what keeps allocation to a few diaries' work."""
    if wanted <= 0:
        return []
    location = need.school.location
    found: list[Option] = []
    free: list[float] = []  # distances of the options that displace nobody, nearest first
    for ep in sorted(candidates, key=lambda e: (e.base.km_to(location), order[e.ep_id])):
        if len(free) >= wanted and ep.base.km_to(location) > free[wanted - 1]:
            break
        option = option_of(ep)
        if option is not None:
            found.append(option)
            if not option.displaced:
                free.append(option.distance_km)
    found.sort(key=lambda o: (o.rank(), order[o.ep.ep_id]))
    return found[:wanted]


def new_slot_for_displaced(
    ep: Ep,
    displaced: Appointment,
    diary: Sequence[Appointment],
    after: datetime,
    policy: Policy,
) -> Interval | None:
    """The first slot after the incident, within the LA's horizon, for a displaced appointment.

    ``diary`` must already hold the incident and exclude ``displaced`` itself.
    """
    window = Interval(after, after + timedelta(days=policy.reschedule_horizon_days))
    return find_slot(ep, diary, window, displaced.minutes, displaced.place, policy)


def plan_displacement(
    ep: Ep,
    displaced: Sequence[Appointment],
    diary: Sequence[Appointment],
    incident: Appointment,
    policy: Policy,
) -> list[tuple[Appointment, Interval | None]]:
    """Where each displaced appointment goes (None: no room, so it is cancelled), in order.

    The moves are written one at a time, before the incident itself, so while one is written
    the displaced appointments after it still hold their old times. Each new slot therefore
    avoids those too (as well as the rest of the diary, the incident and the moves before it);
    otherwise the database's guard against double booking would refuse the move, and with it
    the whole allocation. ``diary`` may include the displaced appointments and not the incident.
    """
    moving = {a.appointment_id for a in displaced}
    kept = [a for a in diary if a.appointment_id not in moving] + [incident]
    plan: list[tuple[Appointment, Interval | None]] = []
    for index, appointment in enumerate(displaced):
        still_there = list(displaced[index + 1 :])
        slot = new_slot_for_displaced(
            ep, appointment, [*kept, *still_there], incident.ends_at, policy
        )
        plan.append((appointment, slot))
        if slot is not None:
            kept.append(replace(appointment, starts_at=slot.start, ends_at=slot.end, events=[]))
    return plan
