"""The Kafka topics of the ledger, defined in one place.

Every topic is keyed by `contract_id`, so one contract's messages are totally ordered within
one partition. The writer for partition n of submissions owns partition n of events, hence the
two must have the same partition count, and so must the writer's state and ids topics:
partition n of `writer-state` holds the latest state of every contract of partition n of
events, and partition n of `writer-ids` the sealed chunks of their event ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Final

from aiokafka.partitioner import murmur2

CONTRACT_KEY: Final = "contract_id"
FOREVER: Final = -1
_DAY_MS: Final = 24 * 60 * 60 * 1000
CONTRACT_PARTITIONS: Final = 6

# Kafka's own limits on a topic name; the longest suffixes added below (".dead-letters",
# ".writer-state") are 13 characters.
_LEGAL_PREFIX: Final = re.compile(r"^[A-Za-z0-9._-]{1,236}$")


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int
    """Milliseconds a message is kept; -1: never expires."""
    cleanup_policy: str
    key: str
    """What the message key holds."""
    replication_factor: int = 1
    """Brokers holding a copy of each partition (the local stack's single broker: 1)."""
    extra_config: tuple[tuple[str, str], ...] = ()
    """Further topic-level settings (a compacted topic's cleaning cadence)."""
    max_message_bytes: int | None = None
    """The largest record the topic takes (its producers must allow as much); None: Kafka's."""

    def config(self) -> dict[str, str]:
        """The topic-level Kafka configuration, as the admin API takes it."""
        config = {
            "retention.ms": str(self.retention_ms),
            "cleanup.policy": self.cleanup_policy,
            "min.insync.replicas": str(min_insync_replicas(self.replication_factor)),
            **dict(self.extra_config),
        }
        if self.max_message_bytes is not None:
            config["max.message.bytes"] = str(self.max_message_bytes)
        return config


@dataclass(frozen=True)
class Topics:
    submissions: TopicSpec
    verdicts: TopicSpec
    events: TopicSpec
    alerts: TopicSpec
    dead_letters: TopicSpec
    writer_state: TopicSpec
    """The writer's state of each contract, latest record per contract (compacted): written in
    the transactions that append the events, it spares a writer taking a partition the fold of
    the whole log. Derived, never the truth: lost, it is folded again from the events."""
    writer_ids: TopicSpec
    """The older event ids of each contract, in sealed chunks of 64 (one record each, unique
    key `<contract_id>#<k>`) that the state records reference by offset: a takeover does not
    read them; an idempotency lookup does, when the state's filter says it may need one.
    Derived like the state topic, and folded again from the events with it."""

    def all(self) -> list[TopicSpec]:
        return [
            self.submissions,
            self.verdicts,
            self.events,
            self.alerts,
            self.dead_letters,
            self.writer_state,
            self.writer_ids,
        ]


def min_insync_replicas(replicas: int) -> int:
    """Copies a write must reach before a producer at acks=all is answered: 2 of 3 (or more),
    so one broker may die or restart without losing an acknowledged record or refusing a
    write; with fewer than 3 copies, 1 (a second would stop every write with one broker
    away)."""
    return 2 if replicas >= 3 else 1


def topics(prefix: str = "ledger", replicas: int = 1) -> Topics:
    """The ledger's topics named `{prefix}.…`, each partition on `replicas` brokers; tests pass
    a unique prefix to stay apart."""
    if not _LEGAL_PREFIX.match(prefix) or prefix in {".", ".."}:
        raise ValueError(
            f"topic prefix {prefix!r} must be 1 to 236 characters of letters, digits, . _ -"
        )

    def spec(suffix: str, partitions: int, retention_ms: int) -> TopicSpec:
        return TopicSpec(
            name=f"{prefix}.{suffix}",
            partitions=partitions,
            retention_ms=retention_ms,
            cleanup_policy="delete",
            key=CONTRACT_KEY,
            replication_factor=replicas,
        )

    def derived(suffix: str, max_message_bytes: int) -> TopicSpec:
        """A compacted topic of the writer's, co-partitioned with the events, never expiring."""
        return replace(
            spec(suffix, CONTRACT_PARTITIONS, FOREVER),
            cleanup_policy="compact",
            # A contract's state is written again with each of its events: segments rolled
            # hourly and cleaned at 10% dirt keep a takeover's read near one record a contract.
            extra_config=(
                ("segment.ms", str(60 * 60 * 1000)),
                ("min.cleanable.dirty.ratio", "0.1"),
            ),
            max_message_bytes=max_message_bytes,
        )

    return Topics(
        submissions=spec("submissions", CONTRACT_PARTITIONS, 7 * _DAY_MS),
        verdicts=spec("verdicts", CONTRACT_PARTITIONS, 1 * _DAY_MS),
        # The log of record: never expires, never compacted.
        events=spec("events", CONTRACT_PARTITIONS, FOREVER),
        alerts=spec("alerts", CONTRACT_PARTITIONS, FOREVER),
        dead_letters=spec("dead-letters", 1, 30 * _DAY_MS),
        # A contract's record holds its live state (assignments, negotiations, raise requests:
        # these grow with its history, slowly) and a few KiB of event ids: 16 MiB is ample.
        writer_state=derived("writer-state", 16 * 1024 * 1024),
        # A chunk of 64 ids is about 4.3 KB.
        writer_ids=derived("writer-ids", 1024 * 1024),
    )


# A compacted state topic (the risk agent's changelog) is read whole at start. Kafka compacts
# closed segments only, and by default a segment closes at 1 GiB or after 7 days: until then
# every write (one per event judged) is read back at start, so the start grew with the events.
# Small segments, rolled at least every 10 minutes, keep what a start reads near one record per
# key: at most about twice that (the default dirty ratio of 0.5) plus one segment per partition.
STATE_TOPIC_CONFIG: Final = {
    "segment.bytes": str(1024 * 1024),  # the least Kafka 4 takes
    "segment.ms": str(10 * 60 * 1000),
}


def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) gives a record keyed `key`: for a
    contract id, where its submissions, events and states are."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions
