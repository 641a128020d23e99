import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta

from eps_chassis.london import LONDON
from eps_contracts.scheduling import AppointmentKind
from eps_scheduling.domain.allocation import (
    FastTrackNeed,
    allocate,
    displaceable,
    new_slot_for_displaced,
    option_for,
    plan_displacement,
    unknown_school,
)
from eps_scheduling.domain.availability import clash
from eps_scheduling.domain.calendar import Interval, ceil_to_step
from eps_scheduling.domain.model import Appointment, Ep, EpRole, GeoPoint, Policy
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.builders.scheduling import appointment, at, ep, school

MONDAY = date(2026, 11, 23)
NOW = at(MONDAY, 9)
POLICY = Policy(travel_buffer_minutes=30, fast_track_step_minutes=5)
NEAR = GeoPoint(52.64, -1.14)
FAR = GeoPoint(52.95, -1.15)  # Nottingham, about 35 km away


def need(eps_needed: int = 1, *, by: datetime | None = None, senior: bool = False) -> FastTrackNeed:
    return FastTrackNeed(
        incident_id=uuid.uuid4(),
        school=school("named"),
        eps_needed=eps_needed,
        needed_by=by or at(MONDAY, 12),
        duration_minutes=120,
        senior_lead_required=senior,
        on_site=True,
    )


def whole_day(
    ep_id: str, kind: AppointmentKind = AppointmentKind.STATUTORY_ASSESSMENT_VISIT
) -> Appointment:
    return appointment(ep_id, at(MONDAY, 9), at(MONDAY, 17), kind=kind, place="999999")


def test_the_named_ep_goes_first_when_free_even_if_a_rota_ep_is_nearer() -> None:
    named = ep("named", base=FAR, on_rota=False)
    rota = ep("rota", base=NEAR)
    result = allocate(need(), [rota, named], {}, NOW, POLICY)
    assert [o.ep.ep_id for o in result.chosen] == ["named"]
    assert result.chosen[0].is_named_ep
    assert result.chosen[0].slot.start == NOW
    assert result.shortfall == 0


def test_when_the_named_ep_is_tied_up_the_nearest_rota_eps_go() -> None:
    eps = [
        ep("named"),
        ep("far", base=FAR),
        ep("near", base=NEAR),
        ep("off-rota", base=NEAR, on_rota=False),
    ]
    result = allocate(need(2), eps, {"named": [whole_day("named")]}, NOW, POLICY)
    assert [o.ep.ep_id for o in result.chosen] == ["near", "far"]
    assert not any(o.is_named_ep for o in result.chosen)


def test_level_size_is_met_with_the_named_ep_plus_rota_and_a_shortfall_is_reported() -> None:
    eps = [ep("named"), ep("r1"), ep("r2", on_rota=False)]
    result = allocate(need(3), eps, {}, NOW, POLICY)
    assert [o.ep.ep_id for o in result.chosen] == ["named", "r1"]
    assert result.shortfall == 1
    assert result.reason == "only 2 of 3 EPs can start by 2026-11-23 12:00 (London)"


def test_a_full_allocation_has_no_reason() -> None:
    result = allocate(need(2), [ep("named"), ep("r1")], {}, NOW, POLICY)
    assert result.shortfall == 0 and result.reason is None


def test_a_missing_senior_lead_is_reported_even_when_the_numbers_are_met() -> None:
    result = allocate(need(2, senior=True), [ep("named"), ep("r1")], {}, NOW, POLICY)
    assert [o.ep.ep_id for o in result.chosen] == ["named", "r1"]
    assert result.shortfall == 0
    assert result.reason == "no senior or principal EP can lead"


def test_a_school_scheduling_does_not_know_gets_nobody_and_the_reason() -> None:
    answer = unknown_school("654321", 3)
    assert answer.chosen == () and answer.shortfall == 3
    assert answer.reason is not None and "school 654321 is not known" in answer.reason


def test_a_senior_lead_is_added_when_the_level_needs_one() -> None:
    eps = [
        ep("named"),
        ep("r1", base=NEAR),
        ep("principal", role=EpRole.PRINCIPAL_EP, on_rota=False, base=FAR),
    ]
    result = allocate(need(2, senior=True), eps, {}, NOW, POLICY)
    assert [o.ep.ep_id for o in result.chosen] == ["principal", "named"]


def test_a_senior_named_ep_is_the_lead_themselves() -> None:
    eps = [ep("named", role=EpRole.SENIOR_EP), ep("r1"), ep("principal", role=EpRole.PRINCIPAL_EP)]
    result = allocate(need(2, senior=True), eps, {}, NOW, POLICY)
    assert [o.ep.ep_id for o in result.chosen] == ["named", "r1"]


def test_an_assistant_psychologist_is_never_sent() -> None:
    eps = [ep("named", role=EpRole.ASSISTANT_PSYCHOLOGIST), ep("rota")]
    result = allocate(need(), eps, {}, NOW, POLICY)
    assert [o.ep.ep_id for o in result.chosen] == ["rota"]


def test_a_free_ep_is_preferred_to_one_who_must_drop_routine_work() -> None:
    eps = [ep("named", on_rota=False), ep("busy", base=NEAR), ep("free", base=FAR)]
    busy_day = whole_day("busy", AppointmentKind.CONSULTATION)
    diaries = {"named": [whole_day("named")], "busy": [busy_day]}
    result = allocate(need(), eps, diaries, NOW, POLICY)
    assert [o.ep.ep_id for o in result.chosen] == ["free"]
    assert result.chosen[0].displaced == ()


def test_routine_work_is_displaced_when_nobody_is_free_but_statutory_work_never() -> None:
    eps = [ep("named", on_rota=False), ep("routine"), ep("statutory")]
    routine = [
        appointment("routine", at(MONDAY, 9), at(MONDAY, 10)),
        appointment("routine", at(MONDAY, 10), at(MONDAY, 17)),
    ]
    diaries = {
        "named": [whole_day("named")],
        "statutory": [whole_day("statutory")],
        "routine": routine,
    }
    result = allocate(need(2), eps, diaries, NOW, POLICY)
    assert [o.ep.ep_id for o in result.chosen] == ["routine"]
    assert result.shortfall == 1
    # 09:00-11:00 clashes with both; starting at 10:00 or later clashes with the long one only
    chosen = result.chosen[0]
    assert len(chosen.displaced) == 1
    assert chosen.displaced[0].appointment_id == routine[1].appointment_id


def test_an_appointment_already_under_way_is_not_displaced() -> None:
    started = appointment("rota", at(MONDAY, 8, 30), at(MONDAY, 17))
    option = option_for(ep("rota"), [started], need(), NOW, POLICY)
    assert option is None


def test_working_hours_bound_the_response() -> None:
    before_work = need(by=at(MONDAY, 8, 30))
    assert option_for(ep("rota"), [], before_work, at(MONDAY, 7), POLICY) is None
    late = option_for(ep("rota"), [], need(by=at(MONDAY, 16)), at(MONDAY, 14, 2), POLICY)
    assert late is not None and late.slot.start == at(MONDAY, 14, 5)
    assert option_for(ep("rota"), [], need(by=at(MONDAY, 16)), at(MONDAY, 15, 5), POLICY) is None


def statutory_visit_elsewhere(hh_from: int, hh_to: int) -> Appointment:
    return appointment(
        "rota",
        at(MONDAY, hh_from),
        at(MONDAY, hh_to),
        kind=AppointmentKind.STATUTORY_ASSESSMENT_VISIT,
        place="999999",
    )


def test_travel_buffer_after_a_visit_elsewhere_delays_the_start() -> None:
    option = option_for(ep("rota"), [statutory_visit_elsewhere(9, 10)], need(), NOW, POLICY)
    assert option is not None and option.slot.start == at(MONDAY, 10, 30)


def test_a_telephone_response_needs_no_travel_buffer() -> None:
    phone = FastTrackNeed(
        incident_id=uuid.uuid4(),
        school=school("named"),
        eps_needed=1,
        needed_by=at(MONDAY, 17),
        duration_minutes=60,
        senior_lead_required=False,
        on_site=False,
    )
    option = option_for(ep("rota"), [statutory_visit_elsewhere(9, 10)], phone, NOW, POLICY)
    assert option is not None and option.slot.start == at(MONDAY, 10)


def test_a_displaced_appointment_moves_to_the_first_slot_after_the_incident() -> None:
    rota = ep("rota")
    displaced = appointment("rota", at(MONDAY, 10), at(MONDAY, 11))
    incident = appointment(
        "rota", at(MONDAY, 9), at(MONDAY, 11), kind=AppointmentKind.CRITICAL_INCIDENT_RESPONSE
    )
    moved = new_slot_for_displaced(rota, displaced, [incident], incident.ends_at, POLICY)
    assert moved is not None and moved.start == at(MONDAY, 11)
    no_room = Policy(reschedule_horizon_days=1)
    full_week = [
        appointment("rota", at(MONDAY + timedelta(days=d), 9), at(MONDAY + timedelta(days=d), 17))
        for d in range(0, 3)
    ]
    assert new_slot_for_displaced(rota, displaced, full_week, at(MONDAY, 17), no_room) is None


def test_displaced_appointments_never_move_onto_one_not_yet_moved() -> None:
    """Each move is written while the later displaced ones still hold their old times."""
    rota = ep("rota")
    first = appointment("rota", at(MONDAY, 9), at(MONDAY, 10, 30))
    second = appointment("rota", at(MONDAY, 10, 30), at(MONDAY, 11, 30))
    incident = appointment(
        "rota", at(MONDAY, 9), at(MONDAY, 11), kind=AppointmentKind.CRITICAL_INCIDENT_RESPONSE
    )
    plan = plan_displacement(rota, [first, second], [first, second], incident, POLICY)
    assert [(a.appointment_id, s) for a, s in plan] == [
        (first.appointment_id, Interval(at(MONDAY, 11, 30), at(MONDAY, 13))),
        (second.appointment_id, Interval(at(MONDAY, 13), at(MONDAY, 14))),
    ]
    # replay the writes as the database sees them: no write may overlap a row in place
    in_place = {a.appointment_id: a.interval for a in (first, second)}
    for moved, slot in plan:
        del in_place[moved.appointment_id]
        assert slot is not None
        assert not any(slot.overlaps(other) for other in in_place.values())
        in_place[moved.appointment_id] = slot
    assert not any(incident.interval.overlaps(other) for other in in_place.values())
    assert (first.starts_at, second.starts_at) == (at(MONDAY, 9), at(MONDAY, 10, 30))


def test_a_displaced_appointment_with_no_room_is_planned_for_cancellation() -> None:
    rota = ep("rota")
    routine = appointment("rota", at(MONDAY, 9), at(MONDAY, 10))
    incident = appointment(
        "rota", at(MONDAY, 9), at(MONDAY, 17), kind=AppointmentKind.CRITICAL_INCIDENT_RESPONSE
    )
    full = [
        appointment("rota", at(MONDAY + timedelta(days=d), 9), at(MONDAY + timedelta(days=d), 17))
        for d in range(1, 3)
    ]
    plan = plan_displacement(
        rota, [routine], [routine, *full], incident, Policy(reschedule_horizon_days=1)
    )
    assert plan == [(routine, None)]


def least_disruptive_by_clash(
    candidate: Ep, diary: list[Appointment], wanted: FastTrackNeed
) -> tuple[datetime, int] | None:
    """The rule stated plainly: try every stepped start, keep the fewest displaced (earliest)."""
    best: tuple[datetime, int] | None = None
    start = ceil_to_step(NOW, POLICY.fast_track_step_minutes)
    while start <= wanted.needed_by:
        slot = Interval(start, start + timedelta(minutes=wanted.duration_minutes))
        hours = candidate.pattern.hours_on(start.astimezone(LONDON).date())
        if hours is not None and hours.contains(slot):
            blocking = [a for a in diary if clash(a, slot, wanted.place, POLICY)]
            if all(displaceable(a, NOW) for a in blocking):
                if best is None or len(blocking) < best[1]:
                    best = (start, len(blocking))
                if not blocking:
                    break
        start += timedelta(minutes=POLICY.fast_track_step_minutes)
    return best


@settings(max_examples=300, deadline=None)
@given(
    busy=st.lists(
        st.tuples(
            st.integers(-8, 16 * 4),  # quarter hours from 09:00 (some started before now)
            st.integers(1, 8),
            st.sampled_from(["123456", "999999", None]),
            st.sampled_from(
                [AppointmentKind.CONSULTATION, AppointmentKind.STATUTORY_ASSESSMENT_VISIT]
            ),
        ),
        max_size=12,
    ),
    by_quarters=st.integers(0, 24),
)
def test_the_fast_track_option_is_what_trying_every_slot_gives(
    busy: list[tuple[int, int, str | None, AppointmentKind]], by_quarters: int
) -> None:
    diary = []
    for start_q, length_q, place, kind in busy:
        start = NOW + timedelta(minutes=15 * start_q)
        diary.append(
            appointment(
                "a", start, start + timedelta(minutes=15 * length_q), kind=kind, place=place
            )
        )
    wanted = need(by=NOW + timedelta(minutes=15 * by_quarters))
    option = option_for(ep("a"), diary, wanted, NOW, POLICY)
    expected = least_disruptive_by_clash(ep("a"), diary, wanted)
    assert (None if option is None else (option.slot.start, len(option.displaced))) == expected


# --- a later request for the same incident (the coordinator asking for EPs still missing) ----


def again(eps_needed: int, going: set[str], *, senior: bool = False) -> FastTrackNeed:
    return replace(need(eps_needed, senior=senior), excluded_ep_ids=frozenset(going))


def test_eps_already_going_are_never_chosen_again_not_even_the_named_ep() -> None:
    eps = [ep("named"), ep("r1", base=NEAR), ep("r2", base=FAR)]
    result = allocate(again(1, {"named", "r1"}), eps, {}, NOW, POLICY)
    assert [o.ep.ep_id for o in result.chosen] == ["r2"]
    assert result.shortfall == 0 and result.reason is None


def test_when_only_eps_already_going_are_free_the_shortfall_and_reason_say_so() -> None:
    eps = [ep("named"), ep("r1")]
    result = allocate(again(1, {"named", "r1"}), eps, {}, NOW, POLICY)
    assert result.chosen == () and result.shortfall == 1
    assert result.reason == "only 0 of 1 EPs can start by 2026-11-23 12:00 (London)"


def test_a_senior_already_going_leads_so_no_second_lead_is_sought() -> None:
    eps = [
        ep("named"),
        ep("lead", role=EpRole.SENIOR_EP),
        ep("principal", role=EpRole.PRINCIPAL_EP, on_rota=False),
        ep("r1", base=FAR),
    ]
    result = allocate(again(1, {"named", "lead"}, senior=True), eps, {}, NOW, POLICY)
    assert [o.ep.ep_id for o in result.chosen] == ["r1"]  # not the principal: a lead is going
    assert result.reason is None


def test_without_a_senior_going_a_later_request_still_finds_the_lead() -> None:
    eps = [ep("named"), ep("r1"), ep("principal", role=EpRole.PRINCIPAL_EP, on_rota=False)]
    result = allocate(again(1, {"named"}, senior=True), eps, {}, NOW, POLICY)
    assert [o.ep.ep_id for o in result.chosen] == ["principal"]


@settings(max_examples=50, deadline=None)
@given(
    st.sets(st.sampled_from(["named", "r1", "r2", "r3", "r4"])),
    st.integers(min_value=1, max_value=5),
)
def test_no_excluded_ep_is_ever_chosen(going: set[str], eps_needed: int) -> None:
    eps = [ep("named"), *(ep(f"r{i}") for i in range(1, 5))]
    result = allocate(again(eps_needed, going), eps, {}, NOW, POLICY)
    chosen = [o.ep.ep_id for o in result.chosen]
    assert not set(chosen) & going and len(chosen) == len(set(chosen))
    assert len(chosen) == min(eps_needed, 5 - len(going))
    assert result.shortfall == eps_needed - len(chosen)


# --- searching only the diaries the choice needs ---------------------------------------------


def allocate_by_searching_everyone(
    wanted: FastTrackNeed, eps: list[Ep], diaries: dict[str, list[Appointment]]
) -> list[str]:
    """The module's rules applied plainly: every eligible EP's option, ranked, then chosen."""
    named_id = wanted.school.named_ep_id
    lead_going = any(e.ep_id in wanted.excluded_ep_ids and e.role.is_senior for e in eps)
    options = {}
    for candidate in eps:
        if candidate.ep_id in wanted.excluded_ep_ids:
            continue
        if candidate.ep_id == named_id or candidate.on_rota or wanted.senior_lead_required:
            found = option_for(
                candidate,
                diaries.get(candidate.ep_id, []),
                wanted,
                NOW,
                POLICY,
                is_named_ep=candidate.ep_id == named_id,
            )
            if found is not None:
                options[candidate.ep_id] = found
    ranked = sorted(options.values(), key=lambda o: o.rank())  # stable: ties keep EP order
    named = options.get(named_id)
    chosen = []
    if wanted.senior_lead_required and not lead_going and not (named and named.ep.role.is_senior):
        chosen += [o for o in ranked if o.ep.role.is_senior][:1]
    if named is not None and named not in chosen:
        chosen.append(named)
    chosen += [o for o in ranked if o.ep.on_rota and o not in chosen]
    return [o.ep.ep_id for o in chosen[: wanted.eps_needed]]


@settings(max_examples=300, deadline=None)
@given(
    team=st.lists(
        st.tuples(
            st.sampled_from(list(EpRole)),
            st.booleans(),  # on the rota
            st.integers(0, 2),  # distance band: equal bands tie on distance
            st.lists(  # the day's appointments: quarter hours from 09:00, length, kind
                st.tuples(
                    st.integers(-4, 12),
                    st.integers(1, 8),
                    st.sampled_from(
                        [AppointmentKind.CONSULTATION, AppointmentKind.STATUTORY_ASSESSMENT_VISIT]
                    ),
                ),
                max_size=4,
            ),
        ),
        min_size=1,
        max_size=8,
    ),
    named_index=st.integers(0, 7),
    going=st.sets(st.integers(0, 7), max_size=3),
    eps_needed=st.integers(1, 4),
    senior=st.booleans(),
)
def test_searching_the_fewest_diaries_chooses_what_searching_every_diary_chooses(
    team: list[tuple[EpRole, bool, int, list[tuple[int, int, AppointmentKind]]]],
    named_index: int,
    going: set[int],
    eps_needed: int,
    senior: bool,
) -> None:
    eps = [
        ep(f"e{i}", role=role, on_rota=on_rota, base=GeoPoint(52.6369 + band * 0.05, -1.1398))
        for i, (role, on_rota, band, _) in enumerate(team)
    ]
    diaries = {
        f"e{i}": [
            appointment(
                f"e{i}",
                NOW + timedelta(minutes=15 * start),
                NOW + timedelta(minutes=15 * (start + length)),
                kind=kind,
            )
            for start, length, kind in busy
        ]
        for i, (_, _, _, busy) in enumerate(team)
    }
    wanted = replace(
        need(eps_needed, by=NOW + timedelta(hours=1), senior=senior),
        school=school(f"e{named_index}"),
        excluded_ep_ids=frozenset(f"e{i}" for i in going),
    )
    result = allocate(wanted, eps, diaries, NOW, POLICY)
    assert [o.ep.ep_id for o in result.chosen] == allocate_by_searching_everyone(
        wanted, eps, diaries
    )


def test_once_enough_nearer_eps_are_free_the_farther_diaries_are_not_searched() -> None:
    eps = [ep("named"), ep("near", base=NEAR), *(ep(f"far{i}", base=FAR) for i in range(5))]

    class Searched(dict[str, list[Appointment]]):
        def get(self, key: str, default: object = None) -> list[Appointment]:
            self.setdefault(key, [])
            return self[key]

    diaries = Searched()
    result = allocate(need(2), eps, diaries, NOW, POLICY)
    assert [o.ep.ep_id for o in result.chosen] == ["named", "near"]
    assert set(diaries) == {"named", "near"}
