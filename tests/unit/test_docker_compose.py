"""docker-compose.yml runs the same stack as `make up` (no Docker engine here to start it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from services.settings import LOCAL_DATABASE_URL, LOCAL_KAFKA

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_kafka_is_the_official_image_in_kraft_mode_with_single_broker_replication() -> None:
    kafka = _compose()["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:4.")
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
        "KAFKA_MIN_INSYNC_REPLICAS",
    ):
        assert env[key] == 1, key
    assert "healthcheck" in kafka
    # Host clients reach it where the local stack's Kafka listens.
    assert f"{LOCAL_KAFKA.rsplit(':', 1)[1]}:19092" in kafka["ports"]
    assert f"EXTERNAL://{LOCAL_KAFKA}" in env["KAFKA_ADVERTISED_LISTENERS"]


def test_postgres_matches_the_local_database_url() -> None:
    pg = _compose()["services"]["postgres"]
    assert pg["image"].startswith("postgres:")
    assert "healthcheck" in pg
    env = pg["environment"]
    # postgresql://USER:PASSWORD@127.0.0.1:PORT/DB
    creds, rest = LOCAL_DATABASE_URL.removeprefix("postgresql://").split("@")
    user, password = creds.split(":")
    hostport, dbname = rest.split("/")
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]) == (
        user,
        password,
        dbname,
    )
    assert f"{hostport.split(':')[1]}:5432" in pg["ports"]


def test_every_ledger_process_waits_for_healthy_servers_and_is_configured_by_environment() -> None:
    services = _compose()["services"]
    ledger = {name: s for name, s in services.items() if name not in ("kafka", "postgres")}
    assert {"setup", "writer", "projector", "risk", "webhooks", "alerts", "api"} <= set(ledger)
    assert "8000:8000" in services["api"]["ports"]
    assert services["writer"]["command"] == ["ledger", "serve", "writer"]
    for name, svc in ledger.items():
        deps = svc["depends_on"]
        assert deps["kafka"]["condition"] == "service_healthy", name
        assert deps["postgres"]["condition"] == "service_healthy", name
        env = svc["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092", name
        assert env["DATABASE_URL"].startswith("postgresql://ledger:ledger@postgres:5432/"), name


def test_every_long_running_service_is_restarted_when_it_exits_as_make_up_does() -> None:
    services = _compose()["services"]
    # The local stack's supervisord restarts the same six (deploy/local/stack.sh).
    stack_sh = (COMPOSE.parent / "deploy" / "local" / "stack.sh").read_text()
    assert "SERVICES=(writer projector risk webhooks alerts api)" in stack_sh
    for name in ("kafka", "postgres", "writer", "projector", "risk", "webhooks", "alerts", "api"):
        assert services[name].get("restart") == "unless-stopped", name
    # A one-shot job: a restart policy would run it again and again.
    assert "restart" not in services["setup"]
