"""SLAs: when one can be priced, how its days may change, and what the other services are told."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
from eps_billing.domain.agreements import (
    AGREEMENT_NAMESPACE,
    AgreementRecord,
    AgreementStatus,
    Announcement,
    HoldKind,
    academic_year,
    agreement_hold,
    agreement_id,
    announcement,
    check_days_change,
    sla_minutes,
    year_label,
)
from eps_billing.domain.cancellation import CancelledAppointment
from eps_billing.domain.cancellation import needs_tariff as judging_needs_tariff
from eps_billing.domain.pricing import Delivery, needs_tariff, price_deliveries
from eps_billing.domain.tariff import Tariff
from eps_chassis.errors import DomainError
from eps_contracts.billing import ServiceLevelAgreementBought
from eps_contracts.scheduling import CancellationParty, FundingStream

from tests.support.builders.billing import LEICESTER

T0 = datetime(2026, 9, 7, 9, tzinfo=UTC)


def test_an_academic_year_runs_from_september_to_august() -> None:
    assert academic_year(2026) == (date(2026, 9, 1), date(2027, 8, 31))
    assert year_label(2026) == "2026/27" and year_label(2099) == "2099/00"


def hold(**given: Any) -> Any:
    arguments: dict[str, Any] = dict(school_known=True, tariff=LEICESTER)
    arguments.update(given)
    return agreement_hold(
        "leicester-city", "123456", date(2025, 9, 1), arguments.pop("days", 5), **arguments
    )


def test_an_sla_is_priced_for_a_known_school_by_a_confirmed_tariff_within_its_limits() -> None:
    assert hold() is None
    assert hold(days=30) is None


def test_an_sla_waits_for_its_school_then_its_tariff_then_days_within_the_limits() -> None:
    unknown = hold(school_known=False, tariff=None)
    assert unknown.kind is HoldKind.UNKNOWN_SCHOOL and "123456" in unknown.reason
    no_tariff = hold(tariff=None)
    assert no_tariff.kind is HoldKind.NO_TARIFF
    assert no_tariff.reason == "leicester-city has no confirmed tariff in force on 2025-09-01"
    outside = hold(days=31)
    assert outside.kind is HoldKind.DAYS_OUTSIDE_LIMITS
    assert "5 to 30 days a year" in outside.reason and "31 requested" in outside.reason


def test_the_first_sla_of_a_school_and_year_keeps_its_id_and_one_bought_again_gets_a_new_one() -> (
    None
):
    first = agreement_id("leicester-city", "123456", date(2025, 9, 1), 0)
    assert first == uuid.uuid5(AGREEMENT_NAMESPACE, "leicester-city/123456/2025-09-01")
    again = agreement_id("leicester-city", "123456", date(2025, 9, 1), 1)
    assert again != first
    assert again == agreement_id("leicester-city", "123456", date(2025, 9, 1), 1)


def test_days_change_within_the_limits_and_never_below_the_time_drawn() -> None:
    check_days_change(LEICESTER, 8, day_minutes=360, carried=0, drawn=8 * 360)
    check_days_change(LEICESTER, 5, day_minutes=360, carried=360, drawn=6 * 360)  # carry counts
    for days, drawn in ((4, 0), (31, 0), (5, 5 * 360 + 1)):
        with pytest.raises(DomainError) as refused:
            check_days_change(LEICESTER, days, day_minutes=360, carried=0, drawn=drawn)
        assert refused.value.field == "days"
    with pytest.raises(DomainError, match="already been drawn"):
        check_days_change(LEICESTER, 6, day_minutes=360, carried=0, drawn=7 * 360)
    assert sla_minutes(6, 360, 90) == 6 * 360 + 90


@pytest.mark.parametrize(
    ("status", "announced", "state", "told", "expected"),
    [
        (AgreementStatus.PRICED, None, (5, 1800), (None, None), Announcement.BOUGHT),
        (AgreementStatus.PRICED, AgreementStatus.PRICED, (5, 1800), (5, 1800), None),
        (
            AgreementStatus.PRICED,
            AgreementStatus.PRICED,
            (6, 2160),
            (5, 1800),
            Announcement.CHANGED,
        ),
        (
            AgreementStatus.PRICED,
            AgreementStatus.PRICED,
            (5, 2000),
            (5, 1800),
            Announcement.CHANGED,
        ),
        (
            AgreementStatus.CANCELLED,
            AgreementStatus.PRICED,
            (5, 0),
            (5, 1800),
            Announcement.CANCELLED,
        ),
        # never priced, so never announced: nothing to say when it waits or is cancelled
        (AgreementStatus.UNPRICED, None, (5, 0), (None, None), None),
        (AgreementStatus.CANCELLED, None, (5, 0), (None, None), None),
        (AgreementStatus.CANCELLED, AgreementStatus.CANCELLED, (5, 0), (5, 0), None),
    ],
)
def test_what_is_announced_follows_what_the_other_services_were_last_told(
    status: AgreementStatus,
    announced: AgreementStatus | None,
    state: tuple[int, int],
    told: tuple[int | None, int | None],
    expected: Announcement | None,
) -> None:
    assert announcement(status, announced, state, told) is expected


def test_time_that_is_free_under_any_tariff_is_priced_without_one() -> None:
    def no_tariff(day: date) -> Tariff:
        raise AssertionError(f"asked for a tariff on {day}")

    free = [
        Delivery(uuid.uuid4(), "123456", date(2030, 1, 7), 60, stream, T0)
        for stream in (FundingStream.CORE, FundingStream.STATUTORY)
    ]
    voided = replace(
        Delivery(uuid.uuid4(), "123456", date(2030, 1, 7), 60, FundingStream.TRADED, T0),
        voided=True,
    )
    priced, _ = price_deliveries([*free, voided], no_tariff)
    assert [p.pence for p in priced] == [0, 0, 0]
    assert not any(needs_tariff(d) for d in [*free, voided])
    for stream in (FundingStream.TRADED, FundingStream.CRITICAL_INCIDENT):
        assert needs_tariff(Delivery(uuid.uuid4(), "123456", date(2030, 1, 7), 60, stream, T0))


def test_only_a_cancellation_the_rule_could_charge_waits_for_a_tariff() -> None:
    def cancelled(stream: FundingStream, by: CancellationParty | None) -> CancelledAppointment:
        return CancelledAppointment(uuid.uuid4(), "123456", stream, T0, T0, T0, by)

    assert judging_needs_tariff(cancelled(FundingStream.TRADED, None))
    assert judging_needs_tariff(cancelled(FundingStream.TRADED, CancellationParty.SCHOOL))
    assert not judging_needs_tariff(cancelled(FundingStream.TRADED, CancellationParty.SERVICE))
    assert not judging_needs_tariff(cancelled(FundingStream.CORE, None))


def test_an_sla_records_what_it_announces_once_and_one_never_priced_tells_nothing() -> None:
    def sla(status: AgreementStatus, told: AgreementStatus | None) -> AgreementRecord:
        return AgreementRecord(
            uuid.uuid4(), "123456", date(2025, 9, 1), date(2026, 8, 31), 5, status, 1800, 0, 0,
            360, 65000, None, None, "user:finance", T0, T0, None, None, None, told, None, None,
            ("days changed from 4 to 5: budget",),
        )  # fmt: skip

    bought = sla(AgreementStatus.PRICED, None)
    assert bought.announce() and not bought.announce()  # told once
    [event] = bought.events
    assert isinstance(event, ServiceLevelAgreementBought)
    assert (event.academic_year, event.days, event.minutes) == (2025, 5, 1800)
    never_priced = sla(AgreementStatus.CANCELLED, None)
    assert not never_priced.announce() and never_priced.events == []
    assert never_priced.announced_status is AgreementStatus.CANCELLED  # nothing left to tell
