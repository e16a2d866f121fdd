"""The read models are a function of the log alone: replayed twice, or with every event
delivered twice, they come out identical, row for row."""

from __future__ import annotations

import dataclasses

from events.topics import topics
from services import kafka_admin
from tests.conftest import Stack, unique
from tests.integration.projection_support import drop, dump, replay
from tests.support.histories import generate, produce

EVENTS = 5_000


async def test_replays_and_redelivery_give_identical_read_models(ready_stack: Stack) -> None:
    once, twice = topics(unique("rp")), topics(unique("rp"))
    for t in (once, twice):
        await kafka_admin.ensure_topics(ready_stack.bootstrap, t)
    log = generate(EVENTS, contracts=100, seed=7, check=True)
    await produce(ready_stack.bootstrap, once.events.name, once.events.partitions, log, "none")
    doubled = dataclasses.replace(log, records=[r for rec in log.records for r in (rec, rec)])
    await produce(
        ready_stack.bootstrap, twice.events.name, twice.events.partitions, doubled, "none"
    )

    schemas = [unique("rp").replace("-", "_") for _ in range(3)]
    try:
        first = await replay(ready_stack.bootstrap, once.events, ready_stack.dsn, schemas[0])
        await replay(ready_stack.bootstrap, once.events, ready_stack.dsn, schemas[1])
        dup = await replay(ready_stack.bootstrap, twice.events, ready_stack.dsn, schemas[2])
        a, b, c = [await dump(ready_stack.dsn, s) for s in schemas]
    finally:
        await drop(ready_stack.dsn, *schemas)

    assert first.progress.applied == EVENTS
    assert (dup.progress.applied, dup.progress.skipped) == (EVENTS, EVENTS)
    assert len(a["contracts"]) == 100 and len(a["margin_impacts"]) > 100
    assert a == b
    assert a == c
