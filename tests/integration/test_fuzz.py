"""A property-based fuzz run of every service's OpenAPI document (schemathesis).

Each service runs as in the other integration tests (real PostgreSQL and Kafka) and first takes
in the published sample of every event it consumes, so that records made from events alone
exist. Every operation its document lists is then called with requests generated from the
document: inputs that fit it and inputs that break it, as each role the operation allows
(``x-eps-roles``) and with no token. Every answer must be what the document promises: never a
5xx, a status code and content type it lists, a body valid against its schema, and input that
breaks the document refused with a 4xx.

Bounded here (``EPS_FUZZ_EXAMPLES``: 10 per operation, Hypothesis seeded the same each run);
``make fuzz`` runs 100 per operation, new ones each time, and prints the figures.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import httpx
import pytest
import schemathesis
from eps_chassis import held_events
from eps_chassis.auth import Role
from eps_chassis.service import Service, ServiceRuntime
from eps_consent.bootstrap import SERVICE as CONSENT
from eps_contracts.examples import sample_data, sample_envelope
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.adapter import responses as response_schemas
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.cloudevents import structured
from tests.support.infra import Infra
from tests.support.kafka import consumer_lag, publish_raw, wait_until
from tests.support.problems import located
from tests.support.services import Namespace, bearer, running

pytestmark = [
    pytest.mark.integration,
    # schemathesis's own strategies draw from `random`, which Hypothesis frowns upon
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

# every service installed here, as tools/contracts.py publishes their documents
SERVICES: list[Service[Any]] = sorted(
    (ep.load() for ep in entry_points(group="eps.services")), key=lambda s: s.definition().name
)
DEFAULT_EXAMPLES = 10
EXAMPLES = int(os.environ.get("EPS_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
SCHOOL = "123456"

# schemathesis 4.32 rewrites a response schema's tuples (`prefixItems`, OpenAPI 3.1's JSON Schema
# 2020-12) into Draft 4's `items: [...]`, then checks the result as 2020-12, where it is invalid:
# every response with a tuple (scheduling's terms, `[[9, 1], [12, 19]]`) failed as "Invalid
# Schema Object". Its request side already keeps tuples as they are for 3.1; so does this.
response_schemas.to_json_schema = functools.partial(  # type: ignore[assignment]
    response_schemas.to_json_schema, convert_prefix_items=False
)


@dataclass
class Tally:
    operations: int = 0
    operations_on_records: int = 0
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def caller(role: str | None) -> dict[str, str]:
    if role is None:
        return {}
    school = SCHOOL if Role(role) in (Role.SENCO, Role.SCHOOL_BUSINESS_MANAGER) else None
    return bearer(Role(role), school_urn=school)


def fuzz(
    document: dict[str, Any],
    client: httpx.AsyncClient,
    loop: asyncio.AbstractEventLoop,
    known: dict[str, set[str]] | None = None,
) -> Tally:
    """Every operation of ``document``, called through ``client`` (whose service runs on
    ``loop``; this runs in a thread of its own, as Hypothesis's tests are synchronous): first
    with any input, then, where it names records by path, with the ids of records the service
    answered with meanwhile (so that what a route does to a record is reached, not only its
    404)."""
    tally = Tally()
    schema = schemathesis.openapi.from_dict(document)
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # an operation the document describes wrongly
            tally.failures.append(f"the document: {result.err()}")
        else:
            operations.append(result.ok())
    path_names = {p.name for o in operations for p in o.path_parameters}
    known = defaultdict(set, known or {})

    def run(operation: APIOperation, cases: st.SearchStrategy[schemathesis.Case]) -> None:
        # the roles first: Hypothesis tries the first choice most (a token-less call is simple)
        roles = operation.definition.raw.get("x-eps-roles", [])
        callers = [caller(r) for r in roles] + [caller(None)]

        @settings(
            max_examples=EXAMPLES,
            derandomize=EXAMPLES == DEFAULT_EXAMPLES,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases, headers=st.sampled_from(callers))
        def call(case: schemathesis.Case, headers: dict[str, str]) -> None:
            case.headers.pop("Authorization", None)  # the generated one: a real one or none
            case.headers.update(headers)
            sent = case.as_transport_kwargs(base_url="http://test")
            request = client.request(
                sent["method"],
                sent["url"],
                headers=sent["headers"],
                params=sent.get("params"),
                json=sent.get("json"),
                content=sent.get("data"),
            )
            tally.requests += 1
            try:
                response = asyncio.run_coroutine_threadsafe(request, loop).result(timeout=60)
            except Exception:  # raised through the ASGI transport: served, it is a 500
                tally.statuses[500] += 1
                raise
            tally.statuses[response.status_code] += 1
            if response.is_success and response.headers.get("content-type") == "application/json":
                _collect_ids(response.json(), path_names, known)
            case.validate_response(response, checks=CHECKS, headers=sent["headers"])

        try:
            call()
        except (Exception, BaseExceptionGroup) as failure:  # each operation's, then the next
            tally.failures.append(f"{operation.label}: {failure}")

    for operation in operations:
        tally.operations += 1
        run(
            operation,
            st.one_of(
                operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
            ),
        )
    for operation in operations:
        names = [p.name for p in operation.path_parameters]
        if not names or not all(known[n] for n in names):
            continue
        tally.operations_on_records += 1
        ids = st.tuples(*(st.sampled_from(sorted(known[n])[:20]) for n in names))
        run(operation, ids.flatmap(functools.partial(_naming, operation, names)))
    return tally


def _naming(
    operation: APIOperation, names: list[str], values: tuple[str, ...]
) -> st.SearchStrategy[schemathesis.Case]:
    """Requests to ``operation`` with these path parameters (the rest generated)."""
    return operation.as_strategy(path_parameters=dict(zip(names, values, strict=True)))


def _collect_ids(answer: Any, names: set[str] | None, known: dict[str, set[str]]) -> None:
    """The values of fields named as path parameters (all of them, when ``names`` is None) are
    (in this API) records' ids."""
    if isinstance(answer, list):
        for item in answer:
            _collect_ids(item, names, known)
    elif isinstance(answer, dict):
        for key, value in answer.items():
            if isinstance(value, dict | list):
                _collect_ids(value, names, known)
            elif isinstance(value, str | int) and not isinstance(value, bool):
                if names is None or key in names:
                    known[key].add(str(value))


async def seed(runtime: ServiceRuntime[Any], infra: Infra, ns: Namespace) -> dict[str, set[str]]:
    """The published sample of every event the service consumes (``eps_contracts.examples``,
    for the LA the fuzz run's tokens are of), sent to its topics and taken in: records that
    come from events alone (consent cases, advice requests) for the run to act on; their ids."""
    known: dict[str, set[str]] = defaultdict(set)
    consumers = runtime.definition.consumers
    for consumer in consumers:
        for event_cls in consumer.routes.event_types:
            message = structured(sample_envelope(event_cls))
            topic = ns.topic(event_cls.topic.name)
            await publish_raw(
                infra.kafka_bootstrap,
                topic,
                [message.value],
                key=message.key,
                headers=message.headers,
            )
            _collect_ids(sample_data(event_cls).model_dump(mode="json"), None, known)
    for consumer in consumers:
        group = f"{ns.topic_prefix}{runtime.definition.name}.{consumer.name}"
        for topic in {ns.topic(t.name) for t in consumer.topics}:

            async def taken(group: str = group, topic: str = topic) -> bool:
                return await consumer_lag(infra.kafka_bootstrap, group, topic) == 0

            await wait_until(taken, timeout_s=60, what=f"{group} to take the samples")
    return known


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.definition().name)
async def test_every_operation_answers_as_its_document_says(
    service: Service[Any], infra: Infra, ns: Namespace
) -> None:
    async with running(service, infra, ns) as (runtime, client):
        known = await seed(runtime, infra, ns)
        document = (await client.get("/openapi.json")).json()
        loop = asyncio.get_running_loop()
        tally = await asyncio.to_thread(fuzz, document, client, loop, known)

    name = service.definition().name
    print(
        f"\nfuzz {name}: {tally.operations} operations ({tally.operations_on_records} again on"
        f" records that exist), {tally.requests} requests,"
        f" {tally.server_errors()} server errors, {len(tally.failures)} failing operations,"
        f" statuses {dict(sorted(tally.statuses.items()))}"
    )
    assert tally.failures == [], "\n\n".join(tally.failures)
    assert tally.server_errors() == 0
    assert tally.operations == sum(len(p) for p in document["paths"].values())
    assert tally.requests >= tally.operations * min(EXAMPLES, 2)


async def test_the_run_finds_answers_that_break_the_document(infra: Infra, ns: Namespace) -> None:
    """The checks are real: told that every problem names its ``instance`` (none does), the
    run finds the refusals that break the document."""
    async with running(CONSENT, infra, ns) as (_, client):
        document = (await client.get("/openapi.json")).json()
        problem = document["components"]["schemas"]["Problem"]
        problem["required"] = [*problem["required"], "instance"]
        tally = await asyncio.to_thread(fuzz, document, client, asyncio.get_running_loop())

    assert len(tally.failures) > tally.operations / 2
    assert all('"instance" is a required property' in f for f in tally.failures)


async def test_the_run_finds_a_server_error(
    infra: Infra, ns: Namespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """And a 5xx: with the held events' listing broken, the run says which operation broke."""

    async def broken(*args: object) -> None:
        raise RuntimeError("the listing is broken")

    monkeypatch.setattr(held_events, "listing", broken)
    async with running(CONSENT, infra, ns) as (_, client):
        document = (await client.get("/openapi.json")).json()
        tally = await asyncio.to_thread(fuzz, document, client, asyncio.get_running_loop())

    assert tally.server_errors() > 0
    [failure] = tally.failures
    assert failure.startswith("GET /consent/held-events: the listing is broken")


# --- what the fuzz run found ---------------------------------------------------------------


async def test_a_person_given_twice_in_the_contacts_is_422_naming_the_field(
    infra: Infra, ns: Namespace
) -> None:
    """The same person twice in an LA's contacts broke the table's key: a 500."""
    notifications = next(s for s in SERVICES if s.definition().name == "notifications")
    twice = {
        "contacts": [
            {"person_id": "ep-1", "mobile": "07700 900001"},
            {"person_id": "ep-1", "email": "ep-1@example.org"},
        ]
    }
    async with running(notifications, infra, ns) as (_, client):
        answer = await client.put(
            "/notifications/configuration/contacts", json=twice, headers=caller("admin")
        )
        kept = await client.get("/notifications/configuration/contacts", headers=caller("admin"))

    assert answer.status_code == 422
    assert located(answer) == [("body", "contacts")]
    assert "given more than once: ep-1" in answer.json()["errors"][0]["detail"]
    assert kept.json()["contacts"] == []
