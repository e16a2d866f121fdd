"""Helpers for the risk agent's tests: the Faust app as `ledger serve risk` runs it, how far
its consumer group has committed, and how to make it forget everything (a full replay)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError

from events.alerts import Alert
from events.catalogue import Event
from events.topics import Topics
from projections.risk import RiskState, judge
from services.risk.names import app_id, changelog_topic
from simulation.examples import OMIT, example, stamped
from tests.support.services import serve, stop
from tests.support.stack import Stack


def prefix_of(t: Topics) -> str:
    return t.events.name.removesuffix(".events")


def start_risk(
    stack: Stack, t: Topics, name: str = "", **env: str
) -> tuple[subprocess.Popen[bytes], Path]:
    """`ledger serve risk` on topics `t`, logging to var/log/test-<prefix>-risk[-name].log;
    with a `name`, under the static membership `<prefix>-<name>`; `env` overrides settings.
    Returns the process and its log."""
    prefix = prefix_of(t)
    member = {"LEDGER_RISK_INSTANCE_ID": f"{prefix}-{name}"} if name else {}
    return serve("risk", stack, prefix, f"risk-{name}" if name else "risk", **(member | env))


@asynccontextmanager
async def risk_app(stack: Stack, t: Topics, **env: str) -> AsyncIterator[subprocess.Popen[bytes]]:
    """`ledger serve risk` on topics `t`, stopped with SIGTERM at the end."""
    proc, _ = start_risk(stack, t, **env)
    try:
        yield proc
    finally:
        stop(proc)


async def committed(stack: Stack, t: Topics, generation: int = 0) -> dict[int, int]:
    """The risk app's committed offset per partition of the events topic (of `generation`'s
    consumer group, services/risk/generations.py)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(app_id(prefix_of(t), generation))
    finally:
        await admin.close()
    return {tp.partition: o.offset for tp, o in offsets.items() if tp.topic == t.events.name}


async def past_last_records(stack: Stack, t: Topics) -> dict[int, int]:
    """Per partition of the events topic, the offset after its last committed record: what a
    consumer that has read everything commits (not the offset after a transaction marker)."""
    tps = [TopicPartition(t.events.name, p) for p in range(t.events.partitions)]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.bootstrap,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        last: dict[int, int] = {}
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in batch.items():
                for r in records:
                    last[tp.partition] = r.offset + 1
        return last
    finally:
        await consumer.stop()


async def wait_judged(
    stack: Stack, t: Topics, proc: subprocess.Popen[bytes] | None = None, timeout_s: float = 90
) -> None:
    """Until the risk app has committed past every record of the events topic."""
    ends = await past_last_records(stack, t)
    deadline = time.monotonic() + timeout_s
    while True:
        done = await committed(stack, t)
        if all(done.get(p, 0) >= off for p, off in ends.items()):
            return
        if proc is not None:
            assert proc.poll() is None, f"risk exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"the risk app did not judge the log: {done} < {ends}"
        await asyncio.sleep(0.3)


async def forget(stack: Stack, t: Topics) -> None:
    """With the risk app stopped: its group rewound to offset 0 and its changelog deleted, so
    that it judges the whole log again from no state at its next start."""
    group = app_id(prefix_of(t))
    tps = [TopicPartition(t.events.name, p) for p in range(t.events.partitions)]
    deadline = time.monotonic() + 90
    while True:  # until the stopped member has left the group
        consumer = AIOKafkaConsumer(
            bootstrap_servers=stack.bootstrap, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            consumer.assign(tps)
            await consumer.commit({tp: 0 for tp in tps})
            break
        except CommitFailedError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)
        finally:
            await consumer.stop()
    # A compacted topic keeps the latest state per contract: drop it, the app makes it anew.
    name = changelog_topic(prefix_of(t))
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([name])
        while name in await admin.list_topics():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} was not deleted")
            await asyncio.sleep(0.5)
    finally:
        await admin.close()


async def changelog_records(
    stack: Stack, t: Topics, at_least: int, timeout_s: float = 30, generation: int = 0
) -> int:
    """How many records the risk app has written to its table's changelog (the sum of its
    partitions' end offsets), once there are `at_least` (the producer sends them a moment
    after the table is written)."""
    name = changelog_topic(prefix_of(t), generation)
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.bootstrap)
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            parts = consumer.partitions_for_topic(name) or set()
            if not parts:
                await consumer._client.force_metadata_update()  # a topic Faust made meanwhile
                parts = consumer.partitions_for_topic(name) or set()
            ends = await consumer.end_offsets([TopicPartition(name, p) for p in parts])
            total: int = sum(ends.values())
            if total >= at_least or time.monotonic() > deadline:
                return total
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()


def owned(log: Path) -> set[int] | None:
    """The partitions a risk agent's log says it last owned (None: none yet)."""
    found = re.findall(r"ledger\.risk: owns partitions \[([0-9, ]*)\]", log.read_text())
    if not found:
        return None
    return {int(p) for p in found[-1].split(",") if p.strip()}


async def judged(conn: asyncpg.Connection, t: Topics) -> int:
    """The sum over contracts of the stream version judged (risk_progress)."""
    return int(
        await conn.fetchval(
            "SELECT coalesce(sum(stream_version), 0) FROM risk_progress WHERE events_topic = $1",
            t.events.name,
        )
    )


def expected_alerts(events: Iterable[Event]) -> list[Alert]:
    """Every alert the rules raise on `events` (each contract's in stream order), judged event
    by event as the agent does, without the timer's watermark: `projections.risk.judge`."""
    states: dict[str, RiskState] = {}
    alerts: list[Alert] = []
    for e in events:
        raised, states[e.contract_id] = judge(states.get(e.contract_id), e)
        alerts += raised
    return alerts


def squeezed_rounds(contract_ids: list[str], rounds: int, first: date) -> list[list[Event]]:
    """A log that raises alerts all the way through, cut into `rounds` of 10 days each: every
    contract signs and starts A-1 in round 0, and in every later round logs an answered
    contact, absorbs a pay rise (RatesAdjusted: pay up 0.50, bill unchanged; a loss position
    once the margin is gone) and asks for a raise its client will not pay for (RaiseRequested
    with client_max_bill_rate at the bill rate, then declined). Each round's events in time
    order; stream versions stamped per contract.

    No contract is ever 30 days without a contact, so RELATIONSHIP_NEGLECT is due for none,
    at any event time up to the end of the round after the one it was judged through: a
    worker that judges round n only once every earlier round is judged has nothing to raise
    on its timer. One that judged a contract it no longer owns does (its state stands still).
    """
    by_round: list[list[tuple[str, int, Event]]] = [[] for _ in range(rounds)]
    for i, cid in enumerate(contract_ids):
        start = first + timedelta(days=i % 3)
        pay = Decimal("30.00")

        def at(day: date, hour: int) -> str:
            return f"{day.isoformat()}T{hour:02d}:00:00+00:00"

        stream = [
            example("ContractSigned", contract_id=cid, client_name=f"Squeeze {i}",
                    start_date=start.isoformat(), end_date="2031-12-31", markup_floor_pct="20",
                    burden_pct="12", msp_fee_pct=OMIT, min_assignment_weeks=OMIT,
                    occurred_at=at(start, 8)),
            example("AssignmentStarted", contract_id=cid, assignment_id="A-1",
                    pay_rate=str(pay), bill_rate="37.50", hours_per_week="40", burden_pct=OMIT,
                    start_date=start.isoformat(), expected_end_date="2031-12-31",
                    occurred_at=at(start, 9)),
            example("ClientContactLogged", contract_id=cid, responded=True,
                    occurred_at=at(start, 10)),
        ]  # fmt: skip
        rows = [(0, s) for s in stream]
        for r in range(1, rounds):
            day = start + timedelta(days=10 * r)
            pay += Decimal("0.50")
            rows += [
                (r, example("ClientContactLogged", contract_id=cid, responded=True,
                            occurred_at=at(day, 8))),
                (r, example("RatesAdjusted", contract_id=cid, assignment_id="A-1",
                            pay_rate=str(pay), bill_rate="37.50",
                            effective_date=day.isoformat(), occurred_at=at(day, 9))),
                (r, example("RaiseRequested", contract_id=cid, raise_request_id=f"R-{r}",
                            requested_pay_rate=str(pay + 1), client_max_bill_rate="37.50",
                            occurred_at=at(day, 10))),
                (r, example("RaiseDeclined", contract_id=cid, raise_request_id=f"R-{r}",
                            occurred_at=at(day, 11))),
            ]  # fmt: skip
        for (r, _), event in zip(rows, stamped(s for _, s in rows), strict=True):
            by_round[r].append((event.occurred_at.isoformat(), i, event))
    return [[e for _, _, e in sorted(rnd, key=lambda x: (x[0], x[1]))] for rnd in by_round]
