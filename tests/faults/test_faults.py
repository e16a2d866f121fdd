"""Issue #11's faults, one at a time, on the stack `make up` started (services under
supervisord), under a steady load of 8 clients that retry and poll (tests/support/load.py).

For each fault: load for a moment, inject the fault, keep the load on until every part serves a
client again (or the bound passes), stop the load, let every event in flight resolve, then check
what a user would: every 202 resolved and every event accepted; no accepted event lost or
doubled and no gap in any contract's stream_version (the log of record, read from Kafka); one
BYPASS_THREAT per accepted threat, stored once and published; the read models equal a clean
rebuild; every process serving again within RECOVERY_BOUND_S without the test restarting it
(supervisord may restart one that exited; the test restarts only a server it killed, Kafka or
PostgreSQL, as the fault prescribes). What the clients saw is recorded in the report printed at
the end of the run (and var/log/fault-suite.md).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from events.alerts import decode_alert
from events.catalogue import Event
from events.serialization import decode_event
from events.topics import TopicSpec
from services import tokens
from services.db import connection
from services.settings import Settings
from simulation.examples import example
from tests.support import local_stack as ls
from tests.support.load import Cost, Load, Sent, back_after, cost
from tests.support.projections import drop, dump_contracts, replay
from tests.support.stack import unique

pytestmark = pytest.mark.faults

WARM_S = 2.0  # load before the fault
TAIL_S = 1.0  # load after every part served again
RECOVERY_BOUND_S = 20.0  # from the fault's end until every part serves a client again
RESOLVE_S = 20.0  # for the events in flight (and 202s polled) when the load stops
SETTLE_S = 15.0  # for the risk agent and the projector to catch up once the load stopped
# A POST answers within LEDGER_VERDICT_TIMEOUT_S plus this, whatever is down.
DEADLINE_MARGIN_S = 2.0
SERVER_DOWN_S = 5.0  # Kafka or PostgreSQL killed, restarted this much later
# Longer than the writer's consumer session timeout (10 s): its partitions are taken away.
WRITER_STOP_S = 12.0
# Just longer than the API's verdict deadline (5 s by default), so that clients get 202s, and
# well within the writer's session timeout, so that its partitions stay where they are.
STALL_FOR_202_S = 5.6


@dataclass
class Harness:
    settings: Settings
    api: str
    token: str
    am_id: str
    run: str


@dataclass
class Report:
    fault: str
    cost_: Cost
    back: dict[str, float | None]
    restarts: dict[str, int]
    failures: list[str]
    seconds: float


@pytest.fixture(scope="module")
async def harness() -> Harness:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get("DATABASE_URL"):
        pytest.fail(
            "the fault suite kills and restarts servers: it runs on the local stack only "
            "(unset KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL)"
        )
    up = subprocess.run(["make", "up"], cwd=ls.ROOT, capture_output=True, text=True, timeout=300)
    assert up.returncode == 0, up.stderr[-3000:]
    assert ls.supervised(), "make up must run the services under supervisord"
    settings = Settings()
    am_id = unique("am-faults")
    async with connection(settings.dsn) as conn:
        _, token = await tokens.create_token(conn, "account_manager", am_id)
    return Harness(settings, settings.local_api_url, token, am_id, unique("F"))


# -- the faults ---------------------------------------------------------------------------------
# Each injects its fault and returns the monotonic time at which the fault is over (the process
# killed, the server listening again, the writer continued): recovery is counted from there.


async def _kill(name: str) -> float:
    ls.signal_pid(ls.service_pid(name), signal.SIGKILL)
    return time.monotonic()


async def _kill_server(name: str) -> float:
    pid = ls.server_pid(name)
    ls.signal_pid(pid, signal.SIGKILL)
    await ls.wait_gone(pid)
    await asyncio.sleep(SERVER_DOWN_S)
    await ls.start_server(name)  # returns once the server listens again
    return time.monotonic()


async def _stop_writer() -> float:
    async with ls.stopped(ls.service_pid("writer")):
        await asyncio.sleep(WRITER_STOP_S)
    return time.monotonic()


async def _restart_api_with_202s_outstanding() -> float:
    # The writer decides the submissions of those 202s while the API is starting again.
    async with ls.stopped(ls.service_pid("writer")):
        await asyncio.sleep(STALL_FOR_202_S)
        api = ls.service_pid("api")
        ls.signal_pid(api, signal.SIGKILL)  # supervisord starts it again
        await ls.wait_gone(api)
    return time.monotonic()


FAULTS: dict[str, Callable[[], Awaitable[float]]] = {
    "writer SIGKILL": lambda: _kill("writer"),
    "projector SIGKILL": lambda: _kill("projector"),
    "risk agent SIGKILL": lambda: _kill("risk"),
    "API SIGKILL": lambda: _kill("api"),
    "Kafka SIGKILL, restarted after 5 s": lambda: _kill_server("kafka"),
    "PostgreSQL SIGKILL, restarted after 5 s": lambda: _kill_server("postgres"),
    "writer SIGSTOP 12 s (> session timeout), SIGCONT": _stop_writer,
    "API restarted with 202s outstanding": _restart_api_with_202s_outstanding,
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_every_process_survives(
    fault: str, harness: Harness, fault_reports: list[Report]
) -> None:
    h = harness
    await _heal(h)
    topics = h.settings.topics
    events_from = await _end_offsets(h, topics.events)
    alerts_from = await _end_offsets(h, topics.alerts)
    spawned = ls.spawns()
    key = "".join(c for c in fault.split(",")[0].lower() if c.isalnum())[:12]
    load = Load(h.api, h.token, h.am_id, f"{h.run}-{key}")
    began = time.monotonic()
    load.start()
    await asyncio.sleep(WARM_S)
    injected = time.monotonic()
    over = await FAULTS[fault]()
    while (
        time.monotonic() < over + RECOVERY_BOUND_S and None in back_after(load.sent, over).values()
    ):
        await asyncio.sleep(0.25)
    await asyncio.sleep(TAIL_S)
    stopped = time.monotonic()
    sent = await load.stop(RESOLVE_S)

    failures: list[str] = []
    back = back_after(sent, over)
    for part, after in back.items():
        if after is None or after > RECOVERY_BOUND_S:
            failures.append(f"{part} did not serve a client within {RECOVERY_BOUND_S:.0f} s")
    unresolved = [s for s in sent if s.t1 is None]
    if unresolved:
        failures.append(
            f"{len(unresolved)} event(s) never resolved, "
            f"{sum(s.got_202 for s in unresolved)} of them answered 202"
        )
    refused = Counter(s.outcome for s in sent if s.t1 is not None and not s.accepted)
    if refused:
        failures.append(f"valid events not accepted: {dict(refused)}")
    if fault.startswith("API restarted") and not any(s.got_202 for s in sent):
        failures.append("no client got a 202 before the API restarted: the fault did not bite")

    errors = Counter(
        a.answer for s in sent for a in s.attempts + s.polls if a.answer.startswith("5")
    )
    errors.pop("503", None)
    if errors:
        failures.append(
            f"answers other than 503 with Retry-After when a dependency is away: {dict(errors)}"
        )
    held = max((a.t1 - a.t0 for s in sent for a in s.attempts), default=0.0)
    if held > h.settings.verdict_timeout_s + DEADLINE_MARGIN_S:
        failures.append(
            f"a POST was held {held:.1f} s (deadline {h.settings.verdict_timeout_s:g} s"
            f" + {DEADLINE_MARGIN_S:g} s)"
        )

    log_failures, logged = await _check_log(h, events_from, load.contracts, sent)
    failures += log_failures
    failures += await _check_alerts(h, alerts_from, load.contracts, logged)
    failures += await _check_read_models(h, load.contracts)
    deadline = time.monotonic() + 10  # a process just restarted is RUNNING after startsecs
    while (not_running := {n: st for n, st in ls.states().items() if st != "RUNNING"}) and (
        time.monotonic() < deadline
    ):
        await asyncio.sleep(0.5)
    if not_running:
        failures.append(f"not running under supervisord: {not_running}")

    now_spawned = ls.spawns()
    report = Report(
        fault,
        cost(sent, injected, stopped),
        back,
        {
            n: now_spawned[n] - spawned.get(n, 0)
            for n in now_spawned
            if now_spawned[n] - spawned.get(n, 0)
        },
        failures,
        time.monotonic() - began,
    )
    fault_reports.append(report)
    assert not failures, "; ".join(failures)


# -- the checks ---------------------------------------------------------------------------------


async def _check_log(
    h: Harness, start: dict[TopicPartition, int], contracts: list[str], sent: list[Sent]
) -> tuple[list[str], list[Event]]:
    """Each contract's log holds its accepted events exactly once, versions 1..n, and nothing
    the writer refused. Returns the failures and the contracts' logged events."""
    mine = set(contracts)
    logged = [e for e in map(decode_event, await _read_since(h, start)) if e.contract_id in mine]
    by_contract: dict[str, list[Event]] = {}
    for e in logged:
        by_contract.setdefault(e.contract_id, []).append(e)
    accepted = {s.event["event_id"] for s in sent if s.accepted}
    unresolved = {s.event["event_id"] for s in sent if s.t1 is None}
    ids = [str(e.event_id) for e in logged]
    gaps = [
        c
        for c, es in by_contract.items()
        if [e.stream_version for e in es] != list(range(1, len(es) + 1))
    ]
    failures = []
    if gaps:
        failures.append(f"{len(gaps)} contract(s) with a gap or repeat in stream_version")
    if len(ids) != len(set(ids)):
        failures.append(f"{len(ids) - len(set(ids))} event(s) appended twice")
    if lost := accepted - set(ids):
        failures.append(f"{len(lost)} accepted event(s) not in the log")
    if foreign := set(ids) - accepted - unresolved:
        failures.append(f"{len(foreign)} event(s) in the log that were refused")
    return failures, logged


async def _check_alerts(
    h: Harness, start: dict[TopicPartition, int], contracts: list[str], logged: list[Event]
) -> list[str]:
    """One BYPASS_THREAT per threat in the log, stored once; every stored alert published."""
    threats = sorted(e.event_id for e in logged if e.type == "BypassThreatReported")
    async with connection(h.settings.dsn) as conn:
        deadline = time.monotonic() + SETTLE_S
        while True:
            rows = await conn.fetch(
                "SELECT alert_id, rule, event_ids, published_at FROM alerts"
                " WHERE contract_id = ANY($1)",
                contracts,
            )
            raised = sorted(e for r in rows if r["rule"] == "BYPASS_THREAT" for e in r["event_ids"])
            unpublished = [r for r in rows if r["published_at"] is None]
            if (raised == threats and not unpublished) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.25)
    failures = []
    if raised != threats:
        failures.append(
            f"{len(threats)} threat(s) in the log raised {len(raised)} BYPASS_THREAT alert(s)"
            f" ({len(set(threats) - set(raised))} missing)"
        )
    on_topic = Counter(
        a.alert_id
        for a in (decode_alert(v) for v in await _read_since(h, start))
        if a.contract_id in set(contracts)
    )
    missing = {r["alert_id"] for r in rows} - set(on_topic)
    if missing:
        failures.append(f"{len(missing)} stored alert(s) never reached the alerts topic")
    return failures


async def _check_read_models(h: Harness, contracts: list[str]) -> list[str]:
    """The live read models of these contracts equal a clean replay of the log."""
    clean = unique("faults_rebuild").replace("-", "_")
    dsn, live = h.settings.dsn, h.settings.projection_schema
    try:
        await replay(h.settings.kafka_bootstrap_servers, h.settings.topics.events, dsn, clean)
        rebuilt = await dump_contracts(dsn, clean, contracts)
        deadline = time.monotonic() + SETTLE_S
        while (now := await dump_contracts(dsn, live, contracts)) != rebuilt:
            if time.monotonic() > deadline:
                differ = [t for t in rebuilt if rebuilt[t] != now[t]]
                return [f"read models differ from a rebuild in {differ}"]
            await asyncio.sleep(0.25)
        return []
    finally:
        await drop(dsn, clean)


# -- helpers ------------------------------------------------------------------------------------


async def _end_offsets(h: Harness, topic: TopicSpec) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=h.settings.kafka_bootstrap_servers, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        return dict(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


async def _read_since(h: Harness, start: dict[TopicPartition, int]) -> list[bytes]:
    """Every committed record of the topic from `start` to its current end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=h.settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        end = await consumer.end_offsets(list(start))
        out: list[bytes] = []
        while [tp for tp in start if await consumer.position(tp) < end[tp]]:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            out += [r.value for records in batch.values() for r in records if r.value]
        return out
    finally:
        await consumer.stop()


async def _probe(h: Harness, within_s: float) -> bool:
    """A fresh contract is accepted and answered with its impacts and alerts: every part
    serves."""
    headers = {"Authorization": f"Bearer {h.token}"}
    deadline = time.monotonic() + within_s
    async with httpx.AsyncClient(base_url=h.api, headers=headers, timeout=15) as http:
        while time.monotonic() < deadline:
            event = example(
                "ContractSigned", contract_id=unique("probe"), account_manager_id=h.am_id
            )
            try:
                r = await http.post("/v1/events", json=event)
                body = r.json()
                if (
                    r.status_code == 201
                    and body.get("margin_impacts") is not None
                    and body.get("alerts") is not None
                ):
                    return True
            except (httpx.HTTPError, ValueError):
                pass
            await asyncio.sleep(1)
    return False


async def _heal(h: Harness) -> None:
    """Every part serving before a fault, whatever the last one left (a hung process is
    restarted here, and that fault has already failed)."""
    for server in ("kafka", "postgres"):
        if not ls.alive(ls.server_pid(server)):
            await ls.start_server(server)
    if await _probe(h, 10):
        return
    ls.restart_services()
    assert await _probe(h, 90), "the stack does not serve even after restarting its services"
