"""How much work one token may ask of the API: a token bucket per token, in each API process.

A preview judges each event against its contract's whole history in the API process itself: a
500-event preview over unknown contracts took 7 s, four at once 24 s, and every other request
waited behind them (issue #21). Each token draws from its own bucket, `burst` units deep and
refilled at `per_s` units a second; a submitted event costs 1 unit, a previewed one
PREVIEW_COST. A request that would overdraw the bucket takes nothing and is answered 429 with
`Retry-After`: the seconds until the bucket holds enough again. A sender that waits that long
is served. The default (2,000 units a second, 10,000 deep) is far above what an account manager or
an import does (the fault suite's 40 events/s, a 500-event batch), and a load test sets its own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Final

PREVIEW_COST: Final = 10
"""Units of one previewed event: a preview costs the API what a submission costs the writer,
the projector and the risk agent together (measured: 14 ms an event against about 1 ms)."""


class RateLimited(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(retry_after_s)
        self.retry_after_s = retry_after_s


class TokenBuckets:
    def __init__(
        self, per_s: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_s, self.burst, self.clock = per_s, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # token -> (units, when counted)

    def take(self, token: str, units: float) -> None:
        """Draw `units` from `token`'s bucket, or raise RateLimited (taking nothing). A request
        larger than the whole bucket is let through when the bucket is full: it is refused
        for its size elsewhere (a batch holds at most 500 events)."""
        if self.per_s <= 0:
            return
        now = self.clock()
        held, then = self._buckets.get(token, (self.burst, now))
        held = min(self.burst, held + (now - then) * self.per_s)
        need = min(units, self.burst)
        if held < need:
            self._buckets[token] = (held, now)
            raise RateLimited(max(1, math.ceil((need - held) / self.per_s)))
        self._buckets[token] = (held - units, now)
        if len(self._buckets) > 10_000:  # tokens long idle are full again: forget them
            full_since = now - self.burst / self.per_s
            self._buckets = {t: b for t, b in self._buckets.items() if b[1] > full_since}
