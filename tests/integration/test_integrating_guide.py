"""The integrator's guide (docs/integrating.md), done as it says against the real broker and
services: each of its console-producer commands, run as written (Kafka's own console producer,
Java), publishes its worked example, in either CloudEvents mode; what became of each request is
read at the path the guide gives, in the shapes it shows, and on the topics as it says; and each
kind of bad event it lists is dead-lettered with the reason it quotes, word for word."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from eps_chassis.auth import Role
from eps_chassis.clock import Clock, shifted_clock, utc_now
from eps_contracts import Event, dead_letter_topic
from eps_contracts.examples import SAMPLE_TIME, sample_envelope
from eps_incidents.bootstrap import SERVICE as INCIDENTS
from eps_referrals.bootstrap import SERVICE as REFERRALS
from eps_statutory.bootstrap import SERVICE as STATUTORY

from tests.support import guide
from tests.support.dead_letters import original_value
from tests.support.infra import Infra
from tests.support.kafka import read_topic, wait_until
from tests.support.services import Namespace, bearer, get_json_or_none, running

pytestmark = pytest.mark.integration

MODES = ("structured", "binary")
SCHOOL = "123456"  # the school of the guide's examples
OTHER_SCHOOL = "654321"
REFERRAL_REQUESTED = "eps.upstream.referral-requested.v1"
REPORT_SUBMITTED = "eps.upstream.incident-report-submitted.v1"
ADVICE_REQUESTED = "eps.upstream.psychological-advice-requested.v1"
UPSTREAM_SERVICES = ("referrals", "incidents", "statutory")


def sample_clock() -> Clock:
    """An hour after the guide's examples happened, whenever the test runs."""
    return shifted_clock(datetime.fromisoformat(SAMPLE_TIME) + timedelta(hours=1) - utc_now())


async def console_producer() -> list[str]:
    import localinfra  # deploy/local, on the test path

    return await asyncio.to_thread(localinfra.console_producer)  # resolves the jars if need be


async def kafka_classpath() -> str:
    import localinfra

    return await asyncio.to_thread(localinfra.kafka_classpath)


def commands(mode: str) -> dict[str, guide.ProducerCommand]:
    """The guide's commands of one mode, by event type, in the guide's order."""
    return {
        label.split()[0]: guide.producer_command(block)
        for label, block in guide.examples().items()
        if label.endswith(f" {mode} command")
    }


def outcome_path(service: str, event_type: str) -> str:
    """The path the guide gives for what became of the guide's example of ``event_type``."""
    data = sample_envelope(Event.registry[event_type]).data
    return guide.outcome_paths()[service].format(**data.model_dump(mode="json"))


def example_response(name: str) -> Any:
    return json.loads(guide.examples()[f"{name} response"])


async def register_school(client: httpx.AsyncClient, urn: str, tenant: str) -> None:
    response = await client.put(
        f"/referrals/schools/{urn}",
        json={"name": "Example Primary School"},
        headers=bearer(Role.COORDINATOR, tenant=tenant),
    )
    assert response.status_code == 200, response.text


def told_on_topics() -> dict[str, tuple[str, str]]:
    """The guide's table of what each upstream event causes on the services' topics: the event
    type sent -> (the event type published because of it, the topic it names for that)."""
    section = guide.GUIDE.read_text().split("### On the topics", 1)[1].split("\n## ", 1)[0]
    told = {}
    for line in section.splitlines():
        if not line.startswith("| `eps.upstream."):
            continue
        sent, published = (re.findall(r"`([^`]+)`", cell) for cell in line.split(" | ")[:2])
        caused = published[0]
        topic = Event.registry[caused].topic.name
        assert topic in published, f"the guide names {caused}'s topic, {topic}"
        told[sent[0]] = (caused, topic)
    return told


async def records(infra: Infra, ns: Namespace, topic: str) -> list[Any]:
    return await read_topic(infra.kafka_bootstrap, ns.topic(topic))


@pytest.mark.parametrize("mode", MODES)
async def test_the_guides_commands_publish_every_upstream_event_and_each_outcome_is_as_it_says(
    infra: Infra, ns: Namespace, mode: str
) -> None:
    producer = await console_producer()
    clock = sample_clock()
    async with (
        running(REFERRALS, infra, ns, clock=clock, held_release_interval_s=0.2) as (_, referrals),
        running(INCIDENTS, infra, ns, clock=clock) as (_, incidents),
        running(STATUTORY, infra, ns, clock=clock) as (_, statutory),
    ):
        # the LA's register of schools holds another school, not yet the example's
        await register_school(referrals, OTHER_SCHOOL, "leicester-city")
        published = commands(mode)
        for command in published.values():
            await guide.run_producer_command(
                command, producer, infra.kafka_bootstrap, ns.topic(command.topic), command.lines
            )

        # the referral request waits for its school, then is applied, as the guide shows
        referral = outcome_path("referrals", REFERRAL_REQUESTED)

        async def referral_read() -> bool:
            return await get_json_or_none(referrals, referral, Role.ADMIN) is not None

        await wait_until(referral_read, what="the referral request read")
        waiting = await get_json_or_none(referrals, referral, Role.ADMIN)
        assert waiting is not None and waiting["outcome"] == "waiting", waiting
        assert guide.shape(waiting) == guide.shape(example_response("waiting"))
        assert waiting["waiting"][0]["field"] == "child.school_urn"
        held = await referrals.get("/referrals/held-events", headers=bearer(Role.ADMIN))
        assert [h["event_id"] for h in held.json()] == [waiting["waiting"][0]["event_id"]]
        await register_school(referrals, SCHOOL, "leicester-city")

        async def referral_applied() -> bool:
            outcome = await get_json_or_none(referrals, referral, Role.ADMIN)
            return outcome is not None and outcome["outcome"] == "applied"

        await wait_until(referral_applied, what="the referral request applied")
        applied = await get_json_or_none(referrals, referral, Role.ADMIN)
        assert applied is not None
        assert guide.shape(applied) == guide.shape(example_response("applied"))
        nothing = guide.outcome_paths()["referrals"].format(request_id=uuid.uuid4())
        missing = await referrals.get(nothing, headers=bearer(Role.ADMIN))
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert missing.json() == example_response("404")

        # the incident report and the request for advice, its appeal and its withdrawal
        report = outcome_path("incidents", REPORT_SUBMITTED)

        async def report_applied() -> bool:
            return await get_json_or_none(incidents, report, Role.COORDINATOR) is not None

        await wait_until(report_applied, what="the incident report applied")
        incident = await get_json_or_none(incidents, report, Role.COORDINATOR)
        assert incident is not None and incident["outcome"] == "applied"
        assert incident["incident"]["school_urn"] == SCHOOL
        request = outcome_path("statutory", ADVICE_REQUESTED)

        async def request_withdrawn() -> bool:
            outcome = await get_json_or_none(statutory, request, Role.ADMIN)
            return outcome is not None and outcome["advice"]["status"] == "withdrawn"

        await wait_until(request_withdrawn, what="the request for advice applied, then withdrawn")
        advice = await get_json_or_none(statutory, request, Role.ADMIN)
        assert advice is not None and advice["outcome"] == "applied"
        appeal = sample_envelope(Event.registry["eps.upstream.tribunal-appeal-registered.v1"])
        assert {t["appeal_id"] for t in advice["tribunal_tasks"]} == {str(appeal.data.appeal_id)}

        # on the topics: the first event each caused names it, and keeps its correlation id
        told = told_on_topics()
        assert set(told) == {REFERRAL_REQUESTED, REPORT_SUBMITTED, ADVICE_REQUESTED}
        for sent, (caused, topic) in told.items():
            sample = sample_envelope(Event.registry[sent])

            async def caused_event(caused: str = caused, topic: str = topic) -> bool:
                return any(
                    json.loads(r.value)["type"] == caused for r in await records(infra, ns, topic)
                )

            await wait_until(caused_event, what=f"{caused} published")
            [event] = [
                json.loads(r.value)
                for r in await records(infra, ns, topic)
                if json.loads(r.value)["type"] == caused
            ]
            assert event["causationid"] == str(sample.id)
            assert event["correlationid"] == str(sample.correlationid)

    # none of the guide's examples is dead-lettered, in either mode
    for service in UPSTREAM_SERVICES:
        assert await records(infra, ns, dead_letter_topic(service).name) == []


def bad_events(mode_commands: dict[str, dict[str, guide.ProducerCommand]]) -> list[Any]:
    """One bad event per row of the guide's table of dead-letter reasons, made from the guide's
    own examples: (the topic it is sent to, its line for the guide's command)."""

    def example(event_type: str, mode: str) -> tuple[guide.ProducerCommand, guide.Record]:
        command = mode_commands[mode][event_type]
        [record] = command.records()
        return command, record

    def renamed(record: guide.Record) -> guide.Record:
        """The record as a new event (a new id): each bad event is one of its own."""
        new_id = str(uuid.uuid4())
        if "ce_id" in record.headers:
            return guide.Record({**record.headers, "ce_id": new_id}, record.key, record.value)
        return guide.Record(record.headers, record.key, {**record.value, "id": new_id})

    def structured(event_type: str, **changes: Any) -> tuple[str, str]:
        command, record = example(event_type, "structured")
        value = {**record.value, **changes}
        line = renamed(guide.Record(record.headers, record.key, value)).line(command)
        return command.topic, line

    def binary(event_type: str, **headers: str | None) -> tuple[str, str]:
        command, record = example(event_type, "binary")
        changed = {**record.headers, **headers}
        kept = {name: value for name, value in changed.items() if value is not None}
        return command.topic, renamed(guide.Record(kept, record.key, record.value)).line(command)

    advice_request = example(ADVICE_REQUESTED, "structured")[1].value
    wrong_type = {**advice_request["data"], "la_case_ref": 7}
    incident_topic = mode_commands["structured"][REPORT_SUBMITTED].topic
    return [
        structured(ADVICE_REQUESTED, data=wrong_type),
        binary(REFERRAL_REQUESTED, ce_tenant="Leicester City"),
        binary(REFERRAL_REQUESTED, ce_type=None),
        binary(REFERRAL_REQUESTED, ce_type="eps.upstream.referal-requested.v1"),
        (incident_topic, structured(ADVICE_REQUESTED)[1]),  # another topic's type
        structured(REFERRAL_REQUESTED, tenant="leicester-cty"),
        structured(REFERRAL_REQUESTED, tenant="nottingham-city"),
        structured(REFERRAL_REQUESTED),  # its school is another LA's (below)
    ]


async def test_each_kind_of_bad_event_is_dead_lettered_with_the_reason_the_guide_quotes(
    infra: Infra, ns: Namespace
) -> None:
    producer = await console_producer()
    mode_commands = {mode: commands(mode) for mode in MODES}
    quoted = guide.reasons_table()
    served = ("leicester-city", "rutland")  # not nottingham-city
    async with (
        running(REFERRALS, infra, ns, clock=sample_clock(), local_authorities=served) as (
            _,
            referrals,
        ),
        running(INCIDENTS, infra, ns, clock=sample_clock(), local_authorities=served),
        running(STATUTORY, infra, ns, clock=sample_clock(), local_authorities=served),
    ):
        await register_school(referrals, SCHOOL, "rutland")  # the example's school, another LA's
        sent = bad_events(mode_commands)
        assert len(sent) == len(quoted), "one bad event per reason the guide quotes"
        template = mode_commands["structured"][REFERRAL_REQUESTED]
        for topic, line in sent:
            await guide.run_producer_command(
                template, producer, infra.kafka_bootstrap, ns.topic(topic), [line]
            )

        async def dead_letters() -> list[Any]:
            found = []
            for service in UPSTREAM_SERVICES:
                found += await records(infra, ns, dead_letter_topic(service).name)
            return found

        async def all_dead_lettered() -> bool:
            return len(await dead_letters()) >= len(sent)

        await wait_until(all_dead_lettered, timeout_s=60, what="every bad event dead-lettered")
        letters = await dead_letters()

    reasons = [dict(r.headers)["dlq-reason"].decode().replace(ns.topic_prefix, "") for r in letters]
    assert sorted(reasons) == sorted(reason for _, _, reason in quoted)
    # each keeps the producer's key, value and headers, with the dlq- headers the guide names
    named = set(re.findall(r"`(dlq-[a-z-]+)`", guide.GUIDE.read_text()))
    assert len(named) == 7  # dlq-sealed among them
    published = set()
    for _, line in sent:
        headers, key, value = line.split("|", 2)
        pairs = tuple(tuple(h.split(":", 1)) for h in headers.split(","))
        published.add((pairs, key, value))
    for letter in letters:
        assert named <= {name for name, _ in letter.headers}
        original = tuple(
            (name, raw.decode()) for name, raw in letter.headers if not name.startswith("dlq-")
        )
        value = (await original_value(letter, ns.data_keys)).decode()  # sealed on the topic
        assert (original, letter.key.decode(), value) in published


async def test_the_guides_java_program_publishes_a_worked_example_in_binary_mode(
    infra: Infra, ns: Namespace
) -> None:
    command = guide.examples()["java command"]
    argv = shlex.split(command.replace("\\\n", " "))
    assert argv[:3] == ["java", "-cp", "$(uv run python deploy/local/localinfra.py classpath)"]
    program, bootstrap, topic, redirect, _ = argv[3:]
    assert (bootstrap, redirect) == ("127.0.0.1:19092", "<")
    event = guide.examples()[f"{REFERRAL_REQUESTED} structured value"]
    async with running(REFERRALS, infra, ns, clock=sample_clock()) as (_, referrals):
        process = await asyncio.create_subprocess_exec(
            *("java", "-cp", await kafka_classpath(), program, infra.kafka_bootstrap),
            ns.topic(topic),
            cwd=guide.REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        async with asyncio.timeout(180):
            output, _ = await process.communicate(event.encode())
        assert process.returncode == 0, output.decode(errors="replace")
        path = outcome_path("referrals", REFERRAL_REQUESTED)

        async def applied() -> bool:
            outcome = await get_json_or_none(referrals, path, Role.ADMIN)
            return outcome is not None and outcome["outcome"] == "applied"

        await wait_until(applied, what="the referral request the Java program published, applied")
    [record] = await records(infra, ns, topic)
    sent = json.loads(event)
    headers = {name: raw.decode() for name, raw in record.headers}
    assert record.key.decode() == sent["subject"]
    assert json.loads(record.value) == sent["data"]
    assert headers["content-type"] == "application/json"
    assert headers["ce_type"] == REFERRAL_REQUESTED and headers["ce_id"] == sent["id"]
    assert "ce_causationid" not in headers  # null: no header
