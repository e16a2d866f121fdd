"""The risk app's hand-over from its bulk first pass to Faust's stream, with events appended
all the while: every one of them is judged (none lost in the table's recovery, none waiting
for ever for a state that is not there)."""

from __future__ import annotations

import asyncio
import time

from events.catalogue import Event
from events.topics import Topics
from services.db import connection
from simulation.examples import stamped
from simulation.histories import append
from tests.integration.test_risk_agent import _signed, _started
from tests.support.risk import committed, risk_app, wait_judged
from tests.support.stack import Scratch, Stack, unique

# How long events keep coming once the first pass has committed: past Faust's start and its
# table's recovery, which is where they were lost (a second or two on a quiet machine).
_APPENDING_S = 4.0


def _history(cid: str) -> list[Event]:
    return stamped([_signed(cid, "2026-01-05"), _started(cid, "2026-01-05")])


async def _judged(stack: Stack, t: Topics, contracts: list[str]) -> dict[str, int]:
    async with connection(stack.dsn) as conn:
        rows = await conn.fetch(
            """SELECT contract_id, stream_version FROM risk_progress
               WHERE events_topic = $1 AND contract_id = ANY($2::text[])""",
            t.events.name,
            contracts,
        )
    return {r["contract_id"]: r["stream_version"] for r in rows}


async def test_events_appended_while_the_first_pass_hands_over_to_faust_are_all_judged(
    ready_stack: Stack,
) -> None:
    made = Scratch(ready_stack)
    t = await made.topics(name="rh")
    try:
        first = unique("C")
        contracts = [first]
        # A log with events, so that the app makes a bulk first pass before Faust starts.
        await append(ready_stack.bootstrap, t.events.name, _history(first))
        async with risk_app(ready_stack, t) as proc:
            while not await committed(ready_stack, t):  # the first pass is done
                assert proc.poll() is None, f"risk exited with {proc.returncode}"
                await asyncio.sleep(0.05)
            began = time.monotonic()
            while time.monotonic() - began < _APPENDING_S:
                cid = unique("C")
                contracts.append(cid)
                await append(ready_stack.bootstrap, t.events.name, _history(cid))
                await asyncio.sleep(0.05)
            await wait_judged(ready_stack, t, proc)
            judged = await _judged(ready_stack, t, contracts)
        assert judged == dict.fromkeys(contracts, 2), {c: judged.get(c) for c in contracts}
    finally:
        await made.remove()
