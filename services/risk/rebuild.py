"""`ledger risk rebuild` and the risk agent's first pass: the events topic judged in bulk
(services/risk/bulk.py) rather than through Faust's stream.

A rebuild judges the whole log into a NEW generation of the agent's table and consumer group
(`<prefix>-risk-g<N>`, services/risk/names.py) beside the live agents, whose table, offsets
and alerts it does not touch; once it is close behind the log's end it records the new
generation in PostgreSQL (`risk_generations`), and each running agent, polling that from its
timer, stops and starts again into it (services/risk/worker.py, `run`): it recovers its table
from the new changelog (one record per contract) and goes on from the offsets the rebuild
committed. Events judged by both around the swap raise nothing twice (alert ids are
deterministic; `evolve` ignores a version already applied). The old generation's changelog
and group are left as they were (a rollback is a row of `risk_generations` set back); delete
them by hand once the new one runs.

A first pass: `ledger serve risk` that finds no committed offset for its generation while the
log holds events judges the log the same way into that generation before it starts Faust.
One agent of a prefix does either at a time (a PostgreSQL advisory lock); the others wait.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Final, TextIO

from services import probe
from services.db import connection
from services.kafka_log import log_ends
from services.risk import generations
from services.risk.bulk import committed_offsets, judge_log, summary
from services.risk.names import app_id
from services.settings import Settings

log = logging.getLogger("ledger.risk")

FIRST_PASS: Final = "judging the events topic in bulk (a first pass)"
"""What /readyz says while a first pass is judged or waits for another agent's."""


async def rebuild(settings: Settings, out: TextIO = sys.stderr) -> int:
    """The log judged into a new generation, then swapped in. Returns the new generation."""
    prefix = settings.topic_prefix
    async with connection(settings.dsn) as conn, generations.alone(conn, prefix, "rebuild"):
        live, new = await generations.begin(conn, prefix)
        print(f"judging {settings.topics.events.name} into generation {new} "
              f"({app_id(prefix, new)}; generation {live} stays live meanwhile)",
              file=out)  # fmt: skip
        judged = await judge_log(settings, new, settings.risk_bulk_processes, out)
        await generations.swap(conn, prefix, new)
    print(summary(judged, f"generation {new}"), file=out)
    print(f"generation {new} swapped in: the running agents restart into it "
          f"(generation {live}'s changelog and group are left as they were)",
          file=out)  # fmt: skip
    return new


async def prepare(settings: Settings) -> int:
    """Before the Faust agent starts: the generation to run, its first pass made in bulk if it
    has no committed offset while the log holds events (`risk_bulk_first_pass`)."""
    prefix = settings.topic_prefix
    async with connection(settings.dsn) as conn, contextlib.AsyncExitStack() as stack:
        # Not ready from the start (the probes serve before this runs) to the pass's end.
        with probe.not_ready("looking for a first pass to judge in bulk"):
            generation = await generations.current(conn, prefix)
            due = settings.risk_bulk_first_pass and await _first_pass_due(settings, generation)
            if not due:
                return generation
            stack.enter_context(probe.not_ready(FIRST_PASS))  # before the first one ends
        async with generations.alone(conn, prefix, "first pass"):
            # Another agent may have made it (or a rebuild swapped) while this one waited.
            generation = await generations.current(conn, prefix)
            if await _first_pass_due(settings, generation):
                log.info("generation %d has no committed offset: judging the log in bulk",
                         generation)  # fmt: skip
                processes = settings.risk_bulk_processes
                judged = await judge_log(settings, generation, processes, publish=True)
                log.info("%s", summary(judged, "first pass"))
    return generation


async def _first_pass_due(settings: Settings, generation: int) -> bool:
    group = app_id(settings.topic_prefix, generation)
    if any(o > 0 for o in (await committed_offsets(settings, group)).values()):
        return False
    ends = await log_ends(settings.kafka_bootstrap_servers, settings.topics.events)
    return any(ends.values())
