"""A Kafka outage logs its first line of each kind, then a summary while it lasts (issue #21:
10,000-12,000 aiokafka ERROR lines per process and outage)."""

from __future__ import annotations

import logging

from services.log_noise import RepeatFilter


def _record(name: str, msg: str, *args: object, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_an_outage_is_logged_once_then_summarised_while_it_lasts() -> None:
    now = [0.0]
    f = RepeatFilter(every_s=30, clock=lambda: now[0])
    refused = "Unable connect to node with id %s: %s"
    let_through = []
    for second in range(95):  # ten refusals a second for 95 s
        now[0] = float(second)
        for _ in range(10):
            r = _record("aiokafka.conn", refused, 1, "Connect call failed")
            if f.filter(r):
                let_through.append(r.getMessage())
    assert len(let_through) == 4  # at 0 s, then a summary at 30, 60 and 90 s
    assert let_through[0] == "Unable connect to node with id 1: Connect call failed"
    assert let_through[1].endswith("(299 more like this in the last 30 s)")


def test_other_kinds_and_other_loggers_are_not_held_back() -> None:
    f = RepeatFilter(every_s=30, clock=lambda: 0.0)
    assert f.filter(_record("aiokafka.conn", "a %s", 1))
    assert f.filter(_record("aiokafka.conn", "b %s", 1))  # another kind of line
    assert f.filter(_record("aiokafka.conn", "a %s", 1, level=logging.WARNING))
    for _ in range(3):  # the service's own lines always
        assert f.filter(_record("ledger.writer", "taking partition %s", 1))
    assert not f.filter(_record("aiokafka.conn", "a %s", 2))
