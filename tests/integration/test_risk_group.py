"""Two `ledger serve risk` processes with the same settings, in one consumer group, share the
events topic's partitions, the rules' state following the partitions: a second agent joins one
that has judged the log so far and takes some partitions; then one is SIGKILLed in the middle of
a pass and the other finishes every partition. Every alert the rules raise on the log is in
PostgreSQL exactly once, and no other. As in any deployment, a projector indexes the log
beside them: a member whose table lacks a contract's state after a takeover folds it from
there (services/risk/worker.py, `state_from_log`)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from events.alerts import Alert
from events.catalogue import Event
from events.topics import Topics
from services.membership import Membership
from simulation.histories import append
from tests.support.projections import start_projector, wait_split
from tests.support.risk import (
    expected_alerts,
    judged,
    owned,
    prefix_of,
    squeezed_rounds,
    start_risk,
)
from tests.support.services import stop
from tests.support.stack import Scratch, Stack, unique
from tests.support.topics import alerts_on

# Two risk agents and a projector whose rebalances are timed against the group's session:
# alone, after the parallel run (`make test`).
pytestmark = pytest.mark.serial


_CONTRACTS = 60
_ROUNDS = 10
# A fast timer: it runs many times over each round, as it would over days of live traffic.
_ENV = {"LEDGER_RISK_TIMER_S": "0.2", "LEDGER_RISK_BATCH": "50"}


def _row(a: Alert | asyncpg.Record) -> tuple[Any, ...]:
    get = a.__getitem__ if isinstance(a, asyncpg.Record) else a.__getattribute__
    fields = ("alert_id", "rule", "severity", "basis", "contract_id", "assignment_id",
              "exposure", "message", "raised_at", "stream_version")  # fmt: skip
    return (*(get(f) for f in fields), tuple(get("event_ids")))


def _judged_through(rounds: list[list[Event]], n: int) -> int:
    """What `judged` reads once rounds 0..n are judged: each contract's last stream version."""
    last = {e.contract_id: e.stream_version or 0 for r in rounds[: n + 1] for e in r}
    return sum(last.values())


async def _until_judged(conn: asyncpg.Connection, t: Topics, target: int, logs: list[Path]) -> None:
    deadline = time.monotonic() + 60
    while (at := await judged(conn, t)) < target:
        # A failure says what each agent did: CI keeps no logs.
        assert time.monotonic() < deadline, f"judged {at} of {target}\n{tails(logs)}"
        await asyncio.sleep(0.05)


def tails(logs: list[Path], lines: int = 40) -> str:
    """The last `lines` lines of each log that are not heartbeat noise."""
    out = []
    for log in logs:
        kept = [x for x in log.read_text().splitlines() if x.strip() and "Heartbeat" not in x]
        out.append(f"--- {log.name}\n" + "\n".join(kept[-lines:]))
    return "\n".join(out)


async def test_two_risk_agents_split_the_partitions_and_one_finishes_when_the_other_is_killed(
    ready_stack: Stack, scratch: Scratch
) -> None:
    t = await scratch.topics(name="rgrp")
    cids = [unique("G") for _ in range(_CONTRACTS)]  # the alerts table is shared: ids our own
    rounds = squeezed_rounds(cids, _ROUNDS, date(2026, 1, 5))
    schema = scratch.schema("rgrp")
    projector, _ = start_projector(ready_stack, prefix_of(t), schema, "projector")
    # The same settings for both, static membership included: the second claims `<id>-2`.
    env = _ENV | {
        "LEDGER_RISK_INSTANCE_ID": f"{t.events.name}-risk",
        "LEDGER_PROJECTION_SCHEMA": schema,
    }
    a, log_a = start_risk(ready_stack, t, "a", **env)
    logs = [log_a]
    b: subprocess.Popen[bytes] | None = None
    conn = await asyncpg.connect(ready_stack.dsn)

    async def judge(n: int) -> None:
        """Round n appended, and judged whole before the next (see `squeezed_rounds`)."""
        await append(ready_stack.bootstrap, t.events.name, rounds[n])
        await _until_judged(conn, t, _judged_through(rounds, n), logs)

    try:
        await wait_split([log_a], t.events.partitions, timeout_s=60, parse=owned)
        for n in (0, 1):  # A alone holds every contract's state
            await judge(n)
        b, log_b = start_risk(ready_stack, t, "b", **env)
        logs.append(log_b)
        split = await wait_split([log_a, log_b], t.events.partitions, timeout_s=60, parse=owned)
        for n in range(2, 6):  # each judges its partitions; A's timer runs over what it holds
            await judge(n)
        assert [owned(log_a), owned(log_b)] == split, "the group rebalanced meanwhile"
        assert f"(instance {env['LEDGER_RISK_INSTANCE_ID']}-2)" in log_b.read_text()
        await append(ready_stack.bootstrap, t.events.name, rounds[6])
        before, deadline = _judged_through(rounds, 5), time.monotonic() + 60
        while await judged(conn, t) == before:  # the pass has begun
            assert time.monotonic() < deadline, "round 6 was not judged at all"
            await asyncio.sleep(0.01)
        b.send_signal(signal.SIGKILL)
        b.wait(timeout=30)
        # B's partitions: A takes them once B's session has expired, from their changelog.
        await _until_judged(conn, t, _judged_through(rounds, 6), logs)
        for n in range(7, _ROUNDS):
            await judge(n)
        assert owned(log_a) == set(range(t.events.partitions))
        stored = await conn.fetch("SELECT * FROM alerts WHERE contract_id = ANY($1)", cids)
    finally:
        stop(a, projector, *([b] if b is not None else []))
        await conn.close()

    expected = expected_alerts(e for r in rounds for e in r)
    assert {a.rule for a in expected} == {"RAISE_ABSORBED", "BELOW_FLOOR", "LOSS_POSITION"}
    assert Counter(_row(r) for r in stored) == Counter(_row(a) for a in expected)
    # Every alert is published too (at least once: a consumer deduplicates by id).
    published = await alerts_on(ready_stack, t.alerts.name, lambda _: True, len(expected))
    assert {a.alert_id for a in published} == {a.alert_id for a in expected}


async def test_a_static_membership_is_claimed_by_one_live_process_at_a_time(
    ready_stack: Stack,
) -> None:
    group, base = unique("grp"), "risk-host"
    first, second = (Membership(ready_stack.dsn, group, base) for _ in range(2))
    try:
        assert (await first.claim(), await second.claim()) == (base, f"{base}-2")
        await first.close()  # a process gone: its id is free again, for its restart
        again = Membership(ready_stack.dsn, group, base)
        assert await again.claim() == base
        await again.keep()  # still held: nothing changes
        assert again._conn is not None
        again._conn.terminate()  # its connection lost (PostgreSQL restarted): taken again
        await again.keep()
        third = Membership(ready_stack.dsn, group, base)
        assert (again.instance_id, await third.claim()) == (base, f"{base}-3")
        await third.close()
        await again.close()
    finally:
        await first.close()
        await second.close()
