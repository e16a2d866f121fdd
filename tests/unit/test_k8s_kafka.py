"""The Kafka resources of deploy/k8s come from the topic definitions: the committed files are
exactly what `ledger k8s kafka` makes, every topic `ledger topics create` makes is declared
with its partitions, retention and compaction, and each service's user may do what its code
does and no more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from events.topics import STATE_TOPIC_CONFIG, topics
from services import k8s_kafka
from services.cli import main
from services.risk.names import app_id, changelog_topic, leader_topic
from services.settings import Settings

BASE = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "base"


def _committed(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((BASE / name).read_text()) if d]


def test_the_committed_files_are_what_the_topic_definitions_make() -> None:
    for name, text in k8s_kafka.files().items():
        assert (BASE / name).read_text() == text, (
            f"deploy/k8s/base/{name} is stale: run `.venv/bin/ledger k8s kafka`"
        )


def test_the_check_command_tells_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["k8s", "kafka", "--out-dir", str(tmp_path)]) == 0
    assert main(["k8s", "kafka", "--out-dir", str(tmp_path), "--check"]) == 0
    edited = tmp_path / "kafka-topics.yaml"
    edited.write_text(edited.read_text().replace("partitions: 6", "partitions: 12", 1))
    capsys.readouterr()
    assert main(["k8s", "kafka", "--out-dir", str(tmp_path), "--check"]) == 1
    assert "kafka-topics.yaml" in capsys.readouterr().err


def test_every_topic_is_declared_as_the_topic_definitions_say() -> None:
    declared = {d["spec"]["topicName"]: d for d in _committed("kafka-topics.yaml")}
    for spec in topics(k8s_kafka.PREFIX).all():
        topic = declared.pop(spec.name)
        assert topic["kind"] == "KafkaTopic"
        assert topic["apiVersion"] == "kafka.strimzi.io/v1"
        assert topic["metadata"]["labels"] == {"strimzi.io/cluster": "ledger"}
        assert topic["spec"]["partitions"] == spec.partitions
        assert topic["spec"]["replicas"] == 3
        config = topic["spec"]["config"]
        assert config["retention.ms"] == str(spec.retention_ms)
        assert config["cleanup.policy"] == spec.cleanup_policy
        assert config["min.insync.replicas"] == "2"
        for key, value in spec.extra_config:
            assert config[key] == value
        if spec.max_message_bytes is not None:
            assert config["max.message.bytes"] == str(spec.max_message_bytes)
    # What is left: the risk agent's Faust topics, declared so that Faust creates nothing.
    changelog = declared.pop(changelog_topic(k8s_kafka.PREFIX))
    assert changelog["spec"]["partitions"] == topics().events.partitions
    assert changelog["spec"]["config"]["cleanup.policy"] == "compact"
    assert STATE_TOPIC_CONFIG.items() <= changelog["spec"]["config"].items()
    leader = declared.pop(leader_topic(k8s_kafka.PREFIX))
    assert leader["spec"]["partitions"] == 1
    assert declared == {}


def test_the_events_never_expire_and_are_never_compacted() -> None:
    (events,) = [
        d for d in _committed("kafka-topics.yaml") if d["spec"]["topicName"] == "ledger.events"
    ]
    assert events["spec"]["config"]["retention.ms"] == "-1"
    assert events["spec"]["config"]["cleanup.policy"] == "delete"


def test_topic_resource_names_are_legal_kubernetes_names() -> None:
    for topic in _committed("kafka-topics.yaml"):
        name = topic["metadata"]["name"]
        assert len(name) <= 253
        assert all(c.islower() or c.isdigit() or c in ".-" for c in name), name
    assert k8s_kafka.resource_name("ledger-risk-__assignor-__leader") == (
        "ledger-risk-assignor-leader"
    )


def _acls(user: str) -> dict[tuple[str, str, str], set[str]]:
    (doc,) = [d for d in _committed("kafka-users.yaml") if d["metadata"]["name"] == user]
    assert doc["spec"]["authentication"] == {"type": "scram-sha-512"}
    return {
        (a["resource"]["type"], a["resource"]["name"], a["resource"]["patternType"]): set(
            a["operations"]
        )
        for a in doc["spec"]["authorization"]["acls"]
    }


def test_a_user_per_kafka_client_and_none_for_the_webhook_deliverer() -> None:
    users = {d["metadata"]["name"] for d in _committed("kafka-users.yaml")}
    assert users == {"ledger-api", "ledger-writer", "ledger-projector", "ledger-risk"}


def test_the_writer_may_use_exactly_its_topics_group_and_transactional_ids() -> None:
    t = topics("ledger")
    acls = _acls("ledger-writer")
    # The transactional id the writer gives partition n's producer
    # (services/writer/worker.py) falls under its prefix grant.
    (tx,) = [key for key in acls if key[0] == "transactionalId"]
    assert tx[2] == "prefix"
    assert f"{k8s_kafka.WRITER_GROUP}.{t.submissions.name}.5".startswith(tx[1])
    assert acls[("group", Settings().writer_group, "literal")] == {"Read", "Describe"}
    assert acls[("topic", t.submissions.name, "literal")] == {"Read", "Describe"}
    for spec in (t.events, t.writer_state, t.writer_ids):
        assert acls[("topic", spec.name, "literal")] == {"Read", "Write", "Describe"}
    assert "Write" in acls[("topic", t.verdicts.name, "literal")]
    assert ("topic", t.alerts.name, "literal") not in acls


def test_the_api_writes_submissions_only_and_reads_what_its_checks_read() -> None:
    t = topics("ledger")
    acls = _acls("ledger-api")
    writes = {name for (kind, name, _), ops in acls.items() if kind == "topic" and "Write" in ops}
    assert writes == {t.submissions.name}
    assert acls[("group", f"{t.verdicts.name}.recorder", "literal")] >= {"Read"}
    # /readyz and /metrics read the writer's and the risk agent's committed offsets.
    assert acls[("group", k8s_kafka.WRITER_GROUP, "literal")] == {"Describe"}
    assert acls[("group", app_id("ledger"), "prefix")] == {"Describe"}  # every generation's
    assert "Describe" in acls[("topic", t.dead_letters.name, "literal")]


def test_the_projector_and_risk_agent_read_the_events_as_their_groups() -> None:
    t = topics("ledger")
    projector = _acls("ledger-projector")
    assert projector[("topic", t.events.name, "literal")] == {"Read", "Describe"}
    # Its live group and its rebuilds' groups (`<group>.rebuild.<schema>.<n>`).
    assert projector[("group", Settings().projector_group_id, "prefix")] == {"Read", "Describe"}
    risk = _acls("ledger-risk")
    # Every generation's group and topics (`ledger risk rebuild` makes the next).
    assert risk[("group", app_id("ledger"), "prefix")] == {"Read", "Describe"}
    assert risk[("topic", app_id("ledger"), "prefix")] >= {"Create", "Read", "Write"}
    assert app_id("ledger", 2).startswith(app_id("ledger"))
    assert risk[("topic", t.alerts.name, "literal")] == {"Write", "Describe"}
    assert "Write" in risk[("topic", changelog_topic("ledger"), "literal")]
    # No one but the writer appends events.
    for user in ("ledger-projector", "ledger-risk", "ledger-api"):
        assert "Write" not in _acls(user).get(("topic", t.events.name, "literal"), set())
