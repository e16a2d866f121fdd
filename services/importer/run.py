"""An import run: the planned events of a file handed to a sink, contract by contract in order,
several contracts at once.

A contract's events go in file order through one lane (a lane has one batch in flight at a
time), so the writer sees them as planned; contracts are spread over the lanes by a hash of
their id, so the lanes never share a contract. The file is read while batches are in flight;
what waits in memory is at most one batch per lane. A row the writer refuses is reported with
its line, column and reason; the rows of other contracts go on.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from imports.plan import Planned
from imports.problems import Problem
from services.importer.sinks import BATCH, Result, Sink

LANES: Final = 4


@dataclass
class Outcome:
    """What an import did: events by outcome and type, and every problem, in file order."""

    accepted: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    refused: list[Problem] = field(default_factory=list)
    pending: int = 0
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def events(self) -> int:
        return sum(self.accepted.values()) + sum(self.duplicates.values())

    def clean(self) -> bool:
        return not (self.refused or self.errors or self.pending)

    def record(self, planned: Planned, result: Result) -> None:
        kind = planned.event.type
        if result.status == "accepted":
            self.accepted[kind] += 1
        elif result.status == "duplicate":
            self.duplicates[kind] += 1
        elif result.status == "pending":
            self.pending += 1
            self.refused.append(
                Problem(planned.line, "", f"{kind}: {result.message}; run the import again")
            )
        else:
            column = planned.column_of(result.field)
            code = f" ({result.code})" if result.code else ""
            self.refused.append(
                Problem(planned.line, column, f"{kind} {result.status}{code}: {result.message}")
            )


class _Lane:
    def __init__(self, sink: Sink, outcome: Outcome) -> None:
        self.sink = sink
        self.outcome = outcome
        self.waiting: list[Planned] = []
        self.in_flight: asyncio.Task[None] | None = None

    async def flush(self) -> None:
        """Sends what waits, once the batch in flight is answered."""
        if self.in_flight is not None:
            await self.in_flight
            self.in_flight = None
        if self.waiting:
            batch, self.waiting = self.waiting, []
            self.in_flight = asyncio.create_task(self._send(batch))

    async def _send(self, batch: list[Planned]) -> None:
        results = await self.sink.submit(batch)
        for planned, result in zip(batch, results, strict=True):
            self.outcome.record(planned, result)

    async def drain(self) -> None:
        await self.flush()
        await self.flush()


async def run(
    items: Iterable[Planned | Problem],
    sink: Sink,
    *,
    lanes: int = LANES,
    batch: int = BATCH,
    progress: Callable[[], None] | None = None,
) -> Outcome:
    """Hands every planned event of `items` to `sink`; `progress` is called now and then."""
    outcome = Outcome()
    all_lanes = [_Lane(sink, outcome) for _ in range(lanes)]
    for n, item in enumerate(items):
        if isinstance(item, Problem):
            (outcome.errors if item.severity == "error" else outcome.warnings).append(item)
            continue
        lane = all_lanes[zlib.crc32(item.event.contract_id.encode()) % lanes]
        lane.waiting.append(item)
        if len(lane.waiting) >= batch:
            await lane.flush()
        if n % 200 == 0:
            if progress is not None:
                progress()
            await asyncio.sleep(0)  # let the answers in while the file is read
    for lane in all_lanes:
        await lane.drain()
    if progress is not None:
        progress()
    outcome.refused.sort(key=lambda p: p.line)
    return outcome


__all__ = ["LANES", "Outcome", "run"]
