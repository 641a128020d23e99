"""The upstream topics are purged of what has been processed, on the real broker: records are
deleted up to the offset every consumer group reading the topic has committed (the slowest
one), and never beyond; a topic nobody has committed on keeps everything."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from eps_chassis.consumer import ConsumerRuntime, EventConsumer
from eps_chassis.upstream_purge import purge_processed
from eps_contracts import topics

from tests.support.infra import Infra
from tests.support.kafka import publish_raw, read_topic
from tests.support.services import Namespace, create_topics

pytestmark = pytest.mark.integration


async def commit(infra: Infra, group: str, tp: TopicPartition, offset: int) -> None:
    # no auto-commit: on stop it would commit the position it fetched, over the offset set here
    consumer = AIOKafkaConsumer(
        bootstrap_servers=infra.kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.commit({tp: OffsetAndMetadata(offset, "")})
    finally:
        await consumer.stop()


async def test_records_are_purged_up_to_what_every_reader_has_committed(
    infra: Infra, ns: Namespace
) -> None:
    await create_topics(infra, ns)
    upstream = ns.topic(topics.UPSTREAM_REFERRAL_REQUESTS.name)
    await publish_raw(infra.kafka_bootstrap, upstream, [b"1", b"2", b"3", b"4"], key=b"one")
    [tp] = {
        TopicPartition(r.topic, r.partition)
        for r in await read_topic(infra.kafka_bootstrap, upstream)
    }
    owner = EventConsumer(name="upstream-requests", topics=[topics.UPSTREAM_REFERRAL_REQUESTS])
    runtime = ConsumerRuntime(
        pool=None,
        service="referrals",
        source="/test",
        topic_prefix=ns.topic_prefix,
    )

    # nobody has committed: nothing goes
    assert await purge_processed(infra.kafka_bootstrap, [owner], runtime) == {}
    assert len(await read_topic(infra.kafka_bootstrap, upstream)) == 4

    await commit(infra, owner.group_id(runtime), tp, 3)  # the owner is past three records
    await commit(infra, ns.group("privacy", "children"), tp, 1)  # another reader past one
    await purge_processed(infra.kafka_bootstrap, [owner], runtime)
    assert [r.value for r in await read_topic(infra.kafka_bootstrap, upstream)] == [
        b"2",
        b"3",
        b"4",
    ]

    await commit(infra, ns.group("privacy", "children"), tp, 4)
    await purge_processed(infra.kafka_bootstrap, [owner], runtime)
    assert [r.value for r in await read_topic(infra.kafka_bootstrap, upstream)] == [b"4"]
