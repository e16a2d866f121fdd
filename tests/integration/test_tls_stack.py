"""The local stack's TLS mode (`LEDGER_TLS=1 make up`, deploy/local/tls.sh): the writer,
projector, risk agent and API, as supervisord runs them, connect to Kafka only through its
TLS + SCRAM-SHA-512 listener and to PostgreSQL only over TLS with sslmode=verify-full, as a
cluster gives them (docs/operations.md), and a client sees the whole path work: an event
accepted, its margin impact projected, its alert raised and published.

The stack is this module's own (tests/support/tls_stack.py: var/tls-stack, ports of its own),
started here and stopped at the end.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from events.serialization import decode_event
from events.topics import partition_of
from services import kafka_connection, tokens
from services.db import connection
from services.settings import Settings
from simulation.examples import example
from tests.support import tls_stack as tl
from tests.support.local_stack import LocalStack
from tests.support.stack import unique

pytestmark = pytest.mark.integration

SERVICES = ("writer", "projector", "risk", "api")


@dataclass(frozen=True)
class TlsStack:
    stack: LocalStack
    settings: Settings
    token: str
    am_id: str


@pytest.fixture(scope="module")
async def tls() -> AsyncIterator[TlsStack]:
    stack = tl.tls_stack()
    await asyncio.to_thread(tl.start, stack)
    try:
        settings = tl.tls_settings()
        am_id = unique("am-tls")
        async with connection(settings.dsn) as conn:
            _, token = await tokens.create_token(conn, "account_manager", am_id)
        yield TlsStack(stack, settings, token, am_id)
    finally:
        await asyncio.to_thread(tl.stop, stack)


async def _submit(http: httpx.AsyncClient, event: dict[str, Any]) -> dict[str, Any]:
    """The verdict of a POST: its 201's, or its 202's location polled until there is one."""
    r = await http.post("/v1/events", json=event)
    if r.status_code == 201:
        body: dict[str, Any] = r.json()
        return body
    assert r.status_code == 202, r.text
    location = r.json()["location"]
    for _ in range(120):
        polled = await http.get(location)
        if polled.status_code == 200:
            answer: dict[str, Any] = polled.json()
            return answer
        await asyncio.sleep(0.5)
    raise AssertionError(f"no verdict for {event['event_id']} within a minute")


async def _eventually(http: httpx.AsyncClient, path: str) -> dict[str, Any]:
    """The first non-empty answer of a read (projected and judged within seconds)."""
    for _ in range(60):
        body: dict[str, Any] = (await http.get(path)).json()
        if any(isinstance(v, list) and v for v in body.values()):
            return body
        await asyncio.sleep(0.5)
    return body


def _environment(pid: int) -> dict[str, str]:
    raw = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")  # noqa: SIM115
    return dict(v.decode().split("=", 1) for v in raw if b"=" in v)


async def test_every_service_serves_a_client_through_tls_and_scram(tls: TlsStack) -> None:
    contract_id = unique("C-tls")
    events = [
        example("ContractSigned", contract_id=contract_id, account_manager_id=tls.am_id),
        example("AssignmentStarted", contract_id=contract_id),
        example("RatesAdjusted", contract_id=contract_id, pay_rate="31.00", bill_rate="40.00"),
        example("BypassThreatReported", contract_id=contract_id),
    ]
    headers = {"Authorization": f"Bearer {tls.token}"}
    async with httpx.AsyncClient(
        base_url=tls.settings.local_api_url, headers=headers, timeout=30
    ) as http:
        # As a careful client: a 202 (the writer still taking its partitions, one TLS
        # connection after another, at the stack's start) is polled until its verdict.
        verdicts = [await _submit(http, e) for e in events]
        assert [v["status"] for v in verdicts] == ["accepted"] * 4, verdicts
        assert [v["stream_version"] for v in verdicts] == [1, 2, 3, 4]
        impacts = await _eventually(http, f"/v1/margin-impacts?contract_id={contract_id}")
        assert impacts["margin_impacts"], "the projector projected the rate change"
        alerts = await _eventually(http, f"/v1/alerts?contract_id={contract_id}")
    assert [a["rule"] for a in alerts["alerts"]] == ["BYPASS_THREAT"]

    # The risk agent published the alert, on Kafka, through the listener.
    async with connection(tls.settings.dsn) as conn:
        published = await conn.fetchval(
            "SELECT published_at FROM alerts WHERE contract_id = $1", contract_id
        )
    assert published is not None

    # Each service was given the TLS listener only, as the SCRAM user, and the CA to check it.
    for name in SERVICES:
        env = _environment(tls.stack.service_pid(name))
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == f"127.0.0.1:{tl.KAFKA_TLS_PORT}", name
        assert env["LEDGER_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", name
        assert env["LEDGER_KAFKA_SSL_CAFILE"] == str(tl.ca()), name
        assert "sslmode=verify-full" in env["DATABASE_URL"], name
        assert "LEDGER_KAFKA_SASL_PASSWORD" not in env, "the secret comes from a file"
    assert tls.stack.states() == dict.fromkeys(tls.stack.states(), "RUNNING")
    assert all(n == 1 for n in tls.stack.spawns().values()), "no service was restarted"


async def test_every_database_connection_is_encrypted(tls: TlsStack) -> None:
    async with connection(tls.settings.dsn) as conn:
        rows = await conn.fetch(
            "SELECT s.ssl, s.version FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)"
            " WHERE a.usename = 'ledger' AND a.backend_type = 'client backend'"
        )
    assert len(rows) > len(SERVICES)  # every service's pool, and this connection
    assert all(r["ssl"] and r["version"].startswith("TLSv1.") for r in rows), rows


async def test_the_listener_takes_the_scram_user_over_tls_and_nothing_else(
    tls: TlsStack,
) -> None:
    # The user reads the log of record through it, as every service does.
    contract_id = unique("C-read")
    async with httpx.AsyncClient(
        base_url=tls.settings.local_api_url,
        headers={"Authorization": f"Bearer {tls.token}"},
        timeout=30,
    ) as http:
        signed = example("ContractSigned", contract_id=contract_id, account_manager_id=tls.am_id)
        # 201, or 202 while the writer is still taking its partitions: appended either way.
        assert (await http.post("/v1/events", json=signed)).status_code in (201, 202)
    topic = tls.settings.topics.events
    tp = TopicPartition(topic.name, partition_of(contract_id, topic.partitions))
    consumer = AIOKafkaConsumer(
        bootstrap_servers=tls.settings.kafka_bootstrap_servers,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **kafka_connection.client_options(tls.settings),
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        ids: list[str] = []
        deadline = asyncio.get_running_loop().time() + 30
        while contract_id not in ids and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            ids += [decode_event(r.value).contract_id for r in batch.get(tp, []) if r.value]
    finally:
        await consumer.stop()
    assert contract_id in ids

    # A wrong password, or no TLS at all, gets nothing from it.
    refused = [
        kafka_connection.client_options(tl.tls_settings(password="not-" + os.urandom(4).hex())),
        {},
    ]
    for options in refused:
        stranger = AIOKafkaConsumer(
            bootstrap_servers=tls.settings.kafka_bootstrap_servers,
            request_timeout_ms=5000,
            **options,
        )
        with pytest.raises((KafkaError, asyncio.TimeoutError)):
            await asyncio.wait_for(stranger.start(), 20)
        await stranger.stop()
