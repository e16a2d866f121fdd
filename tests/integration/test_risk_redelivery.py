"""Every event delivered twice to the (Faust) risk agent raises exactly the alerts of one
delivery."""

from __future__ import annotations

from collections import Counter

from events.alerts import decode_alert
from events.topics import Topics
from services.db import connection
from simulation.examples import stamped
from simulation.histories import append
from tests.support.risk import risk_app, wait_judged
from tests.support.stack import Scratch, Stack, unique
from tests.support.stories import seed_003_story
from tests.support.topics import first_batch


async def _judge(stack: Stack, t: Topics, cid: str, copies: int) -> None:
    """Seed 003's history on `cid`, each event `copies` times, judged by the risk app as
    `ledger serve risk` runs it."""
    await append(
        stack.bootstrap,
        t.events.name,
        stamped(seed_003_story(cid, "A-1", "am-redelivery").values()),
        copies,
    )
    async with risk_app(stack, t) as proc:
        await wait_judged(stack, t, proc)


async def test_redelivered_events_raise_no_alert_twice(
    ready_stack: Stack, scratch: Scratch
) -> None:
    once, twice = await scratch.topics(name="rd"), await scratch.topics(name="rd")
    c1, c2 = unique("C"), unique("C")
    await _judge(ready_stack, once, c1, copies=1)
    await _judge(ready_stack, twice, c2, copies=2)

    async with connection(ready_stack.dsn) as conn:
        rows = {
            cid: await conn.fetch(
                "SELECT rule, severity, basis, exposure FROM alerts WHERE contract_id = $1", cid
            )
            for cid in (c1, c2)
        }
    single = Counter(tuple(r) for r in rows[c1])
    double = Counter(tuple(r) for r in rows[c2])
    assert single == double
    assert {r[0] for r in single} >= {"LOSS_POSITION", "RAISE_ABSORBED", "BYPASS_THREAT"}

    records = await first_batch(ready_stack, twice.alerts.name, timeout_ms=5000)
    published = [decode_alert(r.value).alert_id for r in records if r.value]
    assert sorted(published) == sorted(set(published)) and len(published) == sum(double.values())
