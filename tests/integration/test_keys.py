"""The keys service on the real database and broker: a child's data key is made once and handed
to the services that ask as themselves; it is stored only wrapped under the KEK; shredding it is
audited, told on the topic (never the key), and the key is gone for good (410) for every
service; a dead-letter key is its own service's alone and is destroyed once its retention has
passed."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import timedelta

import asyncpg
import pytest
from eps_chassis.auth import Role
from eps_chassis.data_keys import KeyShredded
from eps_chassis.key_shredding import forget_shredded_keys
from eps_chassis.retry import Backoff
from eps_chassis.tasks import cancel_and_wait
from eps_contracts.keys import CHILD_KEYS
from eps_keys.bootstrap import SERVICE as KEYS_SERVICE
from eps_keys.entrypoints.jobs import DEAD_LETTER_RETENTION

from tests.support.clock import suite_now
from tests.support.infra import Infra
from tests.support.kafka import read_topic, wait_until
from tests.support.keys import data_keys_of, keys_settings
from tests.support.problems import problem
from tests.support.services import Namespace, bearer, running

pytestmark = pytest.mark.integration

TENANT = "leicester-city"


def service_token(service: str, tenant: str = TENANT) -> dict[str, str]:
    return bearer(Role.SERVICE, subject=f"service:{service}", tenant=tenant)


async def test_a_childs_key_is_made_once_kept_wrapped_and_shredded_for_good(
    infra: Infra, ns: Namespace
) -> None:
    child = uuid.uuid4()
    async with running(KEYS_SERVICE, infra, ns, **keys_settings()) as (runtime, client):
        made = await client.put(f"/keys/children/{child}", headers=service_token("referrals"))
        assert made.status_code == 200, made.text
        key = base64.b64decode(made.json()["key"])
        assert len(key) == 32
        again = await client.get(f"/keys/children/{child}", headers=service_token("consent"))
        assert base64.b64decode(again.json()["key"]) == key

        # never in the database in clear: the row holds it wrapped under the KEK
        assert runtime.pool is not None
        async with runtime.pool.acquire() as conn:
            wrapped = await conn.fetchval(
                "SELECT wrapped_key FROM child_keys WHERE child_id = $1", child
            )
        assert key not in wrapped and len(wrapped) > len(key)

        # the services' client gets the same key, once while it is cached
        data_keys = data_keys_of(client, "consent", ttl_s=3600)
        assert await data_keys.get(TENANT, child) == key
        assert await data_keys.create_or_get(TENANT, child) == key

        # a person may not fetch a key; another LA's service does not see this child
        refused = await client.get(f"/keys/children/{child}", headers=bearer(Role.ADMIN))
        assert refused.status_code == 403
        elsewhere = await client.get(
            f"/keys/children/{child}", headers=service_token("consent", tenant="rutland")
        )
        assert elsewhere.status_code == 404

        shredded = await client.post(
            f"/keys/children/{child}/shredding",
            headers=bearer(Role.PRINCIPAL_EP, subject="pep-1"),
            json={},
        )
        assert shredded.status_code == 200, shredded.text
        assert shredded.json()["shredded_by"] == "user:pep-1"
        for method in ("GET", "PUT"):
            gone = await client.request(
                method, f"/keys/children/{child}", headers=service_token("consent")
            )
            assert gone.status_code == 410, gone.text
            assert problem(gone)["status"] == 410

        # a service forgets its cached copy as soon as the shredding is told on the topic
        listening = asyncio.create_task(
            forget_shredded_keys(infra.kafka_bootstrap, ns.topic_prefix, data_keys, Backoff())
        )
        try:

            async def forgotten() -> bool:
                return data_keys._cached((TENANT, str(child))) is None

            await wait_until(forgotten, what="the cached key forgotten")
        finally:
            await cancel_and_wait([listening])
        with pytest.raises(KeyShredded):
            await data_keys.get(TENANT, child)
        with pytest.raises(KeyShredded):
            await data_keys.create_or_get(TENANT, child)

        assert runtime.pool is not None
        async with runtime.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM child_keys WHERE child_id = $1", child)
            audited = await conn.fetch(
                "SELECT actor, action, outcome FROM audit_log WHERE resource = $1 ORDER BY id",
                f"child/{child}/key",
            )
        assert row["wrapped_key"] is None and row["shredded_by"] == "user:pep-1"
        rows = [tuple(r) for r in audited]
        assert ("user:pep-1", "shred-key", "allowed") in rows
        assert ("service:consent", "read-key", "not_found") in rows  # the 410 after it

        topic = ns.topic(CHILD_KEYS.name)

        async def told() -> bool:
            return len(await read_topic(infra.kafka_bootstrap, topic)) == 1

        await wait_until(told, what="ChildKeyShredded published")
        (record,) = await read_topic(infra.kafka_bootstrap, topic)
        assert record.key == str(child).encode()
        assert b"child-key-shredded" in record.value
        assert base64.b64encode(key) not in record.value and key not in record.value


async def test_a_dead_letter_key_is_its_services_own_and_dies_with_its_retention(
    infra: Infra, ns: Namespace
) -> None:
    today = suite_now().date()
    old = today - timedelta(days=30)
    async with running(
        KEYS_SERVICE, infra, ns, keys_dead_letter_retention_days=14, **keys_settings()
    ) as (runtime, client):
        for day in (old, today):
            made = await client.put(
                f"/keys/dead-letters/referrals/{day}", headers=service_token("referrals")
            )
            assert made.status_code == 200, made.text
        stolen = await client.put(
            f"/keys/dead-letters/referrals/{today}", headers=service_token("billing")
        )
        assert stolen.status_code == 403

        assert runtime.jobs is not None
        job = next(j for j in runtime.jobs.jobs if j.name == DEAD_LETTER_RETENTION)
        assert await runtime.jobs.run_once(job)
        past = await client.put(
            f"/keys/dead-letters/referrals/{old}", headers=service_token("referrals")
        )
        assert past.status_code == 410
        kept = await client.put(
            f"/keys/dead-letters/referrals/{today}", headers=service_token("referrals")
        )
        assert kept.status_code == 200
        assert isinstance(runtime.pool, asyncpg.Pool)
