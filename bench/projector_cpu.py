"""CPU cost per event of the projector's pure stages, without Kafka or PostgreSQL.

    .venv/bin/python bench/projector_cpu.py [--events N] [--contracts C] [--seed S] [--profile F]

Generates the same log as `projection_replay.py` and times, in this one process: decoding every
value alone (`decode_event`), then decoding and applying each to a `ReadModel` as the projector
does, turning each batch's changes into rows (`Batch.of`) and into COPY text. The total counts
decoding once. It is the quick loop for optimising the projector's CPU path;
`projection_replay.py` remains the end-to-end figure.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from events.serialization import decode_event  # noqa: E402
from projections.read_model import ReadModel  # noqa: E402
from services.projector import store  # noqa: E402
from services.projector.worker import tune_gc  # noqa: E402
from simulation.histories import generate  # noqa: E402


def run(values: list[bytes], batch: int) -> dict[str, float]:
    """As the projector does it: each event decoded and applied at once, then dropped."""
    timings = {"decode": 0.0, "decode + apply": 0.0, "rows": 0.0, "copy_text": 0.0}
    model = ReadModel()
    digest = hashlib.md5()
    clock = time.perf_counter
    apply = model.apply
    for start in range(0, len(values), batch):
        chunk = values[start : start + batch]
        t0 = clock()
        for v in chunk:
            decode_event(v)
        t1 = clock()
        for v in chunk:
            apply(decode_event(v))
        t2 = clock()
        rows = store.Batch.of(model.take_changes(), {})
        t3 = clock()
        for table in (rows.contracts, rows.assignments, rows.terms, rows.rates, rows.impacts):
            digest.update(store.copy_text(table))
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
