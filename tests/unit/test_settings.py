from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.settings import (
    LOCAL_DATABASE_URL,
    LOCAL_KAFKA,
    LOCAL_KAFKA_PORT,
    LOCAL_PG_PORT,
    Settings,
)


def test_environment_points_the_service_at_other_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.internal:9092")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:s3cret@db.internal/ledger")
    s = Settings()
    assert s.kafka_bootstrap_servers == "kafka.internal:9092"
    assert s.dsn == "postgresql://u:s3cret@db.internal/ledger"
    # The password must never reach a log line through the settings' repr.
    assert "s3cret" not in repr(s)


def test_the_api_bounds_and_the_scrape_token(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings()
    assert (s.max_body_bytes, s.max_json_depth, s.metrics_token) == (4 * 1024 * 1024, 32, None)
    monkeypatch.setenv("LEDGER_MAX_BODY_BYTES", "65536")
    monkeypatch.setenv("LEDGER_MAX_JSON_DEPTH", "8")
    monkeypatch.setenv("LEDGER_STREAM_TOKEN_CHECK_S", "0.5")
    monkeypatch.setenv("LEDGER_METRICS_TOKEN", "scrape-s3cret")
    s = Settings()
    assert (s.max_body_bytes, s.max_json_depth, s.stream_token_check_s) == (65536, 8, 0.5)
    assert s.metrics_token is not None and s.metrics_token.get_secret_value() == "scrape-s3cret"
    assert "scrape-s3cret" not in repr(s)


def test_the_local_stacks_ports_move_every_default_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # deploy/local/lib.sh starts the servers on these ports; the services and tests follow.
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEDGER_KAFKA_PORT", "19192")
    monkeypatch.setenv("LEDGER_PG_PORT", "15532")
    monkeypatch.setenv("LEDGER_API_PORT", "8100")
    s = Settings()
    assert s.kafka_bootstrap_servers == "127.0.0.1:19192"
    assert s.dsn == "postgresql://ledger:ledger@127.0.0.1:15532/ledger"
    assert s.local_api_url == "http://127.0.0.1:8100"
    for name in ("LEDGER_KAFKA_PORT", "LEDGER_PG_PORT", "LEDGER_API_PORT"):
        monkeypatch.delenv(name)
    s = Settings()
    assert (s.kafka_bootstrap_servers, s.dsn, s.local_api_url) == (
        LOCAL_KAFKA,
        LOCAL_DATABASE_URL,
        "http://127.0.0.1:8000",
    )


def test_a_local_cluster_of_three_brokers_is_every_second_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # deploy/local/kafka.sh: node n on LEDGER_KAFKA_PORT + 2(n-1), its controller in between.
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("LEDGER_KAFKA_PORT", "29092")
    monkeypatch.setenv("LEDGER_KAFKA_BROKERS", "3")
    monkeypatch.setenv("LEDGER_KAFKA_REPLICATION_FACTOR", "3")
    s = Settings()
    assert s.kafka_bootstrap_servers == "127.0.0.1:29092,127.0.0.1:29094,127.0.0.1:29096"
    assert s.topics.events.replication_factor == 3
    assert s.topics.events.config()["min.insync.replicas"] == "2"


def test_the_local_stacks_default_ports_are_below_linuxs_ephemeral_range() -> None:
    # A port in 32768-60999 can be taken, as the local end of an outgoing connection, by any
    # process of the machine before the server binds it: the stack would not start.
    lib = (Path(__file__).resolve().parents[2] / "deploy" / "local" / "lib.sh").read_text()
    defaults = {k: int(v) for k, v in re.findall(r"\$\{LEDGER_(\w+_PORT):-(\d+)\}", lib)}
    assert (defaults["KAFKA_PORT"], defaults["PG_PORT"]) == (LOCAL_KAFKA_PORT, LOCAL_PG_PORT)
    assert set(defaults) == {"KAFKA_PORT", "KAFKA_CONTROLLER_PORT", "PG_PORT", "API_PORT"}
    assert all(port < 32768 for port in defaults.values()), defaults
