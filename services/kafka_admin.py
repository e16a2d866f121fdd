"""Creating the ledger's topics, from the one list in events.topics, idempotently, and keeping
the configuration of topics that already exist what that list declares."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, for_code

from events.topics import Topics, min_insync_replicas
from services import kafka_connection

log = logging.getLogger(__name__)

# DescribeConfigs' config_source: set on the topic itself (the only values AlterConfigs, which
# replaces a topic's whole set, must carry over).
_DYNAMIC_TOPIC_CONFIG = 1
SHOWN_WITHIN_S = 10.0
"""How long a broker may take to show a change made a moment ago (a topic, a configuration):
it travels through the metadata log first, behind by more on a loaded machine."""


async def delete_topics(bootstrap: str, prefix: str) -> list[str]:
    """Delete every topic named after `prefix`: the ledger's (`prefix.events` ...) and the risk
    agent's (`prefix-risk-...`); returns the names deleted."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_connection.options())
    await admin.start()
    try:
        mine = (f"{prefix}.", f"{prefix}-")
        names = [n for n in await admin.list_topics() if n.startswith(mine)]
        if names:
            await admin.delete_topics(names)
        return names
    finally:
        await admin.close()


async def ensure_topics(bootstrap: str, wanted: Topics) -> list[str]:
    """Create the topics that do not exist yet; returns the names created.

    An existing topic with another partition count is an error, not something to paper over:
    the writer relies on submissions and events being partitioned alike.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_connection.options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        created: list[str] = []
        for spec in (s for s in wanted.all() if s.name not in existing):
            # One at a time: a topic the listing did not show yet (made a moment ago, by
            # another process or an operator) is there already, and must be checked and
            # aligned like any present one, not counted as made with our settings.
            topic = NewTopic(
                spec.name, spec.partitions, spec.replication_factor, topic_configs=spec.config()
            )
            if await _create(admin, topic):
                created.append(spec.name)
        present = [s for s in wanted.all() if s.name not in created]
        if present:
            counts = await _partition_counts(admin, [s.name for s in present])
            for spec in present:
                if counts.get(spec.name) != spec.partitions:
                    raise RuntimeError(
                        f"topic {spec.name} has {counts.get(spec.name)} partitions, "
                        f"expected {spec.partitions}"
                    )
            await _align(admin, {spec.name: spec.config() for spec in present})
        return created
    finally:
        await admin.close()


async def ensure_compacted(
    bootstrap: str, name: str, partitions: int, config: Mapping[str, str], replicas: int = 1
) -> bool:
    """Create the compacted topic `name` (each partition on `replicas` brokers) if it does not
    exist; True when this call created it."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=10_000, **kafka_connection.options()
    )
    await admin.start()
    try:
        if name in set(await admin.list_topics()):
            return False
        configs = {
            "cleanup.policy": "compact",
            "min.insync.replicas": str(min_insync_replicas(replicas)),
            **config,
        }
        return await _create(admin, NewTopic(name, partitions, replicas, topic_configs=configs))
    finally:
        await admin.close()


async def _create(admin: AIOKafkaAdminClient, topic: NewTopic) -> bool:
    """True when this call made the topic, False when it was there already (made a moment ago
    by another process or an operator: a listing from a broker whose metadata lags, as on a
    loaded machine, does not show it yet). aiokafka answers the broker's per-topic error codes
    instead of raising them, so they are read here: any other error is raised."""
    response = await admin.create_topics([topic])
    for name, code, *message in response.topic_errors:
        if code == TopicAlreadyExistsError.errno:
            return False
        if code:
            raise for_code(code)(f"creating topic {name}: {message[0] if message else ''}")
    return True


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Each topic's partition count, once the broker shows one for each (a topic created a
    moment ago, by another process, is listed before its partitions are)."""
    deadline = time.monotonic() + SHOWN_WITHIN_S
    while True:
        described = await admin.describe_topics(names)
        counts = {d["topic"]: len(d["partitions"]) for d in described if not d["error_code"]}
        if all(counts.get(n) for n in names) or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.1)


async def align_configs(bootstrap: str, wanted: Mapping[str, Mapping[str, str]]) -> None:
    """Give each existing topic of `wanted` the configuration values it declares (topics that
    do not exist are left alone)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_connection.options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        present = {name: c for name, c in wanted.items() if name in existing}
        if present:
            await _align(admin, present)
    finally:
        await admin.close()


async def _align(admin: AIOKafkaAdminClient, wanted: Mapping[str, Mapping[str, str]]) -> None:
    """A topic made before a declaration changed (or by hand, or by the broker's auto-creation
    with its 7-day default retention) keeps its old settings until told: for the log of record
    that would mean events expiring, for a state topic a start that grows with history. Each
    declared value that differs is set, other values set on the topic are kept, what changed is
    logged, and this returns once the broker shows the new values."""
    current, overrides = await _describe(admin, list(wanted))
    changes = _differing(wanted, current)
    if not changes:
        return
    # AlterConfigs (the API aiokafka offers) replaces the topic's whole set of values.
    alter = [
        ConfigResource(ConfigResourceType.TOPIC, name, {**overrides.get(name, {}), **changed})
        for name, changed in changes.items()
    ]
    for response in await admin.alter_configs(alter):
        for error_code, message, _type, name in response.resources:
            if error_code:
                raise for_code(error_code)(f"configuring topic {name}: {message}")
    for name, changed in changes.items():
        was = {k: current.get(name, {}).get(k) for k in changed}
        log.warning("topic %s configured as declared: %s (was %s)", name, changed, was)
    # The change travels through the metadata log before the broker reports it.
    deadline = time.monotonic() + SHOWN_WITHIN_S
    while _differing(changes, (await _describe(admin, list(changes)))[0]):
        if time.monotonic() > deadline:
            raise RuntimeError(f"topics {sorted(changes)} do not show their new configuration")
        await asyncio.sleep(0.1)


async def _describe(
    admin: AIOKafkaAdminClient, names: list[str]
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """Each topic's configuration values, and those of them set on the topic itself."""
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    values: dict[str, dict[str, str]] = {}
    own: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for error_code, message, _type, name, entries in response.resources:
            if error_code:
                raise for_code(error_code)(f"describing topic {name}: {message}")
            values[name] = {e[0]: e[1] for e in entries}
            own[name] = {e[0]: e[1] for e in entries if e[3] == _DYNAMIC_TOPIC_CONFIG}
    return values, own


def _differing(
    wanted: Mapping[str, Mapping[str, str]], current: Mapping[str, Mapping[str, str]]
) -> dict[str, dict[str, str]]:
    changes = {
        name: {k: v for k, v in declared.items() if current.get(name, {}).get(k) != v}
        for name, declared in wanted.items()
    }
    return {name: changed for name, changed in changes.items() if changed}
