"""One fault under load, and what a user would check after it (the fault suite, tests/faults).

For each fault: load for a moment, inject the fault, keep the load on until every part serves a
client again (or the bound passes), put back what the fault took away (a killed broker started
again, still under load), stop the load, let every event in flight resolve, then check: every
202 resolved and every event accepted; no accepted event lost or doubled and no gap in any
contract's stream_version (the log of record, read from Kafka); one BYPASS_THREAT per accepted
threat, stored once and published; the read models equal a clean rebuild; every process serving
again within RECOVERY_BOUND_S without the test restarting it. What the clients saw is recorded
in the report printed at the end of the run (and var/log/fault-suite.md).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from events.alerts import decode_alert
from events.catalogue import Event
from events.serialization import decode_event
from events.topics import TopicSpec
from services.db import connection
from services.settings import Settings
from simulation.examples import example
from tests.support.load import Cost, Load, Sent, back_after, cost
from tests.support.local_stack import LocalStack
from tests.support.projections import drop, dump_contracts, replay
from tests.support.stack import unique

WARM_S = 2.0  # load before the fault
TAIL_S = 1.0  # load after every part served again
RECOVERY_BOUND_S = 20.0  # from the fault's end until every part serves a client again
RESOLVE_S = 20.0  # for the events in flight (and 202s polled) when the load stops
SETTLE_S = 15.0  # for the risk agent and the projector to catch up once the load stopped
# A POST answers within LEDGER_VERDICT_TIMEOUT_S plus this, whatever is down.
DEADLINE_MARGIN_S = 2.0

# A fault: given the contracts the load has written so far, inject it and return the monotonic
# time at which it is over (the process killed, the server listening again, the writer
# continued): recovery is counted from there.
Inject = Callable[[list[str]], Awaitable[float]]


@dataclass
class Harness:
    settings: Settings
    stack: LocalStack
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


async def run_fault(
    h: Harness,
    fault: str,
    inject: Inject,
    restore: Callable[[], Awaitable[None]] | None = None,
    restarts_allowed: bool = True,
) -> Report:
    """The fault under load, then the checks; the report lists every failure. `restore` puts
    back what the fault took away once every part serves again, with the load still on.
    `restarts_allowed=False`: a service restarted by supervisord is a failure (the fault hit a
    server, and the services must ride it out)."""
    await heal(h)
    topics = h.settings.topics
    events_from = await _end_offsets(h, topics.events)
    alerts_from = await _end_offsets(h, topics.alerts)
    spawned = h.stack.spawns()
    key = "".join(c for c in fault.split(",")[0].lower() if c.isalnum())[:12]
    load = Load(h.api, h.token, h.am_id, f"{h.run}-{key}")
    began = time.monotonic()
    load.start()
    await asyncio.sleep(WARM_S)
    injected = time.monotonic()
    over = await inject(list(load.contracts))
    while (
        time.monotonic() < over + RECOVERY_BOUND_S and None in back_after(load.sent, over).values()
    ):
        await asyncio.sleep(0.25)
    # Served again before anything was put back: a broker killed must not be needed.
    degraded = back_after(load.sent, over) if restore is not None else None
    if restore is not None:
        await restore()
    await asyncio.sleep(TAIL_S)
    stopped = time.monotonic()
    sent = await load.stop(RESOLVE_S)

    failures: list[str] = []
    back = degraded or back_after(sent, over)
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
    while (not_running := {n: st for n, st in h.stack.states().items() if st != "RUNNING"}) and (
        time.monotonic() < deadline
    ):
        await asyncio.sleep(0.5)
    if not_running:
        failures.append(f"not running under supervisord: {not_running}")

    now_spawned = h.stack.spawns()
    restarts = {
        n: now_spawned[n] - spawned.get(n, 0)
        for n in now_spawned
        if now_spawned[n] - spawned.get(n, 0)
    }
    if restarts and not restarts_allowed:
        failures.append(f"restarted by supervisord: {restarts}")
    return Report(
        fault,
        cost(sent, injected, stopped),
        back,
        restarts,
        failures,
        time.monotonic() - began,
    )


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


async def heal(h: Harness) -> None:
    """Every part serving before a fault, whatever the last one left (a hung process is
    restarted here, and that fault has already failed)."""
    for server, up in h.stack.servers_alive().items():
        if not up:
            await h.stack.start_server(server)
    if await _probe(h, 10):
        return
    h.stack.restart_services()
    assert await _probe(h, 90), "the stack does not serve even after restarting its services"
