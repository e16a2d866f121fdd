"""A topic that exists before its declaration (made by an older version, by hand, or by the
broker's auto-creation with its 7-day retention) is given the declared configuration at start,
keeping any other value an operator set on it."""

from __future__ import annotations

import asyncio
import time

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from events.topics import STATE_TOPIC_CONFIG, topics
from services import kafka_admin
from tests.support.stack import Scratch


async def _set_on_topic(admin: AIOKafkaAdminClient, name: str) -> dict[str, str]:
    [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    [(_code, _msg, _type, _name, entries)] = response.resources
    return {e[0]: e[1] for e in entries if e[3] == 1}  # config_source: set on the topic


async def _until_listed(admin: AIOKafkaAdminClient, name: str) -> None:
    deadline = time.monotonic() + kafka_admin.SHOWN_WITHIN_S
    while name not in await admin.list_topics():
        assert time.monotonic() < deadline, f"{name} made but not listed"
        await asyncio.sleep(0.05)


async def test_an_expiring_log_of_record_is_made_to_keep_its_events(scratch: Scratch) -> None:
    t = topics(scratch.prefix("configs"))
    admin = AIOKafkaAdminClient(bootstrap_servers=scratch.stack.bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(
                    t.events.name,
                    t.events.partitions,
                    1,
                    topic_configs={"retention.ms": str(7 * 86_400_000), "flush.messages": "5000"},
                ),
                NewTopic(t.writer_state.name, t.writer_state.partitions, 1),
            ]
        )
        created = await kafka_admin.ensure_topics(scratch.stack.bootstrap, t)
        assert t.events.name not in created and t.writer_state.name not in created

        events = await _set_on_topic(admin, t.events.name)
        assert events["retention.ms"] == "-1", "the log of record would expire"
        assert events["flush.messages"] == "5000", "an operator's own setting was dropped"
        state = await _set_on_topic(admin, t.writer_state.name)
        assert state["cleanup.policy"] == "compact"
        assert state["max.message.bytes"] == str(t.writer_state.max_message_bytes)

        # A changelog made before its segments were declared small.
        changelog = f"{t.events.name}-changelog"
        await admin.create_topics(
            [NewTopic(changelog, 1, 1, topic_configs={"cleanup.policy": "compact"})]
        )
        # align_configs leaves a topic it is not shown alone; a broker shows one made a moment
        # ago once its metadata has caught up (later on a loaded machine).
        await _until_listed(admin, changelog)
        await kafka_admin.align_configs(
            scratch.stack.bootstrap, {changelog: STATE_TOPIC_CONFIG, "absent.topic": {}}
        )
        got = await _set_on_topic(admin, changelog)
        assert {k: got.get(k) for k in STATE_TOPIC_CONFIG} == STATE_TOPIC_CONFIG
        assert got["cleanup.policy"] == "compact"
    finally:
        await admin.close()
