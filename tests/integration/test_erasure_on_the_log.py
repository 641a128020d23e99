"""Erasure that reaches the log (crypto-shredding), on the real broker and database, with the keys
service, referrals and consent running: two children are referred by an LA's system (one of
them also in a request that is dead-lettered); one child's key is shredded. Every topic of the
run, read from the beginning, dead letters included, then holds nothing readable about that
child (its names, date of birth and UPN appear nowhere, its sealed values no longer open), the
other child's still open, and consent's state rebuilt from the log into an empty schema holds
the other child's case and nothing of the erased one."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from eps_chassis.auth import Role
from eps_chassis.replay import replay
from eps_chassis.sealing import Sealer
from eps_consent.bootstrap import SERVICE as CONSENT
from eps_contracts import Envelope, topics
from eps_contracts.referrals import ChildForConsent, ReferralReceived
from eps_keys.bootstrap import SERVICE as KEYS
from eps_referrals.bootstrap import SERVICE as REFERRALS

from tests.support.builders import referrals as builders
from tests.support.infra import Infra
from tests.support.kafka import publish_raw, read_topic, wait_until
from tests.support.keys import data_keys_of, keys_settings
from tests.support.services import Namespace, bearer, running, settings_for

pytestmark = pytest.mark.integration

AMELIA = builders.child(
    given_name="Amelia",
    family_name="Quartermaine",
    date_of_birth=date(2015, 2, 17),
    upn="A12345678901B",
)
OLIVER = builders.child(
    given_name="Oliver",
    family_name="Featherstonehaugh",
    date_of_birth=date(2014, 7, 9),
    upn="B98765432109C",
)
# what would identify Amelia in any record's bytes, as JSON writes it
AMELIA_MARKS = (b"Amelia", b"Quartermaine", b"2015-02-17", b"A12345678901B")


async def scalar(infra: Infra, sql: str, *args: object) -> Any:
    conn = await asyncpg.connect(infra.database_url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def every_topic_of(infra: Infra, ns: Namespace) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        return sorted(t for t in await admin.list_topics() if t.startswith(ns.topic_prefix))
    finally:
        await admin.close()


def upstream_record(child: Any, **overrides: Any) -> bytes:
    request = builders.referral_requested(child=child, **overrides)
    return builders.upstream_envelope(request).model_dump_json().encode()


async def test_a_shredded_childs_data_is_unreadable_on_every_topic_and_replay_still_works(
    infra: Infra, ns: Namespace
) -> None:
    amelia_request = uuid.uuid4()
    broken = json.loads(upstream_record(AMELIA))
    broken["data"]["concerns"] = ""  # refused: Amelia's details go to the dead letters
    upstream = ns.topic(topics.UPSTREAM_REFERRAL_REQUESTS.name)
    async with running(KEYS, infra, ns, **keys_settings()) as (_, keys):
        async with (
            running(
                REFERRALS,
                infra,
                ns,
                data_keys=data_keys_of(keys, "referrals"),
                upstream_purge_interval_s=0.5,
            ),
            running(CONSENT, infra, ns, data_keys=data_keys_of(keys, "consent")),
        ):
            await publish_raw(
                infra.kafka_bootstrap,
                upstream,
                [
                    upstream_record(AMELIA, request_id=amelia_request),
                    upstream_record(OLIVER),
                    json.dumps(broken).encode(),
                ],
            )
            consent_cases = f"SELECT count(*) FROM {ns.schema('consent')}.consent_cases"

            async def both_cases_open() -> bool:
                return int(await scalar(infra, consent_cases)) == 2

            await wait_until(both_cases_open, timeout_s=60, what="both children's cases")

            async def dead_lettered() -> bool:
                dlq = ns.topic("eps.dlq.referrals.v1")
                return len(await read_topic(infra.kafka_bootstrap, dlq)) == 1

            await wait_until(dead_lettered, what="the broken request dead-lettered")

            async def upstream_purged() -> bool:
                return not await read_topic(infra.kafka_bootstrap, upstream)

            await wait_until(upstream_purged, what="the processed requests purged upstream")

        amelia = await scalar(
            infra,
            f"SELECT child_id FROM {ns.schema('referrals')}.referrals WHERE request_id = $1",
            amelia_request,
        )
        shredded = await keys.post(
            f"/keys/children/{amelia}/shredding",
            headers=bearer(Role.DATA_PROTECTION, subject="dpo-1"),
            json={},
        )
        assert shredded.status_code == 200, shredded.text

        # every topic of the run, from the beginning, dead letters and the keys' own included
        names = await every_topic_of(infra, ns)
        assert ns.topic("eps.dlq.referrals.v1") in names and upstream in names
        records = [r for name in names for r in await read_topic(infra.kafka_bootstrap, name)]
        assert records
        for record in records:
            raw = (record.value or b"") + b"".join(v for _, v in record.headers or ())
            found = [mark for mark in AMELIA_MARKS if mark in raw]
            assert not found, f"{found} readable on {record.topic} at {record.offset}"

        # sealed values: Amelia's no longer open, Oliver's still do
        opener = Sealer(data_keys_of(keys, "consent"))
        received = [
            Envelope[ReferralReceived].model_validate_json(r.value)
            for r in await read_topic(infra.kafka_bootstrap, ns.topic(topics.REFERRALS.name))
            if json.loads(r.value)["type"] == ReferralReceived.event_type
        ]
        opened = {e.data.child_id: await opener.open_field(e, "child") for e in received}
        assert opened[amelia] is None
        (oliver,) = set(opened) - {amelia}
        assert opened[oliver] == ChildForConsent(
            date_of_birth=OLIVER.date_of_birth, looked_after=False
        )

        # consent rebuilt from the log into an empty schema: Oliver's case, nothing of Amelia
        rebuilt = ns.schema("consent") + "_rebuilt"
        settings = settings_for(infra, ns, "consent", CONSENT.settings)
        await replay(CONSENT.define(settings), settings, rebuilt, sealer=opener)
        cases = f"SELECT child_id, child_date_of_birth FROM {rebuilt}.consent_cases"
        conn = await asyncpg.connect(infra.database_url)
        try:
            rows = [tuple(r) for r in await conn.fetch(cases)]
            dead = await conn.fetchval(
                f"SELECT count(*) FROM {rebuilt}.outbox WHERE topic LIKE '%dlq%'"
            )
        finally:
            await conn.close()
        assert rows == [(oliver, OLIVER.date_of_birth)]
        assert dead == 0  # the erased child's event applied (nothing to hold), not refused
