from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from eps_chassis.errors import Conflict, DomainError, Forbidden
from eps_chassis.http import status_for
from eps_contracts.common import PriorityGroup, RequesterKind
from eps_contracts.referrals import (
    CaseworkPaused,
    CaseworkResumed,
    CaseworkStage,
    CaseworkStageStarted,
    ChildForConsent,
    DuplicateReferralLinked,
    FeedbackRecipientKind,
    GraduatedApproachEvidence,
    RedirectDestination,
    ReferralAccepted,
    ReferralAwaitingConsent,
    ReferralAwaitingTriage,
    ReferralClosed,
    ReferralDeclined,
    ReferralReceived,
    ReferralRedirected,
    ReferralRouted,
    Requester,
)
from eps_contracts.sealed import Unsealed
from eps_referrals.domain.evidence import (
    GraduatedApproachMinimum,
    SchoolRegister,
    age_on,
    check_age,
    check_graduated_approach,
    check_request,
    check_school,
    check_source,
    months_between,
)
from eps_referrals.domain.model import ConsentView, Referral, ReferralStatus, referral_id_for
from eps_referrals.entrypoints.events import register_referral_command

from tests.support.builders import referrals as builders

S = ReferralStatus
VALID = ConsentView("granted", True, "granted by all")
WITHDRAWN = ConsentView("withdrawn", False, "withdrawn (p-1)")
MINIMUM = GraduatedApproachMinimum()
TODAY = date(2026, 11, 2)


def received(**kwargs: Any) -> Referral:
    cmd = register_referral_command(builders.referral_requested())
    return Referral.receive("leicester-city", cmd, **kwargs)


def at(status: ReferralStatus) -> Referral:
    """A referral brought to ``status`` through the allowed transitions."""
    referral = received(named_ep_id="ep-7")
    path = {
        S.AWAITING_CONSENT: [],
        S.AWAITING_TRIAGE: [lambda r: r.apply_consent(VALID)],
        S.ACCEPTED: [lambda r: r.apply_consent(VALID), lambda r: r.accept("ep-7")],
    }
    steps = list(path.get(status, path[S.ACCEPTED]))
    stages = list(CaseworkStage)

    def through(last: CaseworkStage) -> list[Callable[[Referral], None]]:
        """Each stage in order, up to ``last``."""

        def start(stage: CaseworkStage) -> Callable[[Referral], None]:
            def step(r: Referral) -> None:
                r.start_stage(stage)

            return step

        return [start(stage) for stage in stages[: stages.index(last) + 1]]

    if status in {S(s.value) for s in stages}:
        steps += through(CaseworkStage(status.value))
    if status is S.PAUSED:
        steps += [*through(CaseworkStage.ASSESSMENT), lambda r: r.apply_consent(WITHDRAWN)]
    if status is S.CLOSED:
        steps += [*through(CaseworkStage.REVIEW), lambda r: r.close(builders.feedback(), TODAY)]
    if status is S.DECLINED:
        steps = [lambda r: r.decline("not an EP matter")]
    if status is S.REDIRECTED:
        steps = path[S.AWAITING_TRIAGE] + [
            lambda r: r.redirect(RedirectDestination.SENDIASS, "parent advice", None)
        ]
    for step in steps:
        step(referral)
    assert referral.status is status
    referral.events.clear()
    return referral


def kinds(referral: Referral) -> list[type]:
    return [type(e) for e in referral.events]


# -- request validation ------------------------------------------------------------------------


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


def _refusal(**overrides: object) -> DomainError:
    cmd = register_referral_command(builders.referral_requested(**overrides))
    with pytest.raises(DomainError) as refused:
        check_request(cmd, MINIMUM)
    return refused.value


def test_a_child_under_18_needs_a_parental_responsibility_holder() -> None:
    refused = _refusal(child=builders.child(parental_responsibility=()))
    assert refused.field == "child.parental_responsibility"


def test_a_young_adult_needs_no_parental_responsibility_holder() -> None:
    cmd = register_referral_command(
        builders.referral_requested(
            requester=Requester(kind=RequesterKind.PARENT_CARER, person_id="p-1", name="A"),
            child=builders.child(date_of_birth=date(2006, 1, 1), parental_responsibility=()),
        )
    )
    check_request(cmd, MINIMUM)


def test_the_virtual_school_refers_looked_after_children_only() -> None:
    requester = Requester(kind=RequesterKind.VIRTUAL_SCHOOL, person_id="vs-1", name="VS")
    assert _refusal(requester=requester).field == "child.looked_after"


def test_a_senco_refers_only_their_own_schools_children() -> None:
    assert _refusal(child=builders.child(school_urn="654321")).field == "child.school_urn"


def test_an_exclusion_tier_needs_the_risk_of_exclusion_group() -> None:
    assert _refusal(exclusion_tier=4).field == "exclusion_tier"
    cmd = register_referral_command(
        builders.referral_requested(
            exclusion_tier=4, priority_groups=(PriorityGroup.RISK_OF_EXCLUSION,)
        )
    )
    check_request(cmd, MINIMUM)


def test_a_school_unknown_to_the_las_register_is_refused_naming_the_field() -> None:
    with pytest.raises(DomainError) as refused:
        check_school("654321", SchoolRegister(in_use=True, knows=False))
    assert refused.value.field == "child.school_urn" and status_for(refused.value) == 422
    assert "unknown school 654321" in str(refused.value)


@pytest.mark.parametrize(
    ("urn", "register"),
    [
        ("123456", SchoolRegister(in_use=True, knows=True)),  # known, named EP or not
        (None, SchoolRegister(in_use=True, knows=False)),  # a setting without URN, or none
        ("654321", SchoolRegister(in_use=False, knows=False)),  # the LA has no register yet
    ],
)
def test_a_known_school_no_school_or_no_register_yet_passes(
    urn: str | None, register: SchoolRegister
) -> None:
    check_school(urn, register)


@pytest.mark.parametrize("kind", [k for k in RequesterKind if k is not RequesterKind.SCHOOL_SENCO])
def test_school_staff_submit_only_their_schools_own_requests(kind: RequesterKind) -> None:
    with pytest.raises(Forbidden) as refused:
        check_source(kind, school_staff=True)
    assert refused.value.field == "requester.kind"
    check_source(RequesterKind.SCHOOL_SENCO, school_staff=True)


@pytest.mark.parametrize("kind", list(RequesterKind))
def test_the_eps_enters_a_request_from_any_source(kind: RequesterKind) -> None:
    check_source(kind, school_staff=False)


def evidence(**overrides: Any) -> GraduatedApproachEvidence:
    values: dict[str, Any] = dict(
        sen_support_since=date(2025, 1, 6),
        review_cycles_completed=2,
        strategies_tried=("phonics",),
        attainment_summary="Below expectations.",
        attendance_percent=94.5,
    )
    values.update(overrides)
    return GraduatedApproachEvidence(**values)


@pytest.mark.parametrize(
    ("given", "minimum", "field"),
    [
        (None, MINIMUM, "graduated_approach"),
        ({"review_cycles_completed": 1}, MINIMUM, "graduated_approach.review_cycles_completed"),
        ({"strategies_tried": ()}, MINIMUM, "graduated_approach.strategies_tried"),
        ({"strategies_tried": ("  ",)}, MINIMUM, "graduated_approach.strategies_tried"),
        ({"sen_support_since": date(2026, 11, 3)}, MINIMUM, "graduated_approach.sen_support_since"),
        (
            {"sen_support_since": date(2026, 5, 3)},
            GraduatedApproachMinimum(months_on_sen_support=6),
            "graduated_approach.sen_support_since",
        ),
        (
            {"review_cycles_completed": 2},
            GraduatedApproachMinimum(review_cycles=3),
            "graduated_approach.review_cycles_completed",
        ),
    ],
)
def test_graduated_approach_evidence_below_the_las_minimum_is_refused_naming_the_field(
    given: dict[str, object] | None, minimum: GraduatedApproachMinimum, field: str
) -> None:
    with pytest.raises(DomainError) as refused:
        check_graduated_approach(None if given is None else evidence(**given), minimum, TODAY)
    assert refused.value.field == field


def test_evidence_meeting_a_configured_minimum_passes() -> None:
    check_graduated_approach(
        evidence(sen_support_since=date(2026, 5, 2)),
        GraduatedApproachMinimum(review_cycles=2, strategies=1, months_on_sen_support=6),
        TODAY,
    )
    check_graduated_approach(
        evidence(review_cycles_completed=0), GraduatedApproachMinimum(review_cycles=0), TODAY
    )


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        (date(2026, 1, 31), date(2026, 2, 28), 1),  # month end to month end
        (date(2026, 1, 31), date(2026, 2, 27), 0),
        (date(2026, 5, 2), date(2026, 11, 2), 6),
        (date(2026, 5, 3), date(2026, 11, 2), 5),
        (date(2025, 12, 15), date(2026, 1, 15), 1),
    ],
)
def test_whole_months_between_dates(start: date, end: date, months: int) -> None:
    assert months_between(start, end) == months


# -- arrival ------------------------------------------------------------------------------------


def test_receiving_a_request_records_received_and_routing_without_names() -> None:
    referral = received(named_ep_id="ep-7")
    assert referral.status is S.AWAITING_CONSENT
    assert kinds(referral) == [ReferralReceived, ReferralRouted]
    event = referral.events[0]
    assert isinstance(event, ReferralReceived)
    assert event.child_id == referral.child_id
    assert event.parental_responsibility_holder_ids == ("p-1",)
    # the date of birth and looked-after status travel sealed for the child (the outbox seals)
    assert isinstance(event.child, Unsealed) and event.child.child_id == referral.child_id
    assert isinstance(event.child.content, ChildForConsent)
    for e in referral.events:
        text = e.model_dump_json(exclude={"child"})
        assert "Sam" not in text and "Taylor" not in text


def test_no_named_ep_yet_is_a_visible_routing_state() -> None:
    referral = received()
    routed = referral.events[1]
    assert isinstance(routed, ReferralRouted) and routed.named_ep_id is None
    referral.route_to("ep-8")
    assert referral.named_ep_id == "ep-8"


def test_the_child_id_is_stable_for_the_same_child_and_differs_by_tenant() -> None:
    cmd = register_referral_command(builders.referral_requested())
    again = register_referral_command(builders.referral_requested())
    a = Referral.receive("leicester-city", cmd).child_id
    assert a == Referral.receive("leicester-city", again).child_id
    assert a != Referral.receive("milton-keynes", cmd).child_id


def test_the_referral_id_follows_from_the_request() -> None:
    cmd = register_referral_command(builders.referral_requested())
    referral = Referral.receive("leicester-city", cmd)
    assert referral.referral_id == referral_id_for("leicester-city", cmd.request_id)


def test_consent_known_before_the_referral_applies_on_arrival() -> None:
    referral = received(named_ep_id="ep-7", consent=VALID)
    assert referral.status is S.AWAITING_TRIAGE
    assert kinds(referral) == [ReferralReceived, ReferralRouted, ReferralAwaitingTriage]


def test_a_duplicate_is_linked_to_the_open_referral_and_publishes_no_receipt() -> None:
    original = received()
    cmd = register_referral_command(builders.referral_requested())
    duplicate = Referral.link_duplicate("leicester-city", cmd, original.referral_id)
    assert duplicate.status is S.DUPLICATE and not duplicate.is_open
    [linked] = duplicate.events
    assert isinstance(linked, DuplicateReferralLinked)
    assert linked.duplicate_of == original.referral_id


# -- consent and triage ---------------------------------------------------------------------------


def test_valid_consent_moves_to_triage_and_losing_it_moves_back() -> None:
    referral = at(S.AWAITING_CONSENT)
    referral.apply_consent(VALID)
    assert referral.status is S.AWAITING_TRIAGE
    referral.apply_consent(WITHDRAWN)
    assert referral.status is S.AWAITING_CONSENT
    assert kinds(referral) == [ReferralAwaitingTriage, ReferralAwaitingConsent]


def test_an_unchanged_consent_answer_records_nothing() -> None:
    referral = at(S.AWAITING_TRIAGE)
    referral.apply_consent(VALID)
    assert referral.events == []


def test_the_named_ep_accepts() -> None:
    referral = at(S.AWAITING_TRIAGE)
    referral.check_triager("ep-7", senior=False)
    referral.accept("ep-7")
    assert referral.status is S.ACCEPTED and kinds(referral) == [ReferralAccepted]


def test_only_the_named_ep_or_a_senior_ep_triages() -> None:
    referral = at(S.AWAITING_TRIAGE)
    with pytest.raises(Forbidden):
        referral.check_triager("ep-other", senior=False)
    referral.check_triager("ep-senior", senior=True)
    referral.named_ep_id = None
    with pytest.raises(Forbidden, match="no named EP yet"):
        referral.check_triager("ep-7", senior=False)


def test_a_referral_cannot_be_accepted_while_awaiting_consent() -> None:
    with pytest.raises(Conflict, match="awaiting_consent; it must be awaiting_triage"):
        at(S.AWAITING_CONSENT).accept("ep-7")


def test_decline_records_the_reason() -> None:
    referral = at(S.AWAITING_TRIAGE)
    referral.decline("Needs are met by the school's current plan")
    [declined] = referral.events
    assert isinstance(declined, ReferralDeclined) and "current plan" in declined.reason
    assert not referral.is_open


@pytest.mark.parametrize("destination", list(RedirectDestination))
def test_redirect_to_each_destination(destination: RedirectDestination) -> None:
    referral = at(S.AWAITING_TRIAGE)
    referral.redirect(destination, "better placed there", "CAMHS")
    [redirected] = referral.events
    assert isinstance(redirected, ReferralRedirected) and redirected.destination is destination


def test_redirecting_to_another_service_names_it() -> None:
    with pytest.raises(Conflict, match="names the service"):
        at(S.AWAITING_TRIAGE).redirect(RedirectDestination.ANOTHER_SERVICE, "x", None)


# -- casework -----------------------------------------------------------------------------------


def test_casework_runs_through_its_stages_to_closing_with_feedback() -> None:
    referral = at(S.ACCEPTED)
    for stage in CaseworkStage:
        referral.start_stage(stage)
    referral.close(builders.feedback(), TODAY)
    assert referral.status is S.CLOSED
    assert kinds(referral) == [CaseworkStageStarted] * 4 + [ReferralClosed]
    closed = referral.events[-1]
    assert isinstance(closed, ReferralClosed)
    assert closed.feedback_sent_to == (FeedbackRecipientKind.SCHOOL, FeedbackRecipientKind.PARENTS)
    assert referral.feedback == builders.feedback()


def test_casework_skips_a_stage_only_with_the_eps_reason_and_never_goes_back() -> None:
    referral = at(S.ASSESSMENT)
    with pytest.raises(DomainError, match="skips joint_plan: record why") as refused:
        referral.start_stage(CaseworkStage.REVIEW)
    assert refused.value.field == "skip_reason" and referral.status is S.ASSESSMENT
    with pytest.raises(DomainError, match="skips joint_plan"):
        referral.start_stage(CaseworkStage.REVIEW, "   ")
    referral.start_stage(CaseworkStage.REVIEW, "the plan was agreed at the assessment meeting")
    [started] = referral.events
    assert isinstance(started, CaseworkStageStarted)
    assert started.stage is CaseworkStage.REVIEW
    assert started.skipped == (CaseworkStage.JOINT_PLAN,)
    assert started.skip_reason == "the plan was agreed at the assessment meeting"
    for stage in (CaseworkStage.ASSESSMENT, CaseworkStage.REVIEW):
        with pytest.raises(Conflict, match="already at review"):
            referral.start_stage(stage)


def test_a_stage_that_skips_nothing_carries_no_reason() -> None:
    referral = at(S.ACCEPTED)
    referral.start_stage(CaseworkStage.CONSULTATION, "not needed")
    [started] = referral.events
    assert isinstance(started, CaseworkStageStarted)
    assert started.skipped == () and started.skip_reason is None


def test_casework_starts_only_with_valid_involvement_consent() -> None:
    referral = at(S.ACCEPTED)
    referral.apply_consent(WITHDRAWN)
    assert referral.status is S.ACCEPTED
    with pytest.raises(Conflict, match="without valid involvement consent"):
        referral.start_stage(CaseworkStage.CONSULTATION)


def test_withdrawal_pauses_active_casework_and_valid_consent_resumes_it() -> None:
    referral = at(S.ASSESSMENT)
    referral.apply_consent(WITHDRAWN)
    assert referral.status is S.PAUSED
    with pytest.raises(Conflict, match="paused"):
        referral.start_stage(CaseworkStage.JOINT_PLAN)
    referral.apply_consent(VALID)
    assert referral.status is S.ASSESSMENT
    paused, resumed = referral.events
    assert isinstance(paused, CaseworkPaused) and paused.stage is CaseworkStage.ASSESSMENT
    assert "withdrawn" in paused.reason
    assert isinstance(resumed, CaseworkResumed) and resumed.stage is CaseworkStage.ASSESSMENT


def test_expiry_pauses_casework_too() -> None:
    referral = at(S.REVIEW)
    referral.apply_consent(ConsentView("expired", False, None))
    [paused] = referral.events
    assert isinstance(paused, CaseworkPaused) and paused.reason == "involvement consent expired"


def test_paused_casework_can_be_closed_with_its_feedback() -> None:
    referral = at(S.PAUSED)
    referral.close(builders.feedback(), TODAY)
    assert referral.status is S.CLOSED and referral.paused_stage is None


ALLOWED = {
    "accept": {S.AWAITING_TRIAGE},
    "decline": {S.AWAITING_CONSENT, S.AWAITING_TRIAGE},
    "redirect": {S.AWAITING_TRIAGE},
    "start consultation": {S.ACCEPTED},
    "close": {S.CONSULTATION, S.ASSESSMENT, S.JOINT_PLAN, S.REVIEW, S.PAUSED},
}
ACTIONS = {
    "accept": lambda r: r.accept("ep-7"),
    "decline": lambda r: r.decline("no"),
    "redirect": lambda r: r.redirect(RedirectDestination.INCLUSION_FORUM, "tier 2", None),
    "start consultation": lambda r: r.start_stage(CaseworkStage.CONSULTATION),
    "close": lambda r: r.close(builders.feedback(), TODAY),
}
REACHABLE = [s for s in S if s not in (S.RECEIVED, S.DUPLICATE)]


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("status", REACHABLE)
def test_every_action_is_allowed_only_from_its_states(action: str, status: ReferralStatus) -> None:
    referral = at(status)
    if status in ALLOWED[action]:
        ACTIONS[action](referral)
        assert referral.events
    else:
        with pytest.raises(Conflict) as refused:
            ACTIONS[action](referral)
        assert str(status) in str(refused.value)
        assert referral.status is status and referral.events == []
