"""The replay command (``eps_chassis.replay``) on the real broker and database: a service's state
rebuilt from the log into an empty schema matches the live one, document for document; it
refuses a schema that already holds tables; it disturbs no live consumer group."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest
from eps_billing.bootstrap import SERVICE
from eps_chassis.replay import SchemaNotEmpty, replay
from eps_contracts.scheduling import DELIVERED_TIME

from tests.integration.test_billing import scenario
from tests.support.builders.billing import (
    documents,
    documents_issued,
    drained,
    london,
    publish,
)
from tests.support.clock import FakeClock
from tests.support.db import scalar
from tests.support.infra import REPO, Infra
from tests.support.kafka import consumer_lag, wait_until
from tests.support.services import Namespace, running, settings_for

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Rebuilt(Namespace):
    """The same topics as the live namespace, other schemas."""

    def schema(self, service: str) -> str:
        return f"{service}_{self.tag}_rebuilt"


async def live_billing(infra: Infra, ns: Namespace, events: list[Any]) -> list[tuple[Any, ...]]:
    """Billing applies the events while October is open, then October closes."""
    clock = FakeClock(london(2025, 11, 1))
    async with running(SERVICE, infra, ns, clock=clock, billing_finalise_interval_s=0.1):
        await publish(infra, ns, events)
        await wait_until(lambda: drained(infra, ns), timeout_s=30, what="events consumed")
        clock.now = london(2025, 11, 6)
        await documents_issued(infra, ns, 2)
    return await documents(infra, ns)


async def test_billing_rebuilt_from_the_log_issues_the_same_documents_line_by_line(
    infra: Infra, ns: Namespace
) -> None:
    phase_one, phase_two, _ = scenario()
    live = await live_billing(infra, ns, phase_one + phase_two)
    rebuilt = Rebuilt(ns.tag)
    settings = settings_for(infra, rebuilt, "billing", SERVICE.settings)
    done = await replay(SERVICE.define(settings), settings, rebuilt.schema("billing"))

    assert done.records >= len(phase_one + phase_two)
    schema = rebuilt.schema("billing")
    # nothing to publish again: the live service sent what the same events caused
    assert (
        await scalar(infra, f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL") == 0
    )
    # the live consumer group was not disturbed (no group of the replay's own either)
    group = ns.group("billing", "delivered-time")
    assert await consumer_lag(infra.kafka_bootstrap, group, ns.topic(DELIVERED_TIME.name)) == 0
    # billing switched over to the rebuilt schema closes October as the live one did
    clock = FakeClock(london(2025, 11, 6))
    async with running(SERVICE, infra, rebuilt, clock=clock, billing_finalise_interval_s=0.1):
        await documents_issued(infra, rebuilt, 2)
    assert live and await documents(infra, rebuilt) == live


async def test_a_replay_refuses_a_schema_that_holds_tables(infra: Infra, ns: Namespace) -> None:
    settings = settings_for(infra, ns, "billing", SERVICE.settings)
    async with running(SERVICE, infra, ns):  # its schema migrated: tables exist
        pass
    with pytest.raises(SchemaNotEmpty):
        await replay(SERVICE.define(settings), settings, ns.schema("billing"))


def test_the_command_names_the_installed_services_when_it_does_not_know_one() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "eps_chassis.replay", "no-such-service", "--schema", "x"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=os.environ,
        timeout=60,
    )
    assert result.returncode != 0
    assert "installed:" in result.stderr and "billing" in result.stderr
