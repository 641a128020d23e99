"""One academic year of an LA's EP service, day by day on a virtual clock, under one booking rule.

Nothing here decides a slot, a deadline or a price itself: the services' domain code does.

- **Scheduling** (``eps_scheduling.domain``): each request is booked by the booking policy the
  service uses (``booking_policy.slot_for``; ``replan`` for statutory work at risk, moving
  routine work with ``allocation.plan_displacement``), waiting requests are answered in
  ``booking_policy.answer_order``, and critical incidents are allocated by the fast track
  (``allocation.allocate``), displacing routine work as the service does.
- **Statutory** (``eps_statutory.domain``): each request for advice is the ``Advice`` aggregate
  (received, allocated to the school's named EP, its visit asked for in ``booking_window``), its
  last day the statutory clock's, with reg 8(2) exceptions recorded through it.
- **Billing** (``eps_billing.domain``): traded time delivered is priced week by week by
  ``pricing.price_deliveries`` against the schools' SLAs and the LA's tariff (Leicester's).

What the simulation adds is only the world around them: demand drawn from seeded random rates,
EPs' working weeks with absence and school holidays (a day blocked in the diary, never moved),
and appointments taking place on their day, which sends the next piece of work.

Work, each a diary booking: a referral is a first contact at the school, an assessment visit and
a report written at base (routine, the school's core time or its traded time); a request for
advice is a statutory visit and a day of writing, the advice submitted when that day is done; a
critical incident is two EPs on site within 24 hours.
"""

from __future__ import annotations

import bisect
import random
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from eps_billing.domain.pricing import Agreement, price_deliveries
from eps_billing.domain.pricing import Delivery as BillingDelivery
from eps_billing.domain.tariff import Tariff
from eps_chassis.london import end_of_day, london_date
from eps_contracts.scheduling import AppointmentKind, FundingStream
from eps_contracts.statutory import ExceptionKind
from eps_scheduling.domain.allocation import (
    FastTrackNeed,
    allocate,
    plan_displacement,
    response_appointment,
)
from eps_scheduling.domain.booking_policy import answer_order, replan, slot_for
from eps_scheduling.domain.calendar import Interval, local_instant
from eps_scheduling.domain.model import (
    Appointment,
    AppointmentStatus,
    BookingRule,
    Ep,
    EpRole,
    GeoPoint,
    Policy,
    School,
    WorkingHours,
    WorkingPattern,
)
from eps_statutory.domain.clock import ClockException
from eps_statutory.domain.commands import RegisterAdviceRequest
from eps_statutory.domain.model import Advice
from eps_statutory.domain.policy import LaPolicy

from tools.capacity.scenario import Scenario

TENANT = "leicester-city"
CITY = GeoPoint(52.6369, -1.1398)
DIARY_MARGIN = timedelta(days=8)  # what the service reads either side of a window
UNAVAILABLE = "unavailable:"  # case_ref of a day blocked by absence or a school holiday


class Step(StrEnum):
    FIRST_CONTACT = "first contact"
    CASEWORK_VISIT = "casework visit"
    CASEWORK_REPORT = "casework report"
    STATUTORY_VISIT = "statutory visit"
    ADVICE_WRITING = "advice writing"


STATUTORY_STEPS = (Step.STATUTORY_VISIT, Step.ADVICE_WRITING)


@dataclass(eq=False)
class Case:
    """One piece of demand (a referral or a request for advice) and how far it has gone."""

    case_id: int
    school: School
    arrived: datetime
    funding: FundingStream
    advice: Advice | None = None
    steps_done: list[Step] = field(default_factory=list)
    first_contact_on: date | None = None
    submitted_on: date | None = None
    closed: bool = False

    @property
    def is_statutory(self) -> bool:
        return self.advice is not None


@dataclass(eq=False)
class Request:
    """A request for one step's booking, waiting until a slot is found."""

    case: Case
    step: Step
    minutes: int
    place: str | None
    kind: AppointmentKind
    arrived: datetime
    earliest: datetime
    last_start: datetime  # the end of the window, less the length
    deadline: datetime | None  # statutory work: the end of its window

    @property
    def funding(self) -> FundingStream:
        return FundingStream.STATUTORY if self.step in STATUTORY_STEPS else self.case.funding


class Diary:
    """One EP's appointments in order of start, read by windows as the service reads them."""

    def __init__(self) -> None:
        self._starts: list[datetime] = []
        self._items: list[Appointment] = []

    def add(self, appointment: Appointment) -> None:
        index = bisect.bisect_right(self._starts, appointment.starts_at)
        self._starts.insert(index, appointment.starts_at)
        self._items.insert(index, appointment)

    def remove(self, appointment: Appointment) -> None:
        index = bisect.bisect_left(self._starts, appointment.starts_at)
        while self._items[index] is not appointment:
            index += 1
        del self._starts[index], self._items[index]

    def between(self, start: datetime, end: datetime) -> list[Appointment]:
        """Appointments that overlap [start, end) (none lasts more than a day)."""
        lo = bisect.bisect_left(self._starts, start - timedelta(days=1))
        hi = bisect.bisect_left(self._starts, end)
        return [a for a in self._items[lo:hi] if a.ends_at > start]

    def __iter__(self) -> Iterator[Appointment]:
        return iter(self._items)


@dataclass
class Week:
    """What one week looked like (Monday's date)."""

    monday: date
    waiting_referrals: int = 0
    waiting_statutory: int = 0
    open_advice: int = 0
    booked_minutes: int = 0
    capacity_minutes: int = 0
    traded_pence: int = 0


@dataclass
class Result:
    scenario: Scenario
    rule: BookingRule
    seed: int
    cases: list[Case]
    incidents: list[tuple[datetime, datetime | None, int]]  # reported, first EP starts, short
    weeks: list[Week]
    sla_pence: int
    eps: list[Ep]
    diaries: dict[str, Diary]
    waiting: list[Request]
    booked: dict[uuid.UUID, Case]  # appointments booked and not yet held, by the case they serve

    # --- the figures --------------------------------------------------------------------------

    def advice(self) -> list[Case]:
        return [c for c in self.cases if c.is_statutory]

    def referrals(self) -> list[Case]:
        return [c for c in self.cases if not c.is_statutory]

    def advice_due(self) -> list[Case]:
        """Advice whose last day fell within the simulated year (the rest cannot be judged)."""
        last = self.scenario.last_day
        return [c for c in self.advice() if c.advice and (c.advice.due_on or last) <= last]

    def on_time_share(self, *, excluding_exceptions: bool = False) -> float:
        """Advice submitted by its last day: all of it (against the last day after exceptions),
        or, as the DfE also reports, only advice whose clock met no exception."""
        due = self.advice_due()
        if excluding_exceptions:
            due = [c for c in due if c.advice and not c.advice.exceptions]
        on_time = [c for c in due if on_time_advice(c)]
        return len(on_time) / len(due) if due else 1.0

    def days_to_first_contact(self) -> list[int]:
        return [
            (c.first_contact_on - london_date(c.arrived)).days
            for c in self.referrals()
            if c.first_contact_on is not None
        ]

    def incident_hours(self) -> list[float]:
        return [(start - at).total_seconds() / 3600 for at, start, _ in self.incidents if start]

    def utilisation(self) -> float:
        booked = sum(w.booked_minutes for w in self.weeks)
        capacity = sum(w.capacity_minutes for w in self.weeks)
        return booked / capacity if capacity else 0.0

    def traded_pence(self) -> int:
        return self.sla_pence + sum(w.traded_pence for w in self.weeks)


def on_time_advice(case: Case) -> bool:
    assert case.advice is not None
    due = case.advice.due_on
    return due is None or (case.submitted_on is not None and case.submitted_on <= due)


def is_unavailable(appointment: Appointment) -> bool:
    return (appointment.case_ref or "").startswith(UNAVAILABLE)


class Simulation:
    """The year under ``rule``; ``run`` returns its ``Result``. The same seed draws the same
    LA and the same demand whatever the rule (each is drawn from a generator of its own)."""

    def __init__(self, scenario: Scenario, rule: BookingRule, seed: int) -> None:
        self.scenario = scenario
        self.rule = rule
        self.seed = seed
        self.policy = Policy(
            booking_rule=rule, statutory_share_percent=scenario.statutory_share_percent
        )
        self.la_policy = LaPolicy(assessment_minutes=scenario.statutory_visit_minutes)
        self.tariff = Tariff.from_rules(
            TENANT, scenario.first_day, scenario.last_day, scenario.tariff_rules()
        )
        self.eps, self.schools = self._staff(random.Random(f"{seed}:staff"))
        self.by_id = {ep.ep_id: ep for ep in self.eps}
        self.diaries = {ep.ep_id: Diary() for ep in self.eps}
        self.step_of: dict[uuid.UUID, tuple[Request, Case]] = {}
        self.cases: list[Case] = []
        self.waiting: list[Request] = []
        self.incidents: list[tuple[datetime, datetime | None, int]] = []
        self.weeks: dict[date, Week] = {}
        self.deliveries: list[BillingDelivery] = []
        self.agreements = self._agreements(random.Random(f"{seed}:slas"))
        self.drawn: dict[uuid.UUID, int] = {}
        self._block_unavailable(random.Random(f"{seed}:absence"))
        self.arrivals = self._demand(random.Random(f"{seed}:demand"))

    # --- the LA ---------------------------------------------------------------------------------

    def _staff(self, rng: random.Random) -> tuple[list[Ep], list[School]]:
        s = self.scenario
        hours = WorkingHours(9 * 60, 16 * 60 + 30)
        eps = []
        for n in range(s.eps):
            role = (
                EpRole.PRINCIPAL_EP
                if n == 0
                else EpRole.SENIOR_EP
                if n < 3
                else EpRole.LAC_SPECIALIST_EP
                if n == 3
                else EpRole.EP
            )
            part_time = n >= 3 and rng.random() < s.part_time_share
            days = (1, 2, 3) if part_time else (1, 2, 3, 4, 5)
            pattern = WorkingPattern({d: hours for d in days})
            eps.append(
                Ep(
                    ep_id=f"ep-{n + 1:02d}",
                    role=role,
                    pattern=pattern,
                    weekly_capacity_minutes=len(days) * (hours.end_minute - hours.start_minute),
                    base=near(CITY, rng, 0.04),
                    on_rota=role is not EpRole.PRINCIPAL_EP,
                )
            )
        # schools shared out by days worked, the principal keeping a few
        weights = [
            len(ep.pattern.days) * (0.3 if ep.role is EpRole.PRINCIPAL_EP else 1) for ep in eps
        ]
        schools = [
            School(f"{100000 + n}", near(CITY, rng, 0.06), rng.choices(eps, weights)[0].ep_id)
            for n in range(s.schools)
        ]
        return eps, schools

    def _agreements(self, rng: random.Random) -> dict[str, Agreement]:
        s = self.scenario
        found = {}
        for school in self.schools:
            if rng.random() < s.sla_share:
                days = rng.randint(*s.sla_days)
                found[school.school_urn] = Agreement(
                    uuid.UUID(int=rng.getrandbits(128)),
                    school.school_urn,
                    s.first_day,
                    s.last_day,
                    days * self.tariff.sla_day_minutes,
                )
        return found

    def _block_unavailable(self, rng: random.Random) -> None:
        """School holidays (no visits, so no diary time) and each EP's days off, blocked."""
        s = self.scenario
        day = s.first_day
        while day <= s.last_day:
            for ep in self.eps:
                hours = ep.pattern.hours_on(day)
                if hours is None:
                    continue
                reason = (
                    "school holiday"
                    if not s.in_term(day)
                    else "absence"
                    if rng.random() < s.absence_rate
                    else None
                )
                if reason:
                    block = Appointment.book(
                        ep_id=ep.ep_id,
                        kind=AppointmentKind.CRITICAL_INCIDENT_RESPONSE,  # never moved
                        starts_at=hours.start,
                        ends_at=hours.end,
                        funding_stream=FundingStream.CORE,
                        place=None,
                        case_ref=UNAVAILABLE + reason,
                    )
                    block.events.clear()
                    self.diaries[ep.ep_id].add(block)
            day += timedelta(days=1)

    def _demand(self, rng: random.Random) -> list[tuple[datetime, str]]:
        """Every arrival of the year in order: referrals and requests for advice on term days,
        critical incidents on school days too; Poisson by day, at a time in the working day."""
        s = self.scenario
        term_days = [
            d for d in days(s.first_day, s.last_arrival) if s.in_term(d) and d.isoweekday() < 6
        ]
        per_day = {
            "referral": s.referrals / len(term_days),
            "advice": s.advice_requests / len(term_days),
            "incident": s.incidents / len(term_days),
        }
        arrivals = []
        for day in term_days:
            for what, rate in per_day.items():
                for _ in range(poisson(rng, rate)):
                    minute = rng.randint(8 * 60, 17 * 60 - 1)
                    arrivals.append((local_instant(day, minute), what, rng.getrandbits(64)))
        arrivals.sort()
        return [(at, f"{what}:{token}") for at, what, token in arrivals]

    # --- the year -------------------------------------------------------------------------------

    def run(
        self, progress: Callable[[int], None] | None = None, *, until: date | None = None
    ) -> Result:
        """The year (or its days up to ``until``, for a test to look at the diaries then)."""
        s = self.scenario
        arrivals = iter(self.arrivals)
        upcoming = next(arrivals, None)
        for day in days(s.first_day, until or s.last_day):
            incidents = []
            while upcoming is not None and london_date(upcoming[0]) == day:
                at, what = upcoming
                if what.startswith("incident"):
                    incidents.append((at, what))
                else:
                    self._arrive(at, what)
                upcoming = next(arrivals, None)
            self._answer_waiting(local_instant(day, 8 * 60))
            for at, what in incidents:
                self._incident(at, random.Random(f"{self.seed}:{what}"))
            self._day_done(day)
            if day.isoweekday() == 7 or day == (until or s.last_day):
                self._week_done(day)
            if progress:
                progress(1)
        return Result(
            s,
            self.rule,
            self.seed,
            self.cases,
            self.incidents,
            [self.weeks[m] for m in sorted(self.weeks)],
            sum(
                a.minutes // self.tariff.sla_day_minutes * self.tariff.sla_day_pence
                for a in self.agreements.values()
            ),
            self.eps,
            self.diaries,
            self.waiting,
            {appointment_id: case for appointment_id, (_, case) in self.step_of.items()},
        )

    def _arrive(self, at: datetime, what: str) -> None:
        rng = random.Random(f"{self.seed}:{what}")
        school = rng.choice(self.schools)
        case_id = len(self.cases) + 1
        if what.startswith("referral"):
            traded = school.school_urn in self.agreements
            funding = FundingStream.TRADED if traded else FundingStream.CORE
            case = Case(case_id, school, at, funding)
            self.cases.append(case)
            self._request(case, Step.FIRST_CONTACT, at)
            return
        advice = Advice.receive(
            TENANT,
            RegisterAdviceRequest(
                request_id=uuid.UUID(int=rng.getrandbits(128)),
                requested_at=at,
                assessment_requested_on=london_date(at) - timedelta(weeks=6),
                la_case_ref=f"EHC-{case_id}",
                child_id=uuid.UUID(int=rng.getrandbits(128)),
                child_given_name="-",
                child_family_name="-",
                child_date_of_birth=date(2015, 1, 1),
                school_urn=school.school_urn,
                school_name=None,
                sent_at=at,
            ),
            self.la_policy,
            uuid.UUID(int=rng.getrandbits(128)),
        )
        advice.allocate(self.la_policy, school.named_ep_id)
        if rng.random() < self.scenario.exception_rate:
            self._exception(advice, rng)
        advice.events.clear()
        case = Case(case_id, school, at, FundingStream.STATUTORY, advice=advice)
        self.cases.append(case)
        self._request(case, Step.STATUTORY_VISIT, at)

    def _exception(self, advice: Advice, rng: random.Random) -> None:
        """A reg 8(2) exception recorded through the aggregate (which checks it is lawful)."""
        kind = rng.choice(list(ExceptionKind))
        length = (
            rng.randint(28, 42)
            if kind is ExceptionKind.CHILD_OR_PARENT_AWAY
            else rng.randint(7, 21)
        )
        starts = advice.received_on + timedelta(days=rng.randint(1, 21))
        advice.record_exception(
            ClockException(
                exception_id=uuid.UUID(int=rng.getrandbits(128)),
                kind=kind,
                starts_on=starts,
                ends_on=starts + timedelta(days=length - 1),
                reason="simulated",
                evidence=("simulated",),
                parents_notified_on=advice.received_on,
                recorded_on=advice.received_on,
                recorded_by="simulation",
            ),
            advice.received_on,
        )

    def _request(self, case: Case, step: Step, now: datetime) -> None:
        s = self.scenario
        tomorrow = local_instant(london_date(now) + timedelta(days=1), 0)
        place: str | None = case.school.school_urn
        deadline: datetime | None = None
        if step is Step.STATUTORY_VISIT:
            assert case.advice is not None
            earliest, latest = case.advice.booking_window(self.la_policy, max(now, tomorrow))
            minutes, kind, deadline = (
                s.statutory_visit_minutes,
                AppointmentKind.STATUTORY_ASSESSMENT_VISIT,
                latest,
            )
        elif step is Step.ADVICE_WRITING:
            assert case.advice is not None
            due = case.advice.due_on or case.advice.six_week_due_on
            earliest = tomorrow
            latest = max(end_of_day(due), earliest + timedelta(days=2))
            minutes, kind, place, deadline = (
                s.advice_writing_minutes,
                AppointmentKind.STATUTORY_ASSESSMENT_VISIT,
                None,
                latest,
            )
        else:
            earliest = tomorrow
            latest = earliest + timedelta(weeks=s.referral_window_weeks)
            minutes, kind = {
                Step.FIRST_CONTACT: (s.first_contact_minutes, AppointmentKind.CONSULTATION),
                Step.CASEWORK_VISIT: (s.casework_visit_minutes, AppointmentKind.ASSESSMENT_VISIT),
                Step.CASEWORK_REPORT: (s.casework_report_minutes, AppointmentKind.CONSULTATION),
            }[step]
            if step is Step.CASEWORK_REPORT:
                place = None
        self.waiting.append(
            Request(
                case,
                step,
                minutes,
                place,
                kind,
                now,
                earliest,
                max(earliest, latest - timedelta(minutes=minutes)),
                deadline,
            )
        )

    # --- booking ---------------------------------------------------------------------------------

    def ep_for(self, request: Request) -> list[Ep]:
        """Who is asked: the named EP (statutory's allocation rule, and the school's casework);
        for a window the service asks its named EP first, then the nearest (``candidate_order``),
        but both kinds of request name their EP, so one diary is searched."""
        return [self.by_id[request.case.school.named_ep_id]]

    def diary_for(
        self, ep_id: str, window: Interval, horizon: timedelta = timedelta(0)
    ) -> list[Appointment]:
        return self.diaries[ep_id].between(
            window.start - DIARY_MARGIN, window.end + horizon + DIARY_MARGIN
        )

    def _answer_waiting(self, now: datetime) -> None:
        """Answer the requests waiting, in the rule's order; what finds no slot waits a day."""
        pending, self.waiting = self.waiting, []  # work displaced meanwhile queues up here
        order = answer_order(
            pending,
            deadline=lambda r: r.deadline,
            arrived=lambda r: r.arrived,
            policy=self.policy,
        )
        still: list[Request] = []
        failed: dict[tuple[str, bool, int], datetime] = {}  # EP, routine, minutes -> window end
        for request in order:
            earliest = max(request.earliest, now)
            last_start = max(request.last_start, earliest)
            if request.deadline is not None and last_start > request.last_start:
                last_start = earliest + timedelta(days=2)  # past its window: as soon as can be
            window = Interval(earliest, last_start + timedelta(minutes=request.minutes))
            [ep] = self.ep_for(request)
            key = (ep.ep_id, request.funding is not FundingStream.STATUTORY, request.minutes)
            if key in failed and window.end <= failed[key]:
                # a wider window of the same EP found nothing today (for a visit elsewhere:
                # travel time could differ by a buffer, which the planner leaves to tomorrow)
                still.append(request)
                continue
            if self.book(request, ep, window, now) is None:
                failed[key] = max(failed.get(key, window.end), window.end)
                still.append(request)
        self.waiting = still + self.waiting

    def book(self, request: Request, ep: Ep, window: Interval, now: datetime) -> Appointment | None:
        """Book ``request`` in ``ep``'s diary as the service would (its booking rule, its
        re-planning of statutory work at risk), or None when it must wait."""
        diary = self.diary_for(ep.ep_id, window)
        slot = slot_for(
            ep,
            diary,
            window,
            request.minutes,
            request.place,
            request.kind,
            request.funding,
            self.policy,
        )
        displaced: tuple[Appointment, ...] = ()
        if slot is None and request.funding is FundingStream.STATUTORY:
            horizon = timedelta(days=self.policy.reschedule_horizon_days)
            diary = self.diary_for(ep.ep_id, window, horizon)
            found = replan(ep, diary, window, request.minutes, request.place, now, self.policy)
            if found is None:
                return None
            slot, displaced = found
        if slot is None:
            return None
        appointment = self._appointment(request, ep, slot)
        if displaced:
            self._displace(ep, displaced, diary, appointment, now)
        self.diaries[ep.ep_id].add(appointment)
        return appointment

    def _appointment(self, request: Request, ep: Ep, slot: Interval) -> Appointment:
        appointment = Appointment.book(
            ep_id=ep.ep_id,
            kind=request.kind,
            starts_at=slot.start,
            ends_at=slot.end,
            funding_stream=request.funding,
            place=request.place,
            school_urn=request.case.school.school_urn,
            case_ref=f"{request.case.case_id}:{request.step}",
        )
        appointment.events.clear()
        self.step_of[appointment.appointment_id] = (request, request.case)
        return appointment

    def _displace(
        self,
        ep: Ep,
        displaced: Sequence[Appointment],
        diary: Sequence[Appointment],
        new: Appointment,
        now: datetime,
    ) -> None:
        """Routine work moved to the EP's next free slot (the service's plan), or cancelled and
        asked for again."""
        for appointment, slot in plan_displacement(ep, displaced, diary, new, self.policy):
            self.diaries[ep.ep_id].remove(appointment)
            if slot is None:
                appointment.cancel(f"displaced by {new.case_ref}", cancelled_at=now)
                appointment.events.clear()
                request, _ = self.step_of.pop(appointment.appointment_id)
                self.waiting.append(replace(request, arrived=now, earliest=now))
                continue
            appointment.reschedule(ep.ep_id, slot.start, slot.end, f"displaced by {new.case_ref}")
            appointment.events.clear()
            self.diaries[ep.ep_id].add(appointment)

    def _incident(self, at: datetime, rng: random.Random) -> None:
        """A level-2 incident: two EPs on site within 24 hours, by the fast track's rules."""
        school = rng.choice(self.schools)
        need = FastTrackNeed(
            incident_id=uuid.UUID(int=rng.getrandbits(128)),
            school=school,
            eps_needed=2,
            needed_by=at + timedelta(hours=24),
            duration_minutes=self.scenario.incident_minutes,
            senior_lead_required=False,
            on_site=True,
        )
        window = Interval(at - timedelta(days=1), need.needed_by + timedelta(days=2))
        eps = [ep for ep in self.eps if ep.on_rota or ep.ep_id == school.named_ep_id]
        diaries = {ep.ep_id: self.diaries[ep.ep_id].between(window.start, window.end) for ep in eps}
        allocation = allocate(need, eps, diaries, at, self.policy)
        starts = []
        for option in allocation.chosen:
            response = response_appointment(need, option)
            response.events.clear()
            if option.displaced:
                horizon = timedelta(days=self.policy.reschedule_horizon_days)
                diary = self.diary_for(option.ep.ep_id, option.slot, horizon)
                self._displace(option.ep, option.displaced, diary, response, at)
            self.diaries[option.ep.ep_id].add(response)
            starts.append(option.slot.start)
        self.incidents.append((at, min(starts) if starts else None, allocation.shortfall))

    # --- the day's work done ---------------------------------------------------------------------

    def _day_done(self, day: date) -> None:
        start, end = local_instant(day, 0), local_instant(day + timedelta(days=1), 0)
        for ep in self.eps:
            for appointment in self.diaries[ep.ep_id].between(start, end):
                if (
                    appointment.starts_at < start
                    or appointment.status is not AppointmentStatus.BOOKED
                ):
                    continue
                appointment.status = AppointmentStatus.COMPLETED
                week = self._week(day)
                if not is_unavailable(appointment):
                    week.booked_minutes += appointment.minutes
                found = self.step_of.pop(appointment.appointment_id, None)
                if found is not None:
                    self._step_done(found[0], found[1], appointment, day)

    def _step_done(self, request: Request, case: Case, appointment: Appointment, day: date) -> None:
        case.steps_done.append(request.step)
        if request.funding is FundingStream.TRADED:
            self.deliveries.append(
                BillingDelivery(
                    delivery_id=appointment.appointment_id,
                    school_urn=case.school.school_urn,
                    delivered_on=day,
                    minutes=appointment.minutes,
                    funding_stream=FundingStream.TRADED,
                    recorded_at=appointment.ends_at,
                )
            )
        following = {
            Step.FIRST_CONTACT: Step.CASEWORK_VISIT,
            Step.CASEWORK_VISIT: Step.CASEWORK_REPORT,
            Step.STATUTORY_VISIT: Step.ADVICE_WRITING,
        }
        if request.step is Step.FIRST_CONTACT:
            case.first_contact_on = day
        if request.step in following:
            self._request(case, following[request.step], appointment.ends_at)
            return
        case.closed = True
        if request.step is Step.ADVICE_WRITING:
            case.submitted_on = day

    def _week(self, day: date) -> Week:
        monday = day - timedelta(days=day.isoweekday() - 1)
        if monday not in self.weeks:
            self.weeks[monday] = Week(monday)
        return self.weeks[monday]

    def _week_done(self, last: date) -> None:
        """The week ending on ``last`` (its Sunday, or the last day simulated)."""
        week = self._week(last)
        week.waiting_referrals = sum(1 for r in self.waiting if r.step not in STATUTORY_STEPS)
        week.waiting_statutory = sum(1 for r in self.waiting if r.step in STATUTORY_STEPS)
        week.open_advice = sum(1 for c in self.cases if c.is_statutory and not c.closed)
        monday = week.monday
        for ep in self.eps:
            for day in days(monday, last):
                hours = ep.pattern.hours_on(day)
                if hours is None:
                    continue
                blocked = any(
                    is_unavailable(a)
                    for a in self.diaries[ep.ep_id].between(hours.start, hours.end)
                )
                if not blocked:
                    week.capacity_minutes += hours.minutes
        delivered = [d for d in self.deliveries if monday <= d.delivered_on <= last]
        by_school: dict[str, list[BillingDelivery]] = defaultdict(list)
        for delivery in delivered:
            by_school[delivery.school_urn].append(delivery)
        for urn, deliveries in by_school.items():
            agreement = self.agreements.get(urn)
            priced, self.drawn = price_deliveries(
                deliveries,
                lambda _: self.tariff,
                [agreement] if agreement else [],
                already_drawn=self.drawn,
            )
            week.traded_pence += sum(p.pence for p in priced)


# --- small helpers ------------------------------------------------------------------------------


def days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def near(centre: GeoPoint, rng: random.Random, spread: float) -> GeoPoint:
    return GeoPoint(
        centre.latitude + rng.uniform(-spread, spread),
        centre.longitude + rng.uniform(-spread, spread) * 1.6,
    )


def poisson(rng: random.Random, rate: float) -> int:
    """A Poisson draw (Knuth's method: the rates here are a few a day)."""
    limit, product, count = pow(2.718281828459045, -rate), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count


def simulate(
    scenario: Scenario, rule: BookingRule, seed: int, progress: Callable[[int], None] | None = None
) -> Result:
    return Simulation(scenario, rule, seed).run(progress)
