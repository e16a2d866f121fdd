"""The cyclic garbage collector run rarely while a process works through a whole log.

A fold over a log (the writer's first fold, the risk agent's bulk pass) allocates a model per
record and keeps growing maps of states, none of them in reference cycles: they die by
reference counting. CPython's default (a young collection every 700 net allocations, older ones
scanning every object kept) re-scans them to find nothing; it took a fifth of the writer's
fold's CPU, and a third of the risk rules' at 200,000 events (bench/RESULTS.md). Cycles
(asyncio's, exceptions') are still collected, less often.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Final

__all__ = ["FewCollections"]

THRESHOLD: Final = (50_000, 20, 20)


class FewCollections:
    """A context in which the collector runs every `threshold[0]` allocations (THRESHOLD by
    default). Re-entrant (a process folds partitions side by side): the default comes back when
    the last one is done."""

    def __init__(self, threshold: tuple[int, int, int] = THRESHOLD) -> None:
        self.threshold = threshold
        self.folding = 0
        self.before = gc.get_threshold()

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        if not self.folding:
            self.before = gc.get_threshold()
            gc.set_threshold(*self.threshold)
        self.folding += 1
        try:
            yield
        finally:
            self.folding -= 1
            if not self.folding:
                gc.set_threshold(*self.before)
