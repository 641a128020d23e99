"""The notifications service's handlers against a fake unit of work: who is paged for what,
once, on which channels; what an acknowledgement withdraws; how outcomes are recorded."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from eps_contracts.notifications import (
    Channel,
    NotificationFailed,
    NotificationSent,
    NotificationWithdrawn,
    Provider,
    Purpose,
)
from eps_notifications.domain import commands
from eps_notifications.domain.messages import IncidentFacts
from eps_notifications.domain.model import (
    Accepted,
    Contact,
    ContactDirectory,
    PermanentFailure,
    RetryPolicy,
    School,
    Status,
    TemporaryFailure,
)
from eps_notifications.service_layer import handlers

from tests.support.clock import FakeClock
from tests.support.fakes.notifications import FakeNotificationsUnitOfWork

NIGHT = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
RETRY = RetryPolicy(timedelta(seconds=30), timedelta(minutes=15), max_attempts=3)
DIRECTORY = ContactDirectory(
    contacts=(
        Contact("coord-1", mobile="+447700900001"),
        Contact("coord-2", mobile="+447700900002", email="c2@example.org"),
        Contact("ep-7", email="ep7@example.org", email_via=Provider.SMTP),
        Contact("duty-1", mobile="+447700900009"),
    ),
    duty_person_id="duty-1",
)


class PagingUnitOfWork(FakeNotificationsUnitOfWork):
    clock: FakeClock


def uow_with_incident(incident_id: uuid.UUID) -> PagingUnitOfWork:
    uow = PagingUnitOfWork(clock=FakeClock(NIGHT))
    uow.contacts.kept = DIRECTORY
    uow.incidents.facts[incident_id] = IncidentFacts(
        incident_id, "123456", 2, "sudden_death_of_pupil", NIGHT
    )
    return uow


def page(incident_id: uuid.UUID, purpose: Purpose, to: str | None, **kw: Any) -> commands.Page:
    return commands.Page(incident_id, uuid.uuid4(), purpose, to, **kw)


async def test_a_person_is_paged_on_every_channel_they_have_once_per_event() -> None:
    incident = uuid.uuid4()
    uow = uow_with_incident(incident)
    cmd = page(incident, Purpose.INCIDENT_ESCALATED, "coord-2", reason="not acknowledged")
    first = await handlers.page(cmd, uow)
    again = await handlers.page(cmd, uow)  # the same event delivered twice
    assert [(n.channel, n.provider) for n in first] == [
        (Channel.SMS, Provider.GOVUK_NOTIFY),
        (Channel.EMAIL, Provider.GOVUK_NOTIFY),
    ]
    assert again == [] and len(uow.notifications.rows) == 2
    assert all(n.status == Status.PENDING and n.next_attempt_at == NIGHT for n in first)


async def test_someone_asked_to_acknowledge_is_asked_once_whichever_event_asks() -> None:
    incident = uuid.uuid4()
    uow = uow_with_incident(incident)
    await handlers.page(page(incident, Purpose.INCIDENT_REPORTED, "coord-1"), uow)
    # nobody on call: incidents reports it to the backup and says it escalated to the backup
    assert await handlers.page(page(incident, Purpose.INCIDENT_ESCALATED, "coord-1"), uow) == []
    assert len(uow.notifications.to("coord-1")) == 1


async def test_nobody_is_asked_to_acknowledge_an_acknowledged_incident() -> None:
    incident = uuid.uuid4()
    uow = uow_with_incident(incident)
    await handlers.page(page(incident, Purpose.INCIDENT_REPORTED, "coord-1"), uow)
    withdrawn = await handlers.stop_chain(commands.StopChain(incident), uow)
    late = await handlers.page(page(incident, Purpose.INCIDENT_ESCALATED, "coord-2"), uow)
    assert withdrawn == 1 and late == []
    [notice] = uow.events_of(NotificationWithdrawn)
    assert notice.recipient == "coord-1" and notice.reason == "the incident was acknowledged"
    # an EP going is still told where and when
    going = await handlers.page(page(incident, Purpose.EPS_ALLOCATED, "ep-7"), uow)
    assert [(n.channel, n.provider) for n in going] == [(Channel.EMAIL, Provider.SMTP)]


async def test_a_person_with_no_contact_details_is_recorded_as_failed_not_passed_over() -> None:
    incident = uuid.uuid4()
    uow = uow_with_incident(incident)
    [note] = await handlers.page(page(incident, Purpose.INCIDENT_REPORTED, "stranger"), uow)
    assert note.status == Status.FAILED
    [failed] = uow.events_of(NotificationFailed)
    assert (failed.recipient, failed.permanent, failed.person_unreached) == (
        "stranger",
        True,
        False,  # nothing was tried: the chain waits the level's timeout as usual
    )
    assert failed.reason == handlers.NO_CONTACT and failed.attempt == 0


async def test_a_breach_without_a_principal_ep_goes_to_the_duty_person() -> None:
    incident = uuid.uuid4()
    uow = uow_with_incident(incident)
    due = NIGHT + timedelta(minutes=15)
    cmd = page(incident, Purpose.TARGET_BREACHED, None, clock="acknowledge", due_at=due)
    [note] = await handlers.page(cmd, uow)
    assert note.recipient == "duty-1"
    assert "the acknowledge target (due 02:15 on Sun 29 Nov) was missed" in note.message.text


async def test_an_allocated_ep_is_told_once_per_incident_as_answers_accumulate() -> None:
    incident = uuid.uuid4()
    uow = uow_with_incident(incident)
    await handlers.set_schools(
        commands.SetSchools((School("123456", "Example Primary", "1 High Street, LE1 1AA"),)),
        uow,
    )
    starts = NIGHT + timedelta(hours=1)
    await handlers.page(page(incident, Purpose.EPS_ALLOCATED, "ep-7", starts_at=starts), uow)
    # a later answer lists every EP going, this one again
    assert await handlers.page(page(incident, Purpose.EPS_ALLOCATED, "ep-7"), uow) == []
    [note] = uow.notifications.to("ep-7")
    assert note.message.text == (
        "EPS critical incident, level 2 (sudden death of pupil) at Example Primary (123456):"
        " you are allocated to respond. Be there by 03:00 on Sun 29 Nov. Address: 1 High"
        f" Street, LE1 1AA. Details in the EPS console. Ref {incident.hex[:8]}."
    )


async def claimed(uow: FakeNotificationsUnitOfWork, notification_id: uuid.UUID) -> None:
    order = await handlers.claim_for_sending(
        commands.ClaimForSending(notification_id, timedelta(minutes=2)), uow
    )
    assert order is not None and not order.in_doubt


async def test_a_temporary_failure_is_retried_after_a_doubling_wait_then_given_up() -> None:
    incident = uuid.uuid4()
    uow = uow_with_incident(incident)
    [note] = await handlers.page(page(incident, Purpose.INCIDENT_REPORTED, "coord-1"), uow)
    for wait in (0, 30, 60):  # seconds: RETRY's first wait, then doubled
        uow.clock.advance(seconds=wait)
        await claimed(uow, note.notification_id)
        cmd = commands.RecordSendOutcome(note.notification_id, TemporaryFailure("503"), RETRY)
        await handlers.record_send_outcome(cmd, uow)
        too_soon = commands.ClaimForSending(note.notification_id, timedelta(minutes=2))
        assert await handlers.claim_for_sending(too_soon, uow) is None
    failures = uow.events_of(NotificationFailed)
    assert [(f.attempt, f.permanent) for f in failures] == [(1, False), (2, False), (3, True)]
    assert [f.retry_at for f in failures] == [
        NIGHT + timedelta(seconds=30),
        NIGHT + timedelta(seconds=90),
        None,
    ]
    assert failures[2].person_unreached and failures[2].reason.startswith("gave up after 3")


async def test_a_claim_not_followed_by_an_outcome_is_in_doubt_and_not_counted_twice() -> None:
    incident = uuid.uuid4()
    uow = uow_with_incident(incident)
    [note] = await handlers.page(page(incident, Purpose.INCIDENT_REPORTED, "coord-1"), uow)
    await claimed(uow, note.notification_id)
    again = commands.ClaimForSending(note.notification_id, timedelta(minutes=2))
    assert await handlers.claim_for_sending(again, uow) is None, "claimed a moment ago"
    uow.clock.advance(minutes=3)
    order = await handlers.claim_for_sending(again, uow)
    assert order is not None and order.in_doubt and note.attempts == 1
    accepted = commands.RecordSendOutcome(note.notification_id, Accepted("n-1", "t-1"), RETRY)
    await handlers.record_send_outcome(accepted, uow)
    [sent] = uow.events_of(NotificationSent)
    assert (sent.attempt, sent.template_id, sent.text) == (1, "t-1", note.message.text)


async def test_a_person_is_unreached_only_once_every_channel_failed_for_good() -> None:
    incident = uuid.uuid4()
    uow = uow_with_incident(incident)
    cmd = page(incident, Purpose.INCIDENT_ESCALATED, "coord-2", reason="late")
    sms, email = await handlers.page(cmd, uow)
    for note in (sms, email):
        await claimed(uow, note.notification_id)
        failure = PermanentFailure("GOV.UK Notify 400: not a mobile number")
        await handlers.record_send_outcome(
            commands.RecordSendOutcome(note.notification_id, failure, RETRY), uow
        )
    failed = uow.events_of(NotificationFailed)
    assert [(f.channel, f.person_unreached) for f in failed] == [
        (Channel.SMS, False),
        (Channel.EMAIL, True),
    ]


async def test_a_page_acknowledged_while_it_was_being_sent_is_not_retried() -> None:
    incident = uuid.uuid4()
    uow = uow_with_incident(incident)
    [note] = await handlers.page(page(incident, Purpose.INCIDENT_REPORTED, "coord-1"), uow)
    await claimed(uow, note.notification_id)
    await handlers.stop_chain(commands.StopChain(incident), uow)  # while Notify is answering
    cmd = commands.RecordSendOutcome(note.notification_id, TemporaryFailure("503"), RETRY)
    await handlers.record_send_outcome(cmd, uow)
    assert note.status == Status.WITHDRAWN
    [withdrawn] = uow.events_of(NotificationWithdrawn)
    assert withdrawn.reason == handlers.ACKNOWLEDGED
