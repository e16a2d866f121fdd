"""The risk agent's Faust stream over a backlog (here a log it has never judged, with its bulk
first pass turned off): every event judged, every alert the rules raise stored once, and each
contract's state written to the changelog about once per flush, not once per event
(services/risk/agent.py, `RiskAgent`)."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from events.serialization import decode_event
from events.topics import Topics
from simulation.histories import append, generate
from tests.support.risk import changelog_records, expected_alerts, judged, risk_app
from tests.support.stack import Scratch, Stack, unique

_EVENTS, _CONTRACTS = 3000, 10


async def _until_judged(conn: asyncpg.Connection, t: Topics, target: int) -> None:
    deadline = time.monotonic() + 120
    while (at := await judged(conn, t)) < target:
        assert time.monotonic() < deadline, f"judged {at} of {target}"
        await asyncio.sleep(0.2)


async def test_a_first_pass_judges_every_event_and_writes_each_state_about_once_per_flush(
    ready_stack: Stack, scratch: Scratch, pg: asyncpg.Connection
) -> None:
    t = await scratch.topics(name="rfp")
    # The generator's contract ids, made this run's own (alerts are in the shared tables).
    tag = unique("rfp")
    events = [
        decode_event(v).model_copy(update={"contract_id": f"{tag}-{k.decode()}"})
        for k, v in generate(_EVENTS, _CONTRACTS, seed=7, check=False).records
    ]
    await append(ready_stack.bootstrap, t.events.name, events)

    # Batches of 20 fill at once on a backlog: before, each batch wrote the state of every
    # contract it touched (about half of its events: 1,500 records for this log). Through
    # Faust's stream, as a catch-up after an outage goes (a first pass is judged in bulk by
    # default: tests/integration/test_risk_rebuild.py).
    async with risk_app(
        ready_stack,
        t,
        LEDGER_RISK_BATCH="20",
        LEDGER_RISK_FLUSH_S="30",
        LEDGER_RISK_BULK_FIRST_PASS="false",
    ):
        await _until_judged(pg, t, _EVENTS)  # each contract's versions run 1..k
        written = await changelog_records(ready_stack, t, at_least=_CONTRACTS)

    assert _CONTRACTS <= written <= _EVENTS // 6, written
    # (RELATIONSHIP_NEGLECT left out: its timer judges at a watermark that moves as it likes.)
    want = {a.alert_id: a for a in expected_alerts(events) if a.rule != "RELATIONSHIP_NEGLECT"}
    rows = await pg.fetch(
        """SELECT alert_id, rule, message, stream_version FROM alerts
           WHERE contract_id = ANY($1::text[]) AND rule <> 'RELATIONSHIP_NEGLECT'""",
        sorted({e.contract_id for e in events}),
    )
    assert len(want) > 100  # the log raises alerts all along
    assert {r["alert_id"]: (r["rule"], r["message"], r["stream_version"]) for r in rows} == {
        a.alert_id: (a.rule, a.message, a.stream_version) for a in want.values()
    }
