"""CPU cost per event of the projector's pure stages, without Kafka or PostgreSQL.

    .venv/bin/python -m bench.projector_cpu [--events N] [--contracts C] [--seed S] [--profile F]

Generates the same log as `projection_replay.py` and times, in this one process (CPU time):
reading every value alone as the projector does (`decode_event`, or `read_stream_head` for the
types that only move their stream on, `read_rates_adjusted` for RatesAdjusted), then reading and
applying each to a `ReadModel`, turning each batch's changes into rows (`Batch.of`) and into
COPY text. The total counts reading once. It is the quick loop for optimising the projector's
CPU path; `projection_replay.py` remains the end-to-end figure.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import pstats
import time

from events.catalogue import EventBase
from events.serialization import (
    RatesChange,
    StreamHead,
    decode_event,
    head_types,
    read_rates_adjusted,
    read_stream_head,
)
from projections.read_model import STREAM_ONLY, ReadModel
from services.projector import store
from services.projector.copy_text import copy_text
from services.projector.worker import tune_gc
from simulation.histories import generate

STREAM_ONLY_TYPES = head_types(STREAM_ONLY)


def read(value: bytes) -> EventBase | StreamHead | RatesChange:
    """As the projector reads an event: its head alone when its type only moves its stream on
    (`STREAM_ONLY`), what the read model applies of a RatesAdjusted, else decoded."""
    return (
        read_stream_head(value, STREAM_ONLY_TYPES)
        or read_rates_adjusted(value)
        or decode_event(value)
    )


def run(values: list[bytes], batch: int) -> dict[str, float]:
    """As the projector does it: each event read and applied at once, then dropped."""
    timings = {"decode": 0.0, "decode + apply": 0.0, "rows": 0.0, "copy_text": 0.0}
    model = ReadModel()
    digest = hashlib.md5()
    clock = time.process_time  # CPU time: the machine is shared
    apply, move_on = model.apply, model.move_on
    for start in range(0, len(values), batch):
        chunk = values[start : start + batch]
        t0 = clock()
        for v in chunk:
            read(v)
        t1 = clock()
        for v in chunk:
            e = read(v)
            if isinstance(e, StreamHead):
                move_on(e.contract_id, e.stream_version)
            else:
                apply(e)
        t2 = clock()
        rows = store.Batch.of(model.take_changes(), {})
        t3 = clock()
        for _, columns, table in store.copied(rows):
            digest.update(copy_text(table, columns))
        t4 = clock()
        timings["decode"] += t1 - t0
        timings["decode + apply"] += t2 - t1
        timings["rows"] += t3 - t2
        timings["copy_text"] += t4 - t3
    print(f"rows digest {digest.hexdigest()}")
    return timings


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--contracts", type=int, default=4_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--batch", type=int, default=20_000)
    p.add_argument("--profile")
    args = p.parse_args()
    log = generate(args.events, args.contracts, args.seed, check=False)
    values = [v for _, v in log.records]
    if args.profile:
        cProfile.runctx("run(values, args.batch)", globals(), locals(), args.profile)
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(25)
        return
    tune_gc()  # as a projector process does
    timings = run(values, args.batch)
    total = sum(timings.values()) - timings["decode"]
    for stage, seconds in timings.items():
        print(f"{stage:15} {seconds:6.2f} s  {seconds / len(values) * 1e6:6.2f} µs/event")
    print(f"{'total':15} {total:6.2f} s  {len(values) / total:,.0f} events/s (CPU path only)")


if __name__ == "__main__":
    main()
