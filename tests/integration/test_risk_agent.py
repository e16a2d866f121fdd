"""The Faust risk agent against the real Kafka and PostgreSQL, on topics of its own: it judges
only committed records, and its timer judges a contract that has gone quiet."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from events.alerts import Alert
from events.serialization import encode_event
from events.topics import Topics
from services.db import connection
from simulation.examples import OMIT, example, stamped
from simulation.histories import append
from tests.support.risk import risk_app, wait_judged
from tests.support.stack import Scratch, Stack, unique
from tests.support.topics import alerts_on


def _signed(cid: str, day: str) -> dict[str, Any]:
    return example(
        "ContractSigned", contract_id=cid, client_name="Zones Inc", start_date=day,
        end_date="2031-12-31", markup_floor_pct="15", burden_pct="12", msp_fee_pct=OMIT,
        min_assignment_weeks=OMIT, conversion_fee_pct="20", non_solicit_months=12,
        occurred_at=f"{day}T08:00:00+00:00",
    )  # fmt: skip


def _started(cid: str, day: str) -> dict[str, Any]:
    return example(
        "AssignmentStarted", contract_id=cid, assignment_id="A-1", staffer_name="Dana Reyes",
        pay_rate="30.00", bill_rate="37.50", hours_per_week="40", burden_pct=OMIT,
        start_date=day, expected_end_date="2031-12-31", occurred_at=f"{day}T09:00:00+00:00",
    )  # fmt: skip


@pytest.fixture(scope="module")
async def risk_topics(ready_stack: Stack) -> AsyncIterator[Topics]:
    made = Scratch(ready_stack)
    yield await made.topics(name="rk")
    await made.remove()


@pytest.fixture(scope="module")
async def running(ready_stack: Stack, risk_topics: Topics) -> AsyncIterator[None]:
    # A fast timer, so that the test does not wait for it.
    async with risk_app(ready_stack, risk_topics, LEDGER_RISK_TIMER_S="0.2") as proc:
        yield
        assert proc.poll() is None, "the risk app stopped by itself"


async def _alerts(stack: Stack, cid: str) -> list[asyncpg.Record]:
    async with connection(stack.dsn) as conn:
        rows: list[asyncpg.Record] = await conn.fetch(
            """SELECT rule, event_ids, raised_at, stream_version FROM alerts
               WHERE contract_id = $1 ORDER BY seq""",
            cid,
        )
        return rows


async def _on_topic(stack: Stack, t: Topics, cid: str, expected: int) -> list[Alert]:
    return await alerts_on(stack, t.alerts.name, lambda a: a.contract_id == cid, expected)


async def test_an_aborted_transactions_event_raises_nothing(
    ready_stack: Stack, risk_topics: Topics, running: None
) -> None:
    t, cid = risk_topics, unique("C")
    signed, started = stamped([_signed(cid, "2026-01-05"), _started(cid, "2026-01-05")])
    await append(ready_stack.bootstrap, t.events.name, [signed, started])
    # The writer appends in transactions: one aborted after it had appended a bypass threat (it
    # would raise BYPASS_THREAT, critical) at the contract's next stream version …
    threat = stamped(
        [example("BypassThreatReported", contract_id=cid, assignment_id="A-1", staffer_id=OMIT,
                 occurred_at="2026-07-13T09:00:00+00:00")],
        first=3,
    )[0]  # fmt: skip
    producer = AIOKafkaProducer(
        bootstrap_servers=ready_stack.bootstrap, transactional_id=unique("aborting-writer")
    )
    await producer.start()
    try:
        await producer.begin_transaction()
        await producer.send_and_wait(t.events.name, encode_event(threat), key=cid.encode())
        await producer.abort_transaction()
        # … then the committed history goes on at that same version: a contact, then a
        # complaint (RELATIONSHIP_STRAIN), committed in a transaction of its own.
        contact, complaint = stamped(
            [example("ClientContactLogged", contract_id=cid, direction="inbound",
                     responded=True, occurred_at="2026-07-14T09:00:00+00:00"),
             example("ClientComplaintLogged", contract_id=cid, legal_threat=False,
                     occurred_at="2026-07-15T09:00:00+00:00")],
            first=3,
        )  # fmt: skip
        async with producer.transaction():
            for e in (contact, complaint):
                await producer.send(t.events.name, encode_event(e), key=cid.encode())
    finally:
        await producer.stop()

    await wait_judged(ready_stack, t)
    # (RELATIONSHIP_NEGLECT left out: the other test moves event time on by years.)
    rows = [r for r in await _alerts(ready_stack, cid) if r["rule"] != "RELATIONSHIP_NEGLECT"]
    # Had the aborted threat been judged, the state would be at version 3 already and the
    # committed contact and complaint would have been taken for redeliveries of it.
    assert [(r["rule"], r["event_ids"], r["stream_version"]) for r in rows] == [
        ("RELATIONSHIP_STRAIN", [complaint.event_id], 4)
    ]
    on_topic = await _on_topic(ready_stack, t, cid, 1)
    assert [a.rule for a in on_topic if a.rule != "RELATIONSHIP_NEGLECT"] == ["RELATIONSHIP_STRAIN"]


async def test_the_timer_raises_neglect_on_a_quiet_contract_once(
    ready_stack: Stack, risk_topics: Topics, running: None
) -> None:
    t = risk_topics
    quiet, busy = unique("C"), unique("C")
    # Event time in the past (the timer's clock never runs past the wall clock, issue #21), and
    # after the module's other contracts' (the timer's clock is the latest event time).
    # A contract with a staffer placed and no contact after its signing, then no events at all.
    signed, started = stamped([_signed(quiet, "2026-08-03"), _started(quiet, "2026-08-03")])
    await append(ready_stack.bootstrap, t.events.name, [signed, started])
    await wait_judged(ready_stack, t)
    assert await _alerts(ready_stack, quiet) == []
    # Another contract's events move event time on: 29 days after the signing, then 30.
    await append(ready_stack.bootstrap, t.events.name, stamped([_signed(busy, "2026-09-01")]))
    await wait_judged(ready_stack, t)
    await _settle()
    assert await _alerts(ready_stack, quiet) == []
    await append(
        ready_stack.bootstrap,
        t.events.name,
        stamped(
            [example("ClientComplaintLogged", contract_id=busy, legal_threat=False,
                     occurred_at="2026-09-02T08:00:00+00:00"),
             example("ClientComplaintLogged", contract_id=busy, legal_threat=False,
                     occurred_at="2026-10-14T08:00:00+00:00")],
            first=2,
        ),
    )  # fmt: skip
    await wait_judged(ready_stack, t)
    deadline = time.monotonic() + 20
    while not (rows := await _alerts(ready_stack, quiet)) and time.monotonic() < deadline:
        await _settle()
    # Counted from the signing, raised on the timer at the event time it found: once, however
    # often the timer ran since and however far event time moved on.
    assert [(r["rule"], r["event_ids"], r["stream_version"]) for r in rows] == [
        ("RELATIONSHIP_NEGLECT", [signed.event_id], 1)
    ]
    assert rows[0]["raised_at"].isoformat() in {
        "2026-09-02T08:00:00+00:00",
        "2026-10-14T08:00:00+00:00",
    }
    await _settle()
    assert len(await _alerts(ready_stack, quiet)) == 1
    on_topic = await _on_topic(ready_stack, t, quiet, 1)
    assert [a.rule for a in on_topic] == ["RELATIONSHIP_NEGLECT"]


async def _settle() -> None:
    """Long enough for a few ticks of the 0.2 s timer."""
    await asyncio.sleep(1.0)


async def test_a_poison_event_is_skipped_and_the_next_ones_are_judged(
    ready_stack: Stack, risk_topics: Topics, running: None
) -> None:
    t, cid = risk_topics, unique("C")
    producer = AIOKafkaProducer(bootstrap_servers=ready_stack.bootstrap, acks="all")
    await producer.start()
    try:
        for poison in (b"not json", b'{"type": "ContractSigned"}'):
            await producer.send_and_wait(t.events.name, poison, key=cid.encode())
    finally:
        await producer.stop()
    signed, complaint = stamped(
        [_signed(cid, "2030-04-01"),
         example("ClientComplaintLogged", contract_id=cid, legal_threat=True,
                 occurred_at="2030-04-02T09:00:00+00:00")]
    )  # fmt: skip
    await append(ready_stack.bootstrap, t.events.name, [signed, complaint])
    await wait_judged(ready_stack, t)
    rows = await _alerts(ready_stack, cid)
    assert [(r["rule"], r["event_ids"]) for r in rows] == [
        ("RELATIONSHIP_STRAIN", [complaint.event_id])
    ]
