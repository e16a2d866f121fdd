"""A watchdog for the long-running processes: work in hand that makes no progress for
`stall_s` seconds is logged and ends the process with a non-zero code, so that a supervisor
restarts it (a process that hangs is worse than one that exits: nothing acts on it).

The code marks its units of work with `with watchdog.busy("what"):`; awaits inside one must
all be bounded, and a handled failure (a dependency away, retried with backoff) ends the unit,
so an outage is never taken for a hang. The clock is checked from a thread, so a blocked event
loop is caught too; a process that was itself paused (SIGSTOP, a VM migration) does not count
the pause as a stall.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger("ledger.watchdog")

EXIT_CODE = 70  # EX_SOFTWARE


class Watchdog:
    def __init__(
        self,
        process: str,
        stall_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        exit: Callable[[int], object] = os._exit,
    ) -> None:
        self.process = process
        self.stall_s = stall_s
        self.clock = clock
        self.exit = exit
        self._since: dict[int, tuple[str, float]] = {}
        self._next = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._last_check: float | None = None

    @contextmanager
    def busy(self, what: str) -> Iterator[None]:
        """A unit of work in hand: it must end within `stall_s`."""
        token = self.begin(what)
        try:
            yield
        finally:
            self.end(token)

    def begin(self, what: str) -> int:
        """A unit of work that does not fit a `with` block (begun and ended by callbacks):
        `end` it with the token returned."""
        with self._lock:
            token = self._next
            self._next += 1
            self._since[token] = (what, self.clock())
        return token

    def end(self, token: int) -> None:
        with self._lock:
            self._since.pop(token, None)

    def check(self) -> str | None:
        """The stalled unit's description, if one has been in hand for longer than `stall_s`.

        Time during which the checker itself did not run (the process was paused) is forgiven:
        every unit in hand is moved forward by the gap."""
        now = self.clock()
        interval = self.interval
        with self._lock:
            if self._last_check is not None:
                gap = now - self._last_check - interval
                if gap > interval:
                    self._since = {k: (w, t + gap) for k, (w, t) in self._since.items()}
            self._last_check = now
            for what, since in self._since.values():
                if now - since > self.stall_s:
                    return f"{what} for {now - since:.0f} s"
        return None

    def stalled(self) -> str | None:
        """What `check` would answer now, without moving its clock (for a probe, read from
        another thread at its own pace): the unit in hand past `stall_s`, if any."""
        if self.stall_s <= 0:
            return None
        now = self.clock()
        with self._lock:
            for what, since in self._since.values():
                if now - since > self.stall_s:
                    return f"{what} for {now - since:.0f} s"
        return None

    @property
    def interval(self) -> float:
        return max(0.05, min(1.0, self.stall_s / 4))

    def start(self) -> Watchdog:
        if self._thread is None and self.stall_s > 0:
            self._thread = threading.Thread(
                target=self._watch, name=f"watchdog-{self.process}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()

    def _watch(self) -> None:
        while not self._stopped.wait(self.interval):
            stalled = self.check()
            if stalled is not None:
                log.critical(
                    "watchdog: %s has made no progress with work waiting (%s); exiting so that "
                    "it is restarted",
                    self.process,
                    stalled,
                )
                for handler in logging.getLogger().handlers:
                    handler.flush()
                self.exit(EXIT_CODE)
                return


_current: Watchdog | None = None


def install(process: str, stall_s: float) -> Watchdog:
    """The process's watchdog, started (stall_s 0 disables it)."""
    global _current
    _current = Watchdog(process, stall_s).start()
    return _current


def current() -> Watchdog:
    """The process's watchdog; an inert one when none was installed (tests, admin commands)."""
    global _current
    if _current is None:
        _current = Watchdog("unwatched", 0)
    return _current
