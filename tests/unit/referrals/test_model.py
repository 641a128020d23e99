from datetime import date

import pytest
from eps_chassis.errors import DomainError
from eps_contracts.referrals import ReferralReceived
from eps_referrals.domain.model import Referral, ReferralStatus, age_on, check_age
from eps_referrals.entrypoints.events import register_referral_command

from tests.support import builders


@pytest.mark.parametrize(
    ("born", "on", "age"),
    [
        (date(2010, 6, 15), date(2026, 6, 14), 15),
        (date(2010, 6, 15), date(2026, 6, 15), 16),
        (date(2008, 2, 29), date(2026, 2, 28), 17),  # a leap-day birthday counts from 1 March
        (date(2008, 2, 29), date(2026, 3, 1), 18),
        (date(2026, 1, 1), date(2026, 1, 1), 0),
    ],
)
def test_age_on_a_date(born: date, on: date, age: int) -> None:
    assert age_on(born, on) == age


def test_twenty_five_is_accepted_and_twenty_six_refused() -> None:
    check_age(date(2001, 1, 2), date(2026, 11, 2))  # 25
    with pytest.raises(DomainError) as refused:
        check_age(date(2000, 11, 2), date(2026, 11, 2))  # 26 that day
    assert refused.value.field == "child.date_of_birth"
    assert "is 26" in str(refused.value)


def test_a_birth_date_after_the_request_is_refused() -> None:
    with pytest.raises(DomainError, match="after the request date"):
        check_age(date(2026, 11, 3), date(2026, 11, 2))


def test_receiving_a_request_records_referral_received_without_names() -> None:
    cmd = register_referral_command(builders.referral_requested())
    referral = Referral.receive("leicester-city", cmd)
    assert referral.status is ReferralStatus.AWAITING_CONSENT
    [event] = referral.events
    assert isinstance(event, ReferralReceived)
    assert event.child_id == referral.child_id
    assert event.parental_responsibility_holder_ids == ("p-1",)
    assert "Sam" not in event.model_dump_json() and "Taylor" not in event.model_dump_json()


def test_the_child_id_is_stable_for_the_same_child_and_differs_by_tenant() -> None:
    cmd = register_referral_command(builders.referral_requested())
    again = register_referral_command(builders.referral_requested())
    a = Referral.receive("leicester-city", cmd).child_id
    assert a == Referral.receive("leicester-city", again).child_id
    assert a != Referral.receive("milton-keynes", cmd).child_id
