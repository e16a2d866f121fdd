"""Topic definitions."""

from __future__ import annotations

import pytest

from events import TopicSpec, topics

DAY_MS = 86_400_000


def test_default_names_and_settings() -> None:
    t = topics()
    assert [(s.name, s.partitions, s.retention_ms) for s in t.all()] == [
        ("ledger.submissions", 6, 7 * DAY_MS),
        ("ledger.verdicts", 6, DAY_MS),
        ("ledger.events", 6, -1),
        ("ledger.alerts", 6, -1),
        ("ledger.dead-letters", 1, 30 * DAY_MS),
        ("ledger.writer-state", 6, -1),
        ("ledger.writer-ids", 6, -1),
    ]
    assert {s.key for s in t.all()} == {"contract_id"}
    assert {s.name: s.cleanup_policy for s in t.all() if s.cleanup_policy != "delete"} == {
        "ledger.writer-state": "compact",
        "ledger.writer-ids": "compact",
    }


def test_the_writer_partitions_line_up() -> None:
    t = topics()
    assert (
        t.submissions.partitions
        == t.events.partitions
        == t.writer_state.partitions
        == t.writer_ids.partitions
    )


def test_a_prefix_keeps_tests_apart() -> None:
    t = topics("t-3f2a")
    assert [s.name for s in t.all()] == [
        "t-3f2a.submissions",
        "t-3f2a.verdicts",
        "t-3f2a.events",
        "t-3f2a.alerts",
        "t-3f2a.dead-letters",
        "t-3f2a.writer-state",
        "t-3f2a.writer-ids",
    ]
    assert t.events == TopicSpec("t-3f2a.events", 6, -1, "delete", "contract_id")


def test_config_is_what_kafka_takes() -> None:
    assert topics().events.config() == {
        "retention.ms": "-1",
        "cleanup.policy": "delete",
        "min.insync.replicas": "1",
    }
    assert topics().verdicts.config()["retention.ms"] == str(DAY_MS)
    state = topics().writer_state.config()
    assert state["cleanup.policy"] == "compact"
    assert state["max.message.bytes"] == str(16 * 1024 * 1024)
    assert "max.message.bytes" not in topics().events.config()


@pytest.mark.parametrize("prefix", ["", "has space", "a/b", "x" * 237, ".."])
def test_an_illegal_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="topic prefix"):
        topics(prefix)


def test_specs_are_frozen() -> None:
    spec = topics().events
    with pytest.raises(AttributeError):
        spec.partitions = 12  # type: ignore[misc]


def test_three_copies_need_two_for_a_write_and_one_copy_needs_one() -> None:
    # acks=all on three brokers: a write waits for two copies, so one broker may die or
    # restart without losing it, and without refusing writes.
    for replicas, min_isr in ((1, "1"), (2, "1"), (3, "2"), (5, "2")):
        t = topics("p", replicas)
        assert {s.replication_factor for s in t.all()} == {replicas}
        assert {s.config()["min.insync.replicas"] for s in t.all()} == {min_isr}
    assert topics().events.replication_factor == 1
