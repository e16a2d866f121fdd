"""`ledger serve risk` from its start: the generation in force, its first pass judged in bulk
when it has none (services/risk/rebuild.py, `prepare`), then the Faust agent of that generation
(services/risk/worker.py).

Faust is imported only then: with its web stack (aiohttp) it is about half of the interpreter's
imports (~0.25 s of CPU here, `python -X importtime`), which a first pass does not use, so the
pass's alerts and offsets are out that much sooner."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from services.risk.rebuild import prepare
from services.settings import Settings


def run(settings: Settings, started: Callable[[], None] = lambda: None) -> None:
    """The agent until SIGTERM or SIGINT; `started` once the generation is known and its first
    pass, if due, judged."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # the loop Faust's worker runs, where the claim's connection is
    try:
        generation = loop.run_until_complete(prepare(settings))
    finally:
        started()
    from services.risk import worker  # Faust: only now (the module's docstring)

    worker.run(settings, loop, generation)
