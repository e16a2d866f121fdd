"""A server away must not bury the logs: the first line of each kind, then a summary.

While Kafka is down, aiokafka logs the same few errors (a connection refused, a coordinator
lost, a metadata request failed) many times a second in every client of every process: one
broker outage wrote 10,000-12,000 ERROR lines (1.2-1.6 MB) per process (issue #21), and the
line that said what happened scrolled away under them. `RepeatFilter` lets the first record of
each kind through (same logger, level and message template), drops the repeats for
`every_s` seconds, and then lets the next one through carrying the count of those dropped
(`… (412 more like this in the last 30 s)`): the outage is logged once, then a summary while
it lasts, and nothing is said once it is over.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

NOISY: Final = ("aiokafka", "kafka")
"""The loggers whose repeats are summarised (a name or its children)."""


class RepeatFilter(logging.Filter):
    def __init__(
        self,
        every_s: float = 30.0,
        prefixes: tuple[str, ...] = NOISY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.every_s = every_s
        self.prefixes = prefixes
        self.clock = clock
        # (logger, level, template) -> (when last let through, repeats dropped since)
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefixes):
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        seen = self._seen.get(key)
        if seen is None:
            self._seen[key] = (now, 0)
            return True
        since, dropped = seen
        if now - since >= self.every_s:
            self._seen[key] = (now, 0)
            if dropped:
                record.msg = (
                    f"{record.msg} ({dropped} more like this in the last {now - since:.0f} s)"
                )
            return True
        self._seen[key] = (seen[0], seen[1] + 1)
        return False


def install(every_s: float = 30.0) -> None:
    """Summarise the repeats of noisy loggers on every handler of the root logger."""
    f = RepeatFilter(every_s)
    for handler in logging.getLogger().handlers:
        handler.addFilter(f)
