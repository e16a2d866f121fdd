"""A rule released after an event was logged raises nothing for it in the risk agent (no flood
when a running system gains a rule), until an admin asks: `ledger risk rejudge --since DATE`
counts it with `--dry-run`, stores it without, and raises nothing twice."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer

from events.catalogue import Event
from events.serialization import encode_event
from events.topics import Topics
from projections.risk.rules.releases import RELEASED
from simulation.examples import stamped
from tests.support import overtime_example as worked
from tests.support.risk import judged, risk_app
from tests.support.stack import Scratch, Stack, unique
from tests.support.topics import alerts_on

ROOT = Path(__file__).resolve().parents[2]
_NEGLECT = "RELATIONSHIP_NEGLECT"
# Logged before OT_MARGIN_LEAK was released; and now.
_BEFORE = datetime(2026, 6, 1, 12, tzinfo=UTC)
assert _BEFORE.date() < RELEASED["OT_MARGIN_LEAK"]


def _leaking(cid: str) -> list[Event]:
    """A contract whose assignment's overtime loses money (OT bill 1.4× against OT pay 1.5×,
    5 OT hours planned a week): its AssignmentStarted raises OT_MARGIN_LEAK, and nothing else."""
    return stamped([worked.signed(contract_id=cid), worked.started(contract_id=cid)])


async def _append(stack: Stack, t: Topics, events: list[Event], at: datetime | None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all")
    await producer.start()
    try:
        ts = int(at.timestamp() * 1000) if at is not None else None
        for e in events:
            await producer.send_and_wait(
                t.events.name, encode_event(e), key=e.contract_id.encode(), timestamp_ms=ts
            )
    finally:
        await producer.stop()


def _rejudge(stack: Stack, t: Topics, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "services.cli", "risk", "rejudge", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap, "DATABASE_URL": stack.dsn,
             "LEDGER_TOPIC_PREFIX": t.events.name.removesuffix(".events")},
    )  # fmt: skip
    return out.stdout


def _row(out: str, rule: str) -> list[str]:
    [line] = [line for line in out.splitlines() if line.startswith(rule + " ")]
    return line.split()[1:]


async def _rules(pg: asyncpg.Connection, cid: str) -> list[str]:
    """The contract's alerts' rules (but the timer's, which judges at a watermark of its own)."""
    rows = await pg.fetch(
        """SELECT rule FROM alerts WHERE contract_id = $1 AND rule <> 'RELATIONSHIP_NEGLECT'
           ORDER BY seq""",
        cid,
    )
    return [r["rule"] for r in rows]


async def test_a_rule_released_after_an_event_was_logged_raises_it_only_when_an_admin_asks(
    ready_stack: Stack, scratch: Scratch, pg: asyncpg.Connection
) -> None:
    t = await scratch.topics(name="rrj")
    old, new = unique("C-old"), unique("C-new")
    await _append(ready_stack, t, _leaking(old), _BEFORE)
    await _append(ready_stack, t, _leaking(new), None)

    async with risk_app(ready_stack, t, LEDGER_RISK_TIMER_S="0.2"):
        deadline = time.monotonic() + 60
        while await judged(pg, t) < 4:
            assert time.monotonic() < deadline, "the agent did not judge the 4 events"
            await asyncio.sleep(0.2)
        assert await _rules(pg, new) == ["OT_MARGIN_LEAK"]
        assert await _rules(pg, old) == []  # logged before the rule's release

        dry = _rejudge(ready_stack, t, "--since", "2026-01-01", "--dry-run")
        # rule, raised since the day, stored already, would raise
        assert _row(dry, "OT_MARGIN_LEAK") == ["2", "1", "1"], dry
        assert await _rules(pg, old) == []  # a dry run stores nothing

        # A day after the old event was logged: nothing of it.
        later = _rejudge(ready_stack, t, "--since", "2026-06-02", "--dry-run")
        assert _row(later, "OT_MARGIN_LEAK") == ["1", "1", "0"], later

        done = _rejudge(ready_stack, t, "--since", "2026-01-01", "--rule", "OT_MARGIN_LEAK")
        assert _row(done, "OT_MARGIN_LEAK") == ["2", "1", "1"], done
        assert await _rules(pg, old) == ["OT_MARGIN_LEAK"]
        # The live agent publishes it from its outbox, as any alert.
        [published] = await alerts_on(
            ready_stack, t.alerts.name, lambda a: a.contract_id == old and a.rule != _NEGLECT, 1
        )
        assert published.rule == "OT_MARGIN_LEAK"

        again = _rejudge(ready_stack, t, "--since", "2026-01-01")
        assert _row(again, "OT_MARGIN_LEAK") == ["2", "2", "0"], again
        assert await _rules(pg, old) == ["OT_MARGIN_LEAK"]


def test_rejudge_refuses_a_rule_that_does_not_exist() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "services.cli", "risk", "rejudge", "--since", "2026-01-01",
         "--rule", "NO_SUCH_RULE", "--dry-run"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 2
    assert "NO_SUCH_RULE is not a rule" in out.stderr
