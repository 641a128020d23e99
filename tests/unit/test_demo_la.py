"""The demo LA as data (deploy/local/demo/la.py): the same LA whatever day it is made on (so a
second load names the same things), and the LA the issue asks for: a hundred schools each with
a named EP who holds a patch, twenty EPs with real patterns, work from every source at every
stage, traded work that fits the EP's day, a rota with no gap."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date, timedelta

import pytest
from demo.la import REFERRAL_TARGETS, SOURCES, academic_year, leicester_city

DAYS = (date(2026, 12, 2), date(2026, 9, 1), date(2027, 8, 31), date(2026, 10, 25))


@pytest.mark.parametrize("day", DAYS)
def test_the_la_is_the_same_whatever_day_it_is_made_on(day: date) -> None:
    la, again, other_day = leicester_city(day), leicester_city(day), leicester_city(DAYS[0])
    assert la == again
    assert [s.urn for s in la.schools] == [s.urn for s in other_day.schools]
    assert [s.named_ep_id for s in la.schools] == [s.named_ep_id for s in other_day.schools]
    assert [r.request_id for r in la.referrals] == [r.request_id for r in other_day.referrals]
    assert [a.request_id for a in la.advice] == [a.request_id for a in other_day.advice]
    assert [i.report_id for i in la.incidents] == [i.report_id for i in other_day.incidents]
    assert la.tariff_years == (academic_year(day) - 1, academic_year(day))


def test_a_hundred_schools_each_with_a_named_ep_who_holds_a_patch() -> None:
    la = leicester_city(DAYS[0])
    assert len(la.schools) == 100 and len({s.urn for s in la.schools}) == 100
    assert len({s.name for s in la.schools}) == 100
    patch_holders = {e.ep_id for e in la.eps if e.role in ("ep", "senior_ep")}
    assert {s.named_ep_id for s in la.schools} <= patch_holders
    assert 20 <= sum(1 for s in la.schools if s.sla_days) <= 40
    assert all(5 <= (s.sla_days or 5) <= 30 for s in la.schools)


def test_twenty_eps_with_real_working_patterns() -> None:
    la = leicester_city(DAYS[0])
    roles = Counter(e.role for e in la.eps)
    assert len(la.eps) == 20 and roles["principal_ep"] == 1 and roles["lac_specialist_ep"] == 1
    assert roles["senior_ep"] >= 2 and roles["assistant_psychologist"] >= 1
    assert sum(1 for e in la.eps if e.part_time) >= 5
    assert all(0 < e.weekly_minutes <= 5 * 9 * 60 for e in la.eps)


def test_referrals_come_from_every_source_and_school_requests_reach_every_stage() -> None:
    la = leicester_city(DAYS[0])
    assert {r.source for r in la.referrals} == set(SOURCES)
    from_schools = {r.target for r in la.referrals if r.source == "school_senco"}
    assert from_schools == set(REFERRAL_TARGETS)
    assert all(
        r.looked_after == (r.source in ("virtual_school", "social_worker", "foster_carer"))
        for r in la.referrals
    )
    assert sum(1 for r in la.referrals if r.target == "awaiting_consent") >= 5


def test_statutory_advice_spans_the_six_weeks_and_beyond() -> None:
    la = leicester_city(DAYS[0])
    waited = sorted((la.today - a.requested_at.date()).days for a in la.advice)
    assert waited[0] < 7 and waited[-1] > 42  # new, and past the six weeks
    assert {a.target for a in la.advice} == {"open", "drafted", "exception", "submitted"}


def test_advice_to_be_drafted_goes_to_schools_whose_named_ep_works_every_weekday() -> None:
    """Scheduling may have only two or three days to book the visit drafting follows: an EP on
    three days a week had none of them free on a Wednesday morning."""
    la = leicester_city(DAYS[0])
    schools = {s.urn: s for s in la.schools}
    visited = [a for a in la.advice if a.visited]
    assert len(visited) == 5
    for a in visited:
        days = {d for d, _, _ in la.ep(schools[a.school_urn].named_ep_id).days}
        assert days == {1, 2, 3, 4, 5}, a.la_case_ref


@pytest.mark.parametrize("day", DAYS)
def test_traded_work_is_done_in_the_past_and_booked_ahead_within_the_day(day: date) -> None:
    la = leicester_city(day)
    done = [v for v in la.traded_visits if v.completed]
    ahead = [v for v in la.traded_visits if not v.completed]
    assert all(v.day < day for v in done) and all(v.day > day for v in ahead)
    assert any(v.day < day - timedelta(days=40) for v in done)  # a month closed: invoiced
    assert all(v.day.weekday() < 5 and v.hour * 60 + v.minutes <= 15 * 60 for v in done + ahead)
    assert len({v.purchase_id for v in la.traded_visits}) == len(la.traded_visits)


def test_the_rota_has_a_coordinator_and_a_backup_with_no_gap_for_three_weeks() -> None:
    la = leicester_city(DAYS[0])
    primary = sorted((s.starts_at, s.ends_at) for s in la.rota if s.position == "primary")
    assert all(a[1] == b[0] for a, b in itertools.pairwise(primary))
    assert primary[-1][1] - primary[0][0] >= timedelta(days=20)
    assert sum(1 for s in la.rota if s.position == "backup") == len(primary)
