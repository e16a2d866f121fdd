"""What a cluster gives the services, as settings (services/settings.py): Kafka over TLS with
the cluster's CA and a SCRAM-SHA-512 or mutual-TLS user, as Strimzi issues them; secrets from
files, as Kubernetes mounts them; JSON log lines on request. Each client of aiokafka and the
risk agent's Faust app take the same connection."""

from __future__ import annotations

import json
import logging
import ssl
import subprocess
import sys
from pathlib import Path

import certifi
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import ValidationError

from services import kafka_connection, logs
from services.settings import Settings

CA = certifi.where()  # a real bundle of CA certificates, in PEM


def _scram(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    password = tmp_path / "password"
    password.write_text("sc3am-pass\n")  # as a Secret's key is mounted: a file of its own
    monkeypatch.setenv("LEDGER_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("LEDGER_KAFKA_SASL_USERNAME", "ledger-writer")
    monkeypatch.setenv("LEDGER_KAFKA_SASL_PASSWORD_FILE", str(password))
    monkeypatch.setenv("LEDGER_KAFKA_SSL_CAFILE", CA)


def test_plaintext_by_default_adds_nothing() -> None:
    s = Settings()
    assert s.kafka_security_protocol == "PLAINTEXT"
    assert kafka_connection.client_options(s) == {}
    assert kafka_connection.faust_credentials(s) is None


def test_scram_over_tls_checks_the_brokers_certificates_and_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _scram(monkeypatch, tmp_path)
    s = Settings()
    assert "sc3am-pass" not in repr(s)
    options = kafka_connection.client_options(s)
    context = options.pop("ssl_context")
    assert options == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "ledger-writer",
        "sasl_plain_password": "sc3am-pass",  # the file's final newline is not the password's
    }
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.get_ca_certs()  # the CA file's certificates, loaded


async def test_every_kind_of_client_takes_the_options(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _scram(monkeypatch, tmp_path)
    options = kafka_connection.client_options(Settings())
    # Built, not started: aiokafka checks the combination (a SASL_SSL without a context, a
    # mechanism it does not know, are refused here).
    consumer = AIOKafkaConsumer(bootstrap_servers="kafka:9093", **options)
    producer = AIOKafkaProducer(bootstrap_servers="kafka:9093", **options)
    try:
        for client in (consumer._client, producer.client):
            assert client._security_protocol == "SASL_SSL"
            assert client._sasl_mechanism == "SCRAM-SHA-512"
            assert client._ssl_context is options["ssl_context"]
    finally:
        await consumer.stop()
        await producer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers="kafka:9093", **options)
    assert admin._client._sasl_plain_username == "ledger-writer"
    await admin.close()


def test_the_risk_agents_faust_app_connects_the_same_way(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _scram(monkeypatch, tmp_path)
    s = Settings()
    # Faust answers a read-only Mapping; a copy of it to take the (uncomparable) SSL context out.
    faust_side = dict(credentials_to_aiokafka_auth(kafka_connection.faust_credentials(s)))
    ours = kafka_connection.client_options(s)
    for options in (faust_side, ours):
        assert isinstance(options.pop("ssl_context"), ssl.SSLContext)
    assert faust_side == ours


def test_mutual_tls_presents_the_users_certificate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cert, key = tmp_path / "user.crt", tmp_path / "user.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=ledger-writer", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    monkeypatch.setenv("LEDGER_KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("LEDGER_KAFKA_SSL_CAFILE", CA)
    monkeypatch.setenv("LEDGER_KAFKA_SSL_CERTFILE", str(cert))
    monkeypatch.setenv("LEDGER_KAFKA_SSL_KEYFILE", str(key))
    s = Settings()
    options = kafka_connection.client_options(s)
    assert options["security_protocol"] == "SSL" and "sasl_mechanism" not in options
    assert (
        credentials_to_aiokafka_auth(kafka_connection.faust_credentials(s))["security_protocol"]
        == "SSL"
    )
    # A key that is not the certificate's is refused when the context is made, at start.
    other = tmp_path / "other.key"
    subprocess.run(
        ["openssl", "genrsa", "-out", str(other), "2048"], check=True, capture_output=True
    )
    monkeypatch.setenv("LEDGER_KAFKA_SSL_KEYFILE", str(other))
    with pytest.raises(ssl.SSLError):
        kafka_connection.client_options(Settings())


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"LEDGER_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "LEDGER_KAFKA_SASL_PASSWORD": "p"},
         "LEDGER_KAFKA_SASL_USERNAME"),
        ({"LEDGER_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "LEDGER_KAFKA_SASL_USERNAME": "u"},
         "LEDGER_KAFKA_SASL_PASSWORD"),
        ({"LEDGER_KAFKA_SSL_CERTFILE": "/c.crt"}, "LEDGER_KAFKA_SSL_KEYFILE"),
        ({"LEDGER_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "LEDGER_KAFKA_SECURITY_PROTOCOL"),
        ({"LEDGER_KAFKA_SASL_MECHANISM": "PLAIN"}, "LEDGER_KAFKA_SASL_MECHANISM"),
        ({"LEDGER_LOG_FORMAT": "xml"}, "LEDGER_LOG_FORMAT"),
    ],
)  # fmt: skip
def test_an_incomplete_or_unknown_connection_is_refused_naming_what(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=named):
        Settings()


def test_every_secret_may_come_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in (
        ("DATABASE_URL", "postgresql://ledger-pg-rw:5432/ledger?sslmode=verify-full"),
        ("LEDGER_METRICS_TOKEN", "scrape-s3cret"),
        ("LEDGER_KAFKA_SASL_PASSWORD", "sc3am"),
    ):
        (tmp_path / name).write_text(value + "\n")
        monkeypatch.setenv(f"{name}_FILE", str(tmp_path / name))
    s = Settings()
    assert s.dsn == "postgresql://ledger-pg-rw:5432/ledger?sslmode=verify-full"
    assert s.metrics_token is not None and s.metrics_token.get_secret_value() == "scrape-s3cret"
    assert s.kafka_sasl_password is not None
    assert s.kafka_sasl_password.get_secret_value() == "sc3am"
    assert "scrape-s3cret" not in repr(s) and "sc3am" not in repr(s)


def test_a_secret_set_twice_or_unreadable_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LEDGER_METRICS_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match=r"LEDGER_METRICS_TOKEN_FILE: .*missing cannot be read"):
        Settings()
    (tmp_path / "token").write_text("t")
    monkeypatch.setenv("LEDGER_METRICS_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("LEDGER_METRICS_TOKEN", "t2")
    with pytest.raises(ValueError, match="LEDGER_METRICS_TOKEN and LEDGER_METRICS_TOKEN_FILE"):
        Settings()


def test_json_log_lines_on_request() -> None:
    record = logging.LogRecord("ledger.writer", logging.WARNING, __file__, 1, "took %d", (3,), None)
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["level"] == "WARNING"
    assert line["logger"] == "ledger.writer"
    assert line["message"] == "took 3"
    assert line["time"].endswith("+00:00")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        failed = logging.LogRecord(
            "ledger", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    line = json.loads(logs.JsonFormatter().format(failed))
    assert "RuntimeError: boom" in line["exception"]


def test_a_process_logs_json_when_asked() -> None:
    code = (
        "import logging; from services import logs; logs.configure('json'); "
        "logging.getLogger('ledger.test').info('hello %s', 'there')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stderr
    (line,) = out.splitlines()
    assert json.loads(line)["message"] == "hello there"
    text = subprocess.run(
        [sys.executable, "-c", code.replace("'json'", "'text'")],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    assert text.rstrip().endswith("INFO ledger.test: hello there")


async def test_every_client_refreshes_its_view_of_the_cluster_within_seconds() -> None:
    # A consumer that aiokafka leaves asking a broker which no longer leads a partition asks
    # again only once its view of the cluster ages out (kafka_connection.METADATA_MAX_AGE_MS).
    options = kafka_connection.options()
    assert options["metadata_max_age_ms"] <= 10_000
    consumer = AIOKafkaConsumer(bootstrap_servers="kafka:9092", **options)
    producer = AIOKafkaProducer(bootstrap_servers="kafka:9092", **options)
    admin = AIOKafkaAdminClient(bootstrap_servers="kafka:9092", **options)
    try:
        for client in (consumer._client, producer.client, admin._client):
            assert client._metadata_max_age_ms == options["metadata_max_age_ms"]
    finally:
        await consumer.stop()
        await producer.stop()
        await admin.close()
