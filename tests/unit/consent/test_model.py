import re
import uuid
from datetime import date
from typing import Any

import pytest
from eps_chassis.errors import Conflict, DomainError
from eps_consent.domain.commands import (
    CloseConsentCase,
    RecordCapacityAssessment,
)
from eps_consent.domain.model import ConsentCase
from eps_consent.domain.rules import (
    CapacityAssessment,
    ChildFacts,
    ConsentPolicy,
    add_months,
    end_of_compulsory_school_age,
    who_may_consent,
)
from eps_contracts.consent import (
    CapacityAssessmentRecorded,
    ConsentCaseClosed,
    ConsentCaseOpened,
    ConsentDecisionKind,
    ConsentDecisionRecorded,
    ConsentMethod,
    ConsentScope,
    ConsentStatusChanged,
    InvolvementConsent,
)

from tests.support.builders import consent as builders

INVOLVEMENT = ConsentScope.INVOLVEMENT
SHARING = ConsentScope.INFORMATION_SHARING
GRANTED, REFUSED, WITHDRAWN = (
    ConsentDecisionKind.GRANTED,
    ConsentDecisionKind.REFUSED,
    ConsentDecisionKind.WITHDRAWN,
)
TODAY = builders.RECEIVED_ON
POLICY = ConsentPolicy()


def case(**overrides: object) -> ConsentCase:
    opened = ConsentCase.open("leicester-city", builders.open_case(**overrides))
    opened.events.clear()
    return opened


def decide(
    c: ConsentCase,
    who: str,
    decision: ConsentDecisionKind = GRANTED,
    *,
    scope: ConsentScope = INVOLVEMENT,
    on: date = TODAY,
    policy: ConsentPolicy = POLICY,
    **extra: object,
) -> None:
    values: dict[str, object] = dict(decision=decision, scope=scope, decided_on=on)
    values.update(extra)
    cmd = builders.decision(c.referral_id, who, **values)
    c.record_decision(cmd, policy, on)


def statuses(c: ConsentCase) -> list[ConsentStatusChanged]:
    return [e for e in c.events if isinstance(e, ConsentStatusChanged)]


def child(born: date, *, looked_after: bool = False) -> ChildFacts:
    return ChildFacts(uuid.uuid4(), born, looked_after, ("p-1", "p-2"), "sw-9")


# -- end of compulsory school age and who may consent ---------------------------------------


@pytest.mark.parametrize(
    ("born", "end"),
    [
        (date(2010, 9, 1), date(2027, 6, 25)),  # first day of a school year: oldest in the year
        (date(2010, 8, 31), date(2026, 6, 26)),  # last day: 16 after the end (still 15 on it)
        (date(2010, 12, 31), date(2027, 6, 25)),
        (date(2011, 1, 1), date(2027, 6, 25)),  # same school year as 1 Sept 2010
        (date(2011, 6, 30), date(2027, 6, 25)),
        (date(2008, 2, 29), date(2024, 6, 28)),  # leap-day birthday
        (date(2014, 3, 3), date(2030, 6, 28)),  # 30 June 2030 is a Sunday
        (date(2016, 4, 1), date(2032, 6, 25)),
    ],
)
def test_end_of_compulsory_school_age_is_the_last_friday_of_june_of_the_year_turning_16(
    born: date, end: date
) -> None:
    assert end_of_compulsory_school_age(born) == end
    assert end.weekday() == 4 and end.month == 6 and end.day > 23


def test_before_and_on_the_last_friday_parents_decide_from_the_day_after_the_young_person() -> None:
    c = child(date(2010, 9, 1))
    end = date(2027, 6, 25)
    assert who_may_consent(c, INVOLVEMENT, end, {}) == ("p-1", "p-2")
    assert who_may_consent(c, INVOLVEMENT, date(2027, 6, 26), {}) == (c.young_person_id,)


def test_a_child_born_31_august_decides_before_their_16th_birthday() -> None:
    c = child(date(2010, 8, 31))
    assert who_may_consent(c, INVOLVEMENT, date(2026, 7, 1), {}) == (c.young_person_id,)


def test_turning_16_in_the_autumn_term_does_not_yet_make_the_young_person_decide() -> None:
    c = child(date(2010, 10, 15))
    assert who_may_consent(c, INVOLVEMENT, date(2026, 10, 20), {}) == ("p-1", "p-2")


def test_a_capacity_assessment_counts_only_for_the_decision_it_assessed() -> None:
    c = child(date(2005, 1, 1))
    lacks = CapacityAssessment(INVOLVEMENT, False, date(2026, 10, 1), "ep-1", "mca-1")
    assert who_may_consent(c, INVOLVEMENT, TODAY, {INVOLVEMENT: lacks}) == ("p-1", "p-2")
    assert who_may_consent(c, SHARING, TODAY, {INVOLVEMENT: lacks}) == (c.young_person_id,)
    has = CapacityAssessment(INVOLVEMENT, True, date(2026, 10, 1), "ep-1", "mca-1")
    assert who_may_consent(c, INVOLVEMENT, TODAY, {INVOLVEMENT: has}) == (c.young_person_id,)


def test_a_capacity_assessment_does_not_make_a_young_child_decide() -> None:
    c = child(date(2016, 5, 4))
    has = CapacityAssessment(INVOLVEMENT, True, TODAY, "ep-1", "mca-1")
    assert who_may_consent(c, INVOLVEMENT, TODAY, {INVOLVEMENT: has}) == ("p-1", "p-2")


def test_a_looked_after_child_needs_the_parental_responsibility_holder_and_the_social_worker() -> (
    None
):
    c = ChildFacts(uuid.uuid4(), date(2016, 5, 4), True, ("la-1",), "sw-9")
    assert who_may_consent(c, INVOLVEMENT, TODAY, {}) == ("la-1", "sw-9")
    not_lac = ChildFacts(uuid.uuid4(), date(2016, 5, 4), False, ("p-1",), "sw-9")
    assert who_may_consent(not_lac, INVOLVEMENT, TODAY, {}) == ("p-1",)


def test_opening_a_case_names_who_must_consent() -> None:
    opened = ConsentCase.open("leicester-city", builders.open_case(looked_after=True))
    [event] = opened.events
    assert isinstance(event, ConsentCaseOpened)
    assert event.consenters == ("p-1", "p-2", "sw-9")


# -- grants, refusals, withdrawals -----------------------------------------------------------


def test_consent_is_valid_only_once_every_holder_has_granted() -> None:
    c = case()
    decide(c, "p-1")
    assert c.status(TODAY).involvement is InvolvementConsent.AWAITING
    assert statuses(c) == []  # still awaiting: nothing changed for consumers
    decide(c, "p-2")
    [changed] = statuses(c)
    assert changed.involvement is InvolvementConsent.GRANTED and changed.involvement_valid


def test_one_holder_objecting_means_no_valid_consent_whatever_the_others_said() -> None:
    c = case()
    decide(c, "p-1")
    decide(c, "p-2", REFUSED)
    status = c.status(TODAY)
    assert status.involvement is InvolvementConsent.REFUSED and not status.involvement_valid
    assert "p-2" in status.reason


def test_withdrawal_is_published_at_once_and_invalidates_consent() -> None:
    c = case()
    decide(c, "p-1")
    decide(c, "p-2")
    c.events.clear()
    decide(c, "p-1", WITHDRAWN, method=ConsentMethod.VERBAL, evidence_ref=None)
    assert [type(e) for e in c.events] == [ConsentDecisionRecorded, ConsentStatusChanged]
    [changed] = statuses(c)
    assert changed.involvement is InvolvementConsent.WITHDRAWN
    assert not changed.involvement_valid


def test_consent_can_be_granted_again_after_a_withdrawal() -> None:
    c = case()
    for decision in (GRANTED, WITHDRAWN, GRANTED):
        decide(c, "p-1", decision)
    decide(c, "p-2")
    assert c.status(TODAY).involvement_valid


def test_withdrawing_without_a_grant_is_refused() -> None:
    with pytest.raises(Conflict, match="no grant"):
        decide(case(), "p-1", WITHDRAWN)


def test_someone_who_may_not_consent_is_refused_naming_the_rule() -> None:
    with pytest.raises(DomainError) as refused:
        decide(case(), "neighbour-1")
    assert refused.value.field == "consenter_id"
    assert "parental responsibility" in str(refused.value)


def test_a_parent_may_not_consent_for_a_young_person_with_capacity() -> None:
    c = case(child_date_of_birth=date(2008, 3, 1))
    with pytest.raises(DomainError, match="young person decides"):
        decide(c, "p-1")
    decide(c, str(c.child.child_id))
    assert c.status(TODAY).involvement_valid


def test_a_recorded_lack_of_capacity_returns_the_decision_to_the_parents() -> None:
    c = case(child_date_of_birth=date(2008, 3, 1))
    c.record_capacity_assessment(
        RecordCapacityAssessment(c.referral_id, INVOLVEMENT, False, TODAY, "ep-1", "mca-3"), TODAY
    )
    assert isinstance(c.events[0], CapacityAssessmentRecorded)
    decide(c, "p-1")
    decide(c, "p-2")
    assert c.status(TODAY).involvement_valid


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"decided_on": date(2026, 11, 3)}, "decided_on"),
        ({"evidence_ref": None}, "evidence_ref"),
        ({"agency": "CAMHS"}, "agency"),
        ({"expires_on": TODAY}, "expires_on"),
    ],
)
def test_invalid_decisions_name_the_field(extra: dict[str, Any], field: str) -> None:
    with pytest.raises(DomainError) as refused:
        decide(case(), "p-1", **extra)
    assert refused.value.field == field


def test_information_sharing_is_a_separate_grant_per_named_agency() -> None:
    c = case()
    decide(c, "p-1")
    decide(c, "p-2")
    for who in ("p-1", "p-2"):
        decide(c, who, scope=SHARING, agency="CAMHS")
    decide(c, "p-1", scope=SHARING, agency="Social care")
    status = c.status(TODAY)
    assert status.sharing_agencies == ("CAMHS",)  # social care lacks p-2's grant
    with pytest.raises(DomainError) as refused:
        decide(c, "p-1", scope=SHARING)
    assert refused.value.field == "agency"


def test_sharing_consent_alone_is_not_involvement_consent() -> None:
    c = case()
    for who in ("p-1", "p-2"):
        decide(c, who, scope=SHARING, agency="CAMHS")
    status = c.status(TODAY)
    assert not status.involvement_valid and status.sharing_agencies == ("CAMHS",)


# -- expiry ----------------------------------------------------------------------------------


def test_a_looked_after_childs_consent_expires_after_the_las_default_of_two_years() -> None:
    c = case(looked_after=True, parental_responsibility_holder_ids=("la-1",))
    decide(c, "la-1")
    decide(c, "sw-9")
    assert c.status(TODAY).valid_until == date(2028, 11, 2)
    assert c.status(date(2028, 11, 1)).involvement_valid
    expired = c.status(date(2028, 11, 2))
    assert expired.involvement is InvolvementConsent.EXPIRED and not expired.involvement_valid


def test_the_reconsent_period_is_the_las_configuration() -> None:
    c = case(looked_after=True, parental_responsibility_holder_ids=("la-1",))
    policy = ConsentPolicy(looked_after_reconsent_months=12)
    decide(c, "la-1", policy=policy)
    assert c.decisions[-1].expires_on == date(2027, 11, 2)
    other = case()
    decide(other, "p-1", policy=ConsentPolicy(default_reconsent_months=6))
    assert other.decisions[-1].expires_on == date(2027, 5, 2)


def test_other_childrens_consent_has_no_expiry_unless_configured_or_given() -> None:
    c = case()
    decide(c, "p-1")
    decide(c, "p-2", expires_on=date(2027, 3, 31))
    assert c.decisions[0].expires_on is None
    assert c.status(TODAY).valid_until == date(2027, 3, 31)
    assert c.status(date(2027, 3, 31)).involvement is InvolvementConsent.EXPIRED


def test_reassessing_publishes_an_expiry_once() -> None:
    c = case()
    decide(c, "p-1", expires_on=date(2027, 1, 1))
    decide(c, "p-2")
    c.events.clear()
    c.reassess(date(2026, 12, 31))
    assert c.events == []
    c.reassess(date(2027, 1, 1))
    c.reassess(date(2027, 1, 2))
    [expired] = statuses(c)
    assert expired.involvement is InvolvementConsent.EXPIRED


def test_the_next_reassessment_is_the_first_expiry_or_the_young_person_taking_over() -> None:
    c = case(child_date_of_birth=date(2010, 9, 1))
    assert c.next_reassessment(TODAY) == date(2027, 6, 26)
    decide(c, "p-1", expires_on=date(2027, 1, 1))
    assert c.next_reassessment(TODAY) == date(2027, 1, 1)
    assert c.next_reassessment(date(2028, 1, 1)) is None


def test_parents_consent_lapses_when_the_young_person_takes_over() -> None:
    c = case(child_date_of_birth=date(2010, 9, 1))
    decide(c, "p-1")
    decide(c, "p-2")
    c.events.clear()
    c.reassess(date(2027, 6, 26))
    [changed] = statuses(c)
    assert changed.involvement is InvolvementConsent.AWAITING and not changed.involvement_valid


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        (date(2024, 2, 29), 24, date(2026, 2, 28)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2026, 8, 31), 24, date(2028, 8, 31)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
    ],
)
def test_adding_months_clamps_to_the_month_end(start: date, months: int, end: date) -> None:
    assert add_months(start, months) == end


# -- closing the case when the referral's work finishes -------------------------------------


def closed(**overrides: object) -> ConsentCase:
    c = case(**overrides)
    decide(c, "p-1")
    decide(c, "p-2")
    c.close(CloseConsentCase(c.referral_id, TODAY, "referral closed"))
    return c


def test_closing_publishes_the_case_closed_once() -> None:
    c = case()
    c.close(CloseConsentCase(c.referral_id, TODAY, "referral declined"))
    c.close(CloseConsentCase(c.referral_id, date(2026, 11, 9), "referral closed"))  # redelivered
    [event] = c.events
    assert isinstance(event, ConsentCaseClosed)
    assert (event.closed_on, event.reason) == (TODAY, "referral declined")
    assert c.closed_on == TODAY and c.closed_reason == "referral declined"


def test_a_closed_case_takes_no_new_grant() -> None:
    c = case()
    c.close(CloseConsentCase(c.referral_id, TODAY, "referral redirected to sendiass"))
    with pytest.raises(
        Conflict, match=re.escape("finished on 2026-11-02 (referral redirected to sendiass)")
    ):
        decide(c, "p-1")
    assert c.decisions == [] and c.status(TODAY).involvement is InvolvementConsent.AWAITING


def test_a_closed_case_takes_no_capacity_assessment() -> None:
    c = case(child_date_of_birth=date(2008, 3, 1))
    c.close(CloseConsentCase(c.referral_id, TODAY, "referral closed"))
    with pytest.raises(Conflict, match="capacity assessment"):
        c.record_capacity_assessment(
            RecordCapacityAssessment(c.referral_id, INVOLVEMENT, False, TODAY, "ep-1", "mca-3"),
            TODAY,
        )
    assert c.assessments == {}


def test_consent_can_still_be_withdrawn_after_the_case_closed() -> None:
    c = closed()
    c.events.clear()
    decide(c, "p-1", WITHDRAWN, method=ConsentMethod.VERBAL, evidence_ref=None)
    [changed] = statuses(c)
    assert changed.involvement is InvolvementConsent.WITHDRAWN and not changed.involvement_valid


def test_a_closed_case_no_longer_expires_by_time() -> None:
    c = closed(looked_after=True)  # grants expire after two years by default
    assert c.decisions[0].expires_on == date(2028, 11, 2)
    assert c.next_reassessment(TODAY) is None
    young = closed(
        child_date_of_birth=date(2010, 9, 1), parental_responsibility_holder_ids=("p-1", "p-2")
    )
    assert young.next_reassessment(TODAY) is None  # nor hands over to the young person
