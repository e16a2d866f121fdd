"""The local stack in its TLS mode (`LEDGER_TLS=1 make up`), for the integration tests that run
the services through it (tests/integration/test_tls_stack.py): `deploy/local/stack.sh up` in
var/tls-stack, on the `make up` stack's ports + PORT_OFFSET (19112-19114, 15452 and 8020 by
default), so it runs beside that stack; started by the test module and stopped, its data
wiped, at its end.
"""

from __future__ import annotations

from pathlib import Path

from services.settings import LOCAL_KAFKA_PORT, LOCAL_PG_PORT, Settings
from tests.support.local_stack import ROOT, LocalStack, moved_port

PORT_OFFSET = 20
KAFKA_PORT = moved_port("LEDGER_KAFKA_PORT", LOCAL_KAFKA_PORT, PORT_OFFSET)
KAFKA_TLS_PORT = KAFKA_PORT + 2  # deploy/local/lib.sh: after the controller's port
PG_PORT = moved_port("LEDGER_PG_PORT", LOCAL_PG_PORT, PORT_OFFSET)
API_PORT = moved_port("LEDGER_API_PORT", Settings.model_fields["api_port"].default, PORT_OFFSET)
VAR = ROOT / "var" / "tls-stack"
TLS = VAR / "tls"


def tls_stack() -> LocalStack:
    return LocalStack(
        var=VAR,
        env={
            "LEDGER_VAR": str(VAR),
            "LEDGER_TLS": "1",
            "LEDGER_KAFKA_PORT": str(KAFKA_PORT),
            "LEDGER_KAFKA_CONTROLLER_PORT": str(KAFKA_PORT + 1),
            "LEDGER_PG_PORT": str(PG_PORT),
            "LEDGER_API_PORT": str(API_PORT),
        },
    )


def ca() -> Path:
    return TLS / "ca.crt"


def tls_settings(password: str | None = None) -> Settings:
    """The settings the stack gives its services: Kafka's SASL_SSL listener as the SCRAM user
    (or with another `password`), PostgreSQL with sslmode=verify-full."""
    secret = (TLS / "kafka-password").read_text().strip() if password is None else password
    return Settings(
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{KAFKA_TLS_PORT}",
        DATABASE_URL=(
            f"postgresql://ledger:ledger@127.0.0.1:{PG_PORT}/ledger"
            f"?sslmode=verify-full&sslrootcert={ca()}"
        ),
        LEDGER_API_PORT=API_PORT,
        LEDGER_KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        LEDGER_KAFKA_SASL_USERNAME="ledger",
        LEDGER_KAFKA_SASL_PASSWORD=secret,
        LEDGER_KAFKA_SSL_CAFILE=str(ca()),
    )


_DATA = ("kafka", "pg", "tls")


def start(stack: LocalStack) -> None:
    """The whole stack from nothing (data of an earlier run wiped first)."""
    stack.start_afresh("the TLS stack", _DATA)


def stop(stack: LocalStack) -> None:
    """Everything stopped, its data and certificates gone (the logs stay, in its log/)."""
    stack.stop_and_wipe(_DATA)
