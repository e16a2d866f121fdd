"""The watchdog: work in hand past its bound ends the process; a pause of the whole process
(SIGSTOP) and idle time do not."""

from __future__ import annotations

import pytest

from services import watchdog as module
from services.risk.worker import RebalanceWatch
from services.watchdog import EXIT_CODE, Watchdog


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _dog(stall_s: float = 10.0) -> tuple[Watchdog, Clock, list[int]]:
    clock = Clock()
    exits: list[int] = []
    return Watchdog("test", stall_s, clock=clock, exit=exits.append), clock, exits


def _run(dog: Watchdog, clock: Clock, seconds: float) -> str | None:
    """Checks as the watchdog's thread does, every interval, for `seconds`."""
    stalled = None
    end = clock.now + seconds
    while clock.now < end and stalled is None:
        clock.now += dog.interval
        stalled = dog.check()
    return stalled


def test_idle_is_never_a_stall() -> None:
    dog, clock, _ = _dog()
    assert _run(dog, clock, 1000) is None


def test_work_that_ends_in_time_is_not_a_stall() -> None:
    dog, clock, _ = _dog()
    for _ in range(20):
        with dog.busy("a transaction"):
            assert _run(dog, clock, 9) is None
    assert _run(dog, clock, 100) is None


def test_work_in_hand_past_the_bound_is_a_stall() -> None:
    dog, clock, _ = _dog()
    with dog.busy("a transaction"):
        stalled = _run(dog, clock, 30)
    assert stalled is not None and stalled.startswith("a transaction for 1")


def test_a_pause_of_the_whole_process_is_forgiven() -> None:
    dog, clock, _ = _dog()
    with dog.busy("a transaction"):
        assert _run(dog, clock, 5) is None
        clock.now += 60  # SIGSTOP: the checker did not run either
        assert _run(dog, clock, 4) is None
        assert _run(dog, clock, 10) is not None  # but a stall after it still counts


def test_the_thread_exits_the_process_on_a_stall() -> None:
    import time

    exits: list[int] = []
    dog = Watchdog("test", 0.2, exit=exits.append).start()
    try:
        with dog.busy("stuck"):
            time.sleep(0.6)
    finally:
        dog.stop()
    assert exits == [EXIT_CODE]


def test_a_rebalance_that_never_ends_is_a_stall_but_a_recovery_making_progress_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [0.0]
    dog = Watchdog("risk agent", 60, clock=lambda: now[0], exit=lambda _: None)
    monkeypatch.setattr(module, "_current", dog)

    def wait(seconds: int) -> str | None:
        """`seconds` pass, the watchdog's thread checking every second; its last answer."""
        stalled = None
        for _ in range(seconds):
            now[0] += 1
            stalled = dog.check()
        return stalled

    watch = RebalanceWatch()
    watch.observe(True, 1000)  # a rebalance began, its recovery has 1000 changes to read
    for remaining in (800, 500, 100, 0):  # four minutes of recovery, progressing
        assert wait(59) is None
        watch.observe(True, remaining)
    assert wait(59) is None
    watch.observe(True, 0)  # then no progress for a minute: Faust never ended it
    assert wait(2) == "a rebalance and its table recovery for 61 s"
    watch.observe(False, 0)  # it ended after all
    assert wait(1) is None


def test_a_table_recovery_that_reads_nothing_for_ten_seconds_is_started_again() -> None:
    now = [0.0]
    watch = RebalanceWatch(clock=lambda: now[0])
    watch.observe(True, 120)  # 120 changes of the changelog to read
    now[0] += 9
    watch.observe(True, 120)
    assert not watch.kick(120)  # 9 s without reading: not yet
    now[0] += 2
    watch.observe(True, 120)
    assert watch.kick(120)  # 11 s: started again, once
    assert not watch.kick(120)
    now[0] += 9
    watch.observe(True, 60)  # reading again
    now[0] += 9
    watch.observe(True, 60)
    assert not watch.kick(60)  # 9 s since it read
    assert not watch.kick(0)  # nothing left to read: nothing to start again
