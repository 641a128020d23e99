import uuid
from datetime import date

from eps_consent.domain.commands import OpenConsentCase
from eps_consent.domain.model import ConsentCase, consenters_for
from eps_contracts.consent import ConsentCaseOpened


def command(**overrides: object) -> OpenConsentCase:
    values: dict[str, object] = dict(
        referral_id=uuid.uuid4(),
        child_id=uuid.uuid4(),
        child_date_of_birth=date(2016, 5, 4),
        received_on=date(2026, 11, 2),
        looked_after=False,
        parental_responsibility_holder_ids=("p-1", "p-2"),
        social_worker_id="sw-9",
    )
    values.update(overrides)
    return OpenConsentCase(**values)  # type: ignore[arg-type]


def test_every_holder_of_parental_responsibility_must_consent() -> None:
    assert consenters_for(command()) == ("p-1", "p-2")


def test_a_looked_after_childs_social_worker_consents_too() -> None:
    assert consenters_for(command(looked_after=True)) == ("p-1", "p-2", "sw-9")


def test_opening_a_case_records_the_event() -> None:
    case = ConsentCase.open("leicester-city", command())
    assert [type(e) for e in case.events] == [ConsentCaseOpened]
