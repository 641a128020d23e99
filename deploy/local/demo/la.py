"""The demo local authority, modelled on Leicester City's psychology service: its schools,
EPs, time, prices, rota and the work in hand, as plain data.

Everything is made from the day it is loaded on (the service clock's London date), so the demo
looks current whatever day `make run` runs, and every id is a uuid5 of the LA's namespace, so
loading twice names the same things. Figures: the LA's 2025/26 traded-services leaflet (hour
£150, half day £400, day £700; SLA £650 a day, 5 to 30 days) and the domain brief (a named EP
per school meeting it twice a year; the LAC specialist; statutory advice within 6 weeks).
People and schools are invented: no name here is a real person or school.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
TENANT = "leicester-city"
NAMESPACE = uuid.UUID("5f0c6a52-9a3e-4c1b-8d0e-1e6c9b7d2a10")  # the demo's, fixed
SEED = 16  # the same schools, people and work on every load


def demo_id(tenant: str, *parts: object) -> uuid.UUID:
    """A stable id for one thing of the demo LA (the same on every load)."""
    return uuid.uuid5(NAMESPACE, "/".join([tenant, *map(str, parts)]))


def academic_year(day: date) -> int:
    """The school year a day is in, by its first calendar year (2026 for 2026/27)."""
    return day.year if day.month >= 9 else day.year - 1


def london(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), LONDON)


def weekday_on_or_after(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def weekday_on_or_before(day: date) -> date:
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


# --- people -----------------------------------------------------------------------------------

FULL_TIME = (
    (1, "08:30", "17:00"),
    (2, "08:30", "17:00"),
    (3, "08:30", "17:00"),
    (4, "08:30", "17:00"),
    (5, "08:30", "16:30"),
)


@dataclass(frozen=True)
class Ep:
    ep_id: str
    name: str
    role: (
        str  # scheduling's: ep, senior_ep, principal_ep, assistant_psychologist, lac_specialist_ep
    )
    days: tuple[tuple[int, str, str], ...] = FULL_TIME
    on_rota: bool = True
    base: tuple[float, float] = (52.6369, -1.1398)  # the service's base in the city centre

    @property
    def weekly_minutes(self) -> int:
        def minutes(clock: str) -> int:
            h, m = clock.split(":")
            return int(h) * 60 + int(m)

        return sum(minutes(end) - minutes(start) for _, start, end in self.days)

    @property
    def lac_specialist(self) -> bool:
        return self.role == "lac_specialist_ep"

    @property
    def token_role(self) -> str:
        """The role they sign in with (assistants and the LAC specialist sign in as EPs)."""
        return self.role if self.role in ("senior_ep", "principal_ep") else "ep"

    @property
    def part_time(self) -> bool:
        return len(self.days) < 5


@dataclass(frozen=True)
class Person:
    person_id: str
    name: str
    role: str  # the role they sign in with


def _eps() -> tuple[Ep, ...]:
    part_time_3 = FULL_TIME[:3]
    part_time_4 = FULL_TIME[:4]
    school_hours = tuple((d, "09:00", "15:00") for d in (1, 2, 3, 4, 5))
    return (
        Ep("pep-amara-okafor", "Dr Amara Okafor", "principal_ep", on_rota=False),
        Ep("sep-daniel-hughes", "Dr Daniel Hughes", "senior_ep"),
        Ep("sep-priya-mistry", "Dr Priya Mistry", "senior_ep", days=part_time_4),
        Ep("ep-lac-helen-ward", "Dr Helen Ward", "lac_specialist_ep"),
        Ep("ep-samir-patel", "Samir Patel", "ep"),
        Ep("ep-rachel-green", "Dr Rachel Green", "ep"),
        Ep("ep-tom-bennett", "Tom Bennett", "ep", days=part_time_3),
        Ep("ep-aisha-begum", "Dr Aisha Begum", "ep"),
        Ep("ep-liam-oconnor", "Liam O'Connor", "ep", days=part_time_4),
        Ep("ep-zara-khan", "Dr Zara Khan", "ep"),
        Ep("ep-gemma-shaw", "Gemma Shaw", "ep", days=part_time_3, on_rota=False),
        Ep("ep-kwame-mensah", "Dr Kwame Mensah", "ep"),
        Ep("ep-nadia-hussain", "Nadia Hussain", "ep"),
        Ep("ep-owen-price", "Dr Owen Price", "ep", days=part_time_4),
        Ep("ep-sophie-clarke", "Sophie Clarke", "ep"),
        Ep("ep-imran-ali", "Dr Imran Ali", "ep"),
        Ep("ep-laura-jones", "Laura Jones", "ep", days=part_time_3, on_rota=False),
        Ep("ep-harpreet-kaur", "Dr Harpreet Kaur", "ep"),
        Ep(
            "ap-ben-watson",
            "Ben Watson",
            "assistant_psychologist",
            days=school_hours,
            on_rota=False,
        ),
        Ep(
            "ap-maya-desai",
            "Maya Desai",
            "assistant_psychologist",
            days=school_hours,
            on_rota=False,
        ),
    )


COORDINATORS = (
    Person("coord-joanne-reid", "Joanne Reid", "coordinator"),
    Person("coord-marcus-lee", "Marcus Lee", "coordinator"),
    Person("coord-fatima-noor", "Fatima Noor", "coordinator"),
)
FINANCE = Person("fin-claire-evans", "Claire Evans", "finance")
ADMIN = Person("admin-eps-office", "EPS business support", "admin")


# --- schools ----------------------------------------------------------------------------------

_PLACES = (
    "Abbey",
    "Aylestone",
    "Beaumont Leys",
    "Belgrave",
    "Braunstone",
    "Catherine",
    "Christ the",
    "Clarendon",
    "Coleman",
    "Crown Hills",
    "Evington",
    "Eyres Monsell",
    "Fosse",
    "Frith",
    "Glebelands",
    "Goodwood",
    "Granby",
    "Hamilton",
    "Humberstone",
    "Inglehurst",
    "Kestrels",
    "Knighton",
    "Linden",
    "Mayflower",
    "Mellor",
    "Merrydale",
    "Montrose",
    "Mowmacre",
    "Netherhall",
    "New Parks",
    "Northfield",
    "Overdale",
    "Queensmead",
    "Rowlatts",
    "Rushey Mead",
    "Sandfield",
    "Shenton",
    "Slater",
    "Spinney Hill",
    "Stokes Wood",
    "Taylor",
    "Thurnby",
    "Uplands",
    "Whitehall",
    "Wigston Lane",
    "Woodstock",
    "Wyvern",
    "Ellesmere",
    "Forest Lodge",
    "Highfields",
)
_PHASES = (
    ("primary", "Primary School", 72),
    ("secondary", "Academy", 20),
    ("special", "Special School", 5),
    ("nursery", "Nursery School", 3),
)
CORE_MINUTES = {"primary": 12 * 60, "secondary": 24 * 60, "special": 30 * 60, "nursery": 6 * 60}


@dataclass(frozen=True)
class School:
    urn: str
    name: str
    phase: str
    latitude: float
    longitude: float
    named_ep_id: str
    sla_days: int | None  # the SLA it buys this year, if it trades
    address: str

    @property
    def core_minutes(self) -> int:
        return CORE_MINUTES[self.phase]


def _schools(eps: tuple[Ep, ...], rng: random.Random) -> tuple[School, ...]:
    # schools are shared among the EPs who hold a patch (not the PEP, the LAC specialist or
    # the assistants), in proportion to their days
    patch = [ep for ep in eps if ep.role in ("ep", "senior_ep") and not ep.lac_specialist]
    weighted = [ep.ep_id for ep in patch for _ in range(len(ep.days))]
    schools: list[School] = []
    names = iter(_PLACES * 3)
    n = 0
    for phase, suffix, count in _PHASES:
        for _ in range(count):
            n += 1
            place = next(names)
            if phase == "primary" and n > len(_PLACES):
                suffix = "Junior School"  # the city's junior schools beside its primaries
            name = f"{place} {suffix}"
            trades = rng.random() < 0.3
            schools.append(
                School(
                    urn=f"{120100 + n}",
                    name=name,
                    phase=phase,
                    latitude=round(52.60 + rng.random() * 0.08, 5),
                    longitude=round(-1.20 + rng.random() * 0.12, 5),
                    named_ep_id=weighted[(n * 7) % len(weighted)],
                    sla_days=rng.choice((5, 6, 8, 10, 12, 15, 20, 30)) if trades else None,
                    address=f"{place} Road, Leicester LE{rng.randint(1, 5)} {rng.randint(1, 9)}AB",
                )
            )
    return tuple(schools)


# --- work in hand -----------------------------------------------------------------------------

# where each referral is taken, in the referrals service's words
REFERRAL_TARGETS = (
    "awaiting_consent",
    "awaiting_triage",
    "accepted",
    "consultation",
    "assessment",
    "joint_plan",
    "review",
    "closed",
    "declined",
    "redirected",
    "paused",
)
SOURCES = (
    "school_senco",
    "parent_carer",
    "virtual_school",
    "social_worker",
    "foster_carer",
    "send_service",
)
_GIVEN = (
    "Aarav",
    "Ava",
    "Mohammed",
    "Olivia",
    "Ishaan",
    "Amelia",
    "Yusuf",
    "Isla",
    "Leo",
    "Maryam",
    "Noah",
    "Freya",
    "Zain",
    "Poppy",
    "Arjun",
    "Lily",
    "Ibrahim",
    "Grace",
    "Kai",
    "Sana",
)
_FAMILY = (
    "Patel",
    "Smith",
    "Khan",
    "Jones",
    "Mistry",
    "Brown",
    "Ahmed",
    "Wilson",
    "Chauhan",
    "Taylor",
    "Hussain",
    "Walker",
    "Lad",
    "Wright",
    "Begum",
    "Thompson",
)
_CONCERNS = (
    "Difficulties with reading and working memory despite two cycles of support.",
    "Anxiety about school leading to falling attendance since the spring.",
    "Social communication difficulties; struggles with unstructured times.",
    "Dysregulated behaviour at transitions; at risk of suspension.",
    "Slow progress in language; English as an additional language, three years in the UK.",
)


@dataclass(frozen=True)
class Referral:
    number: int
    request_id: uuid.UUID
    source: str
    target: str
    school_urn: str
    given_name: str
    family_name: str
    date_of_birth: date
    looked_after: bool
    requested_on: date
    concerns: str
    via_upstream: bool  # published by the LA's case management system, not entered over HTTP
    appointment_on: date | None  # a casework visit booked in the named EP's diary

    @property
    def parent_id(self) -> str:
        return f"parent-{self.number:03d}"

    @property
    def social_worker_id(self) -> str | None:
        return f"sw-{self.number:03d}" if self.looked_after else None

    @property
    def case_ref(self) -> str:
        return f"DEMO-REF-{self.number:03d}"


@dataclass(frozen=True)
class Advice:
    """A request for statutory advice from the SEN assessment team, and how far it has got."""

    number: int
    request_id: uuid.UUID
    child_id: uuid.UUID
    requested_at: datetime
    school_urn: str
    school_name: str
    given_name: str
    family_name: str
    date_of_birth: date
    target: str  # open, drafted, exception, submitted

    @property
    def la_case_ref(self) -> str:
        return f"EHC-DEMO-{self.number:04d}"

    @property
    def visited(self) -> bool:
        """Drafting follows the assessment visit, which scheduling books."""
        return self.target in VISITED


@dataclass(frozen=True)
class TradedVisit:
    """Traded work at a school delivered in the past (priced, on an invoice issued or a draft)
    or booked ahead (in the diary)."""

    number: int
    school_urn: str
    ep_id: str
    day: date
    hour: int
    minutes: int
    completed: bool
    purchase_id: uuid.UUID  # the spot time bought for it where the school has no SLA

    @property
    def case_ref(self) -> str:
        return f"DEMO-TRADED-{self.number:03d}"


@dataclass(frozen=True)
class RotaShift:
    coordinator_id: str
    position: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class Incident:
    report_id: uuid.UUID
    school_urn: str
    kind: str
    level: Literal[1, 2, 3]
    occurred_at: datetime
    reported_by: str
    pupils_affected: int
    staff_affected: int
    description: str
    closed: bool  # a past incident walked to its close; else open and acknowledged
    via_upstream: bool


@dataclass(frozen=True)
class DemoLa:
    tenant: str
    today: date
    eps: tuple[Ep, ...]
    schools: tuple[School, ...]
    referrals: tuple[Referral, ...]
    advice: tuple[Advice, ...]
    traded_visits: tuple[TradedVisit, ...]
    rota: tuple[RotaShift, ...]
    incidents: tuple[Incident, ...]
    coordinators: tuple[Person, ...] = COORDINATORS
    finance: Person = FINANCE
    admin: Person = ADMIN
    tariff_years: tuple[int, ...] = field(default=())

    @property
    def principal(self) -> Ep:
        return next(ep for ep in self.eps if ep.role == "principal_ep")

    @property
    def lac_specialist(self) -> Ep:
        return next(ep for ep in self.eps if ep.lac_specialist)

    def school(self, urn: str) -> School:
        return next(s for s in self.schools if s.urn == urn)

    def ep(self, ep_id: str) -> Ep:
        return next(e for e in self.eps if e.ep_id == ep_id)

    @property
    def year(self) -> int:
        return academic_year(self.today)


def leicester_city(today: date, tenant: str = TENANT) -> DemoLa:
    """The demo LA as it stands on ``today`` (London)."""
    rng = random.Random(SEED)
    eps = _eps()
    schools = _schools(eps, rng)
    return DemoLa(
        tenant=tenant,
        today=today,
        eps=eps,
        schools=schools,
        referrals=_referrals(tenant, today, schools, rng),
        advice=_advice(tenant, today, eps, schools, rng),
        traded_visits=_traded_visits(tenant, today, schools),
        rota=_rota(today, eps),
        incidents=_incidents(tenant, today, schools),
        tariff_years=(academic_year(today) - 1, academic_year(today)),
    )


def _referrals(
    tenant: str, today: date, schools: tuple[School, ...], rng: random.Random
) -> tuple[Referral, ...]:
    """Each source's referrals at each stage it can reach: school requests at every stage, the
    other routes at a few; looked-after children for the Virtual School, social workers and
    foster carers."""
    plan: list[tuple[str, str]] = [("school_senco", target) for target in REFERRAL_TARGETS]
    plan += [("school_senco", t) for t in ("awaiting_consent", "consultation", "assessment")]
    plan += [("school_senco", t) for t in ("awaiting_triage", "review", "closed")]
    plan += [(source, t) for source in SOURCES[1:] for t in ("awaiting_consent", "consultation")]
    plan += [("parent_carer", "closed"), ("send_service", "accepted"), ("social_worker", "closed")]
    plan += [("virtual_school", "assessment"), ("foster_carer", "awaiting_triage")]
    referrals = []
    for n, (source, target) in enumerate(plan, start=1):
        school = schools[(n * 13) % len(schools)]
        looked_after = source in ("virtual_school", "social_worker", "foster_carer")
        age = rng.randint(5, 14) if school.phase != "secondary" else rng.randint(11, 15)
        booked = target in ("consultation", "assessment", "joint_plan", "review")
        referrals.append(
            Referral(
                number=n,
                request_id=demo_id(tenant, "referral-request", n),
                source=source,
                target=target,
                school_urn=school.urn,
                given_name=rng.choice(_GIVEN),
                family_name=rng.choice(_FAMILY),
                date_of_birth=date(today.year - age, rng.randint(1, 12), rng.randint(1, 28)),
                looked_after=looked_after,
                requested_on=today - timedelta(days=rng.randint(3, 60)),
                concerns=rng.choice(_CONCERNS),
                via_upstream=source in ("send_service", "virtual_school"),
                appointment_on=weekday_on_or_after(today + timedelta(days=3 + n % 15))
                if booked
                else None,
            )
        )
    return tuple(referrals)


# how far through its six weeks each request for advice is, and what has been done
VISITED = ("drafted", "submitted")  # past the assessment visit
_ADVICE_PLAN = (
    (3, "open"),
    (8, "open"),
    (12, "open"),
    (16, "drafted"),
    (20, "open"),
    (24, "open"),
    (27, "drafted"),
    (31, "open"),
    (34, "open"),
    (36, "drafted"),
    (38, "open"),
    (40, "open"),
    (41, "exception"),
    (45, "open"),
    (30, "submitted"),
    (38, "submitted"),
)


def _advice(
    tenant: str,
    today: date,
    eps: tuple[Ep, ...],
    schools: tuple[School, ...],
    rng: random.Random,
) -> tuple[Advice, ...]:
    # A request received four weeks ago or more has passed statutory's booking margin, and
    # scheduling is then given two or three days to book the visit from now: a school whose
    # named EP works every weekday has one in them whatever day the demo is loaded (an EP on
    # three days a week had none on a Wednesday morning, and the load waited for ever).
    every_weekday = {e.ep_id for e in eps if {d for d, _, _ in e.days} == {1, 2, 3, 4, 5}}
    advice = []
    for n, (days_ago, target) in enumerate(_ADVICE_PLAN, start=1):
        pick = (n * 11 + 3) % len(schools)
        if target in VISITED:
            while schools[pick].named_ep_id not in every_weekday:
                pick = (pick + 1) % len(schools)
        school = schools[pick]
        received = weekday_on_or_before(today - timedelta(days=days_ago))
        advice.append(
            Advice(
                number=n,
                request_id=demo_id(tenant, "advice-request", n),
                child_id=demo_id(tenant, "advice-child", n),
                requested_at=london(received, 10, 30),
                school_urn=school.urn,
                school_name=school.name,
                given_name=rng.choice(_GIVEN),
                family_name=rng.choice(_FAMILY),
                date_of_birth=date(today.year - rng.randint(4, 15), rng.randint(1, 12), 14),
                target=target,
            )
        )
    return tuple(advice)


def _traded_visits(
    tenant: str, today: date, schools: tuple[School, ...]
) -> tuple[TradedVisit, ...]:
    """Traded work at schools that buy it: delivered six to ten weeks ago (its month closed,
    so on an invoice issued), delivered in the last days (on the draft) and booked ahead. Spot
    time is bought in scheduling for each visit (an SLA's time comes from billing)."""
    # most at schools buying by the hour (charged: invoices), a few drawing on an SLA
    with_sla = [s for s in schools if s.sla_days is not None][:4]
    trading = with_sla + [s for s in schools if s.sla_days is None][:8]
    visits = []
    offsets = (
        (-70, True),
        (-56, True),
        (-42, True),
        (-3, True),
        (-1, True),
        (6, False),
        (13, False),
        (20, False),
    )
    n = 0
    for i, school in enumerate(trading[:12]):
        for days, completed in offsets[i % 3 :: 3]:
            n += 1
            day = weekday_on_or_before(today + timedelta(days=days))
            if completed and day >= today:
                day = weekday_on_or_before(today - timedelta(days=1))
            minutes = (60, 180, 360)[n % 3] if completed else 180
            visits.append(
                TradedVisit(
                    number=n,
                    school_urn=school.urn,
                    ep_id=school.named_ep_id,
                    day=day,
                    hour=min(9 + n % 4, 15 - minutes // 60),  # over by three
                    minutes=minutes,
                    completed=completed,
                    purchase_id=demo_id(tenant, "spot-purchase", school.urn, n),
                )
            )
    return tuple(visits)


def _rota(today: date, eps: tuple[Ep, ...]) -> tuple[RotaShift, ...]:
    """Three weeks of on call from today: a coordinator as primary each day (08:00 to 08:00),
    a senior EP as backup."""
    seniors = [ep.ep_id for ep in eps if ep.role == "senior_ep"]
    shifts = []
    for d in range(21):
        day = today + timedelta(days=d - 1)
        starts, ends = london(day, 8), london(day + timedelta(days=1), 8)
        shifts.append(RotaShift(COORDINATORS[d % 3].person_id, "primary", starts, ends))
        shifts.append(RotaShift(seniors[d % len(seniors)], "backup", starts, ends))
    return tuple(shifts)


def _incidents(tenant: str, today: date, schools: tuple[School, ...]) -> tuple[Incident, ...]:
    return (
        Incident(
            report_id=demo_id(tenant, "incident-report", 1),
            school_urn=schools[17].urn,
            kind="sudden_death_of_pupil",
            level=2,
            occurred_at=london(today - timedelta(days=9), 7, 40),
            reported_by="Headteacher, by phone",
            pupils_affected=60,
            staff_affected=6,
            description="A Year 5 pupil died in a road accident on the way to school.",
            closed=True,
            via_upstream=False,
        ),
        Incident(
            report_id=demo_id(tenant, "incident-report", 2),
            school_urn=schools[41].urn,
            kind="serious_accident",
            level=1,
            occurred_at=london(today - timedelta(days=1), 16, 15),
            reported_by="Duty officer, LA safeguarding hub",
            pupils_affected=8,
            staff_affected=2,
            description="A member of staff was badly injured on a school trip.",
            closed=False,
            via_upstream=True,
        ),
    )
