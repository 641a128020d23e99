"""What the capacity planner simulates: an LA's size, its EPs and the demand on them.

The defaults are a city LA of about Leicester's size (around 100 schools, 20 EP posts) and are
scaled from the figures of ``shared/domain.md``: England had 154,489 requests for an EHC needs
assessment in 2024, across about 21,600 state-funded schools (DfE, Schools, pupils and their
characteristics), so about 7.2 a school a year; the share that lead the LA to ask the EPS for
advice (two thirds) is an assumption, as are the referral, incident and SLA rates, each a
command-line what-if. Every figure is per academic year unless it says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

ENGLAND_ASSESSMENT_REQUESTS_2024 = 154_489
ENGLAND_STATE_FUNDED_SCHOOLS = 21_600
ADVICE_SHARE_OF_REQUESTS = 2 / 3  # assumption: requests the LA agrees to assess, needing advice


@dataclass(frozen=True, slots=True)
class Scenario:
    """One what-if. ``demand`` multiplies every arrival rate."""

    academic_year: int = 2026
    schools: int = 100
    ep_posts: int = 20
    vacancies: int = 0
    part_time_share: float = 0.25  # posts worked three days a week
    statutory_share_percent: int = 40
    absence_rate: float = 0.04  # of an EP's working days, off sick or on leave in term
    demand: float = 1.0
    referrals_per_school: float = 15.0
    incidents_per_year: float = 15.0
    exception_rate: float = 0.08  # advice whose clock meets a reg 8(2) exception
    sla_share: float = 0.3  # schools with an SLA for traded time
    sla_days: tuple[int, int] = (5, 15)
    # the LA's prices (Leicester City 2025/26), priced by billing's own tariff rules
    spot_prices_pence: tuple[tuple[str, int, int], ...] = (
        ("hour", 60, 150_00),
        ("half day", 180, 400_00),
        ("day", 360, 700_00),
    )
    sla_day_pence: int = 650_00
    # each piece of work, in minutes of an EP's diary
    first_contact_minutes: int = 90
    casework_visit_minutes: int = 180
    casework_report_minutes: int = 120
    statutory_visit_minutes: int = 240
    advice_writing_minutes: int = 450  # a whole working day
    incident_minutes: int = 180
    referral_window_weeks: int = 6  # how far ahead a coordinator looks for a slot
    # the school year (Leicester City's pattern): terms, then half-term weeks inside them
    terms: tuple[tuple[date, date], ...] = field(
        default=(
            (date(2026, 9, 2), date(2026, 12, 18)),
            (date(2027, 1, 5), date(2027, 3, 26)),
            (date(2027, 4, 12), date(2027, 7, 21)),
        )
    )
    half_terms: tuple[tuple[date, date], ...] = field(
        default=(
            (date(2026, 10, 26), date(2026, 10, 30)),
            (date(2027, 2, 15), date(2027, 2, 19)),
            (date(2027, 5, 31), date(2027, 6, 4)),
        )
    )

    def tariff_rules(self) -> dict[str, object]:
        """The prices as billing's tariff document (``eps_billing.domain.tariff``)."""
        return {
            "spot_units": [
                {"name": name, "minutes": minutes, "pence": pence}
                for name, minutes, pence in self.spot_prices_pence
            ],
            "sla": {
                "day_minutes": 360,
                "day_pence": self.sla_day_pence,
                "min_days": 5,
                "max_days": 30,
                "carry_over": False,
            },
            "critical_incident": "free",
        }

    @property
    def eps(self) -> int:
        return self.ep_posts - self.vacancies

    @property
    def advice_requests(self) -> float:
        """Requests for statutory advice a year: the national rate per school, scaled."""
        per_school = ENGLAND_ASSESSMENT_REQUESTS_2024 / ENGLAND_STATE_FUNDED_SCHOOLS
        return per_school * ADVICE_SHARE_OF_REQUESTS * self.schools * self.demand

    @property
    def referrals(self) -> float:
        return self.referrals_per_school * self.schools * self.demand

    @property
    def incidents(self) -> float:
        return self.incidents_per_year * self.demand

    @property
    def first_day(self) -> date:
        return date(self.academic_year, 9, 1)

    @property
    def last_day(self) -> date:
        return date(self.academic_year + 1, 8, 31)

    @property
    def last_arrival(self) -> date:
        """Demand arrives in term; the summer holiday only works through what is open."""
        return self.terms[-1][1]

    def in_term(self, day: date) -> bool:
        return any(a <= day <= b for a, b in self.terms) and not any(
            a <= day <= b for a, b in self.half_terms
        )
