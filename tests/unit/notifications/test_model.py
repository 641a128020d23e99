"""The notification as a pure model: its life (recorded, claimed, sent, delivered, failed,
withdrawn), the retry policy's waits, and what a page says."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from eps_chassis.errors import Conflict
from eps_contracts.notifications import Channel, Provider, Purpose
from eps_notifications.domain import messages
from eps_notifications.domain.messages import IncidentFacts
from eps_notifications.domain.model import Message, Notification, RetryPolicy, Status
from hypothesis import given
from hypothesis import strategies as st

NOW = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # the night the clocks go back


def notification() -> Notification:
    return Notification.new(
        incident_id=uuid.uuid4(),
        recipient="coord-1",
        channel=Channel.SMS,
        provider=Provider.GOVUK_NOTIFY,
        purpose=Purpose.INCIDENT_REPORTED,
        cause_event_id=uuid.uuid4(),
        destination="+447700900001",
        message=Message("subject", "text"),
        now=NOW,
    )


@given(
    first=st.integers(1, 600),
    longest=st.integers(1, 3600),
    max_attempts=st.integers(1, 20),
)
def test_retry_waits_double_up_to_the_longest_and_stop_at_the_last_attempt(
    first: int, longest: int, max_attempts: int
) -> None:
    policy = RetryPolicy(timedelta(seconds=first), timedelta(seconds=longest), max_attempts)
    waits = [policy.wait_after(n) or timedelta(0) for n in range(1, max_attempts)]
    assert all(timedelta(0) < w <= timedelta(seconds=longest) for w in waits)
    assert waits == sorted(waits)
    assert waits[:1] in ([], [min(timedelta(seconds=first), timedelta(seconds=longest))])
    assert policy.wait_after(max_attempts) is None


def test_a_notification_is_sent_then_delivered_and_nothing_after() -> None:
    n = notification()
    assert n.is_due(NOW, timedelta(minutes=2))
    assert n.claim(NOW) is False and n.attempts == 1
    assert not n.is_due(NOW + timedelta(minutes=1), timedelta(minutes=2))
    n.accepted(NOW, "notify-id", "template-id")
    n.delivered(NOW)
    n.delivered(NOW)  # told twice: once
    assert n.status == Status.DELIVERED and len(n.events) == 2
    with pytest.raises(Conflict):
        n.claim(NOW)
    assert not n.withdraw(NOW, "acknowledged"), "what has gone cannot be withdrawn"


def test_an_attempt_in_doubt_is_due_again_after_the_wait_and_not_counted_twice() -> None:
    n = notification()
    n.claim(NOW)
    later = NOW + timedelta(minutes=2)
    assert n.is_due(later, timedelta(minutes=2))
    assert n.claim(later) is True and n.attempts == 1


def test_a_page_says_where_and_when_in_london_time() -> None:
    incident = uuid.UUID("6f1c2d3e-0000-4000-8000-000000000000")
    facts = IncidentFacts(incident, "123456", 2, "fire", NOW)
    text = messages.reported(facts).text
    # 00:30 UTC on the night the clocks go back is 01:30 BST
    assert text == (
        "EPS critical incident, level 2 (fire) at school 123456, reported 01:30 on Sun 25 Oct."
        " You are on call: acknowledge it in the EPS console. Ref 6f1c2d3e."
    )
    # two hours later it is 02:30 GMT: the clocks went back in between
    assert messages.breached(facts, "first_visit", NOW + timedelta(hours=2)).text.startswith(
        "EPS critical incident, level 2 (fire) at school 123456: the first visit target"
        " (due 02:30 on Sun 25 Oct) was missed."
    )
