"""The risk agent's pure step alone, in process: what `judge` costs an event, CPU-timed.

    .venv/bin/python -m bench.risk_step [--events N] [--seeds 1,2,3] [--rounds R]
                                        [--mix realistic|every] [--few-gcs]

For each seed, generates N valid events over N/50 contracts (simulation/histories.py, as
bench/risk_first_pass.py and bench/catch_up.py do), decodes them (timed apart), then folds
each contract's events through `projections.risk.judge.judge` in log order. Prints the
µs of CPU an event (`time.process_time`: insensitive to other processes' load, unlike the
wall clock) for decoding and for the step, the best of R rounds, and two md5 digests that a
change of the rules' speed must leave as they are:

- alerts: every field of every alert raised (`model_dump_json`), in the order raised;
- states: every contract's final state as the changelog holds it (`encode_state`), by id.

No Kafka, no PostgreSQL: the figure is the rules' and the fold's, nothing of the shell.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import time

from events.alerts import Alert
from events.catalogue import Event
from events.serialization import decode_event
from projections.risk.codec import encode_state
from projections.risk.judge import judge
from projections.risk.state import RiskState
from simulation.histories import EVERY_TYPE, REALISTIC, generate

MIXES = {"realistic": REALISTIC, "every": EVERY_TYPE}


def step(events: list[Event]) -> tuple[list[Alert], dict[str, RiskState]]:
    """Every event judged on its contract's state, as the agent does; the alerts raised in
    order and the final states."""
    states: dict[str, RiskState] = {}
    alerts: list[Alert] = []
    for event in events:
        raised, states[event.contract_id] = judge(states.get(event.contract_id), event)
        alerts += raised
    return alerts, states


def digests(alerts: list[Alert], states: dict[str, RiskState]) -> tuple[str, str]:
    a = hashlib.md5()
    for alert in alerts:
        a.update(alert.model_dump_json().encode())
        a.update(b"\n")
    s = hashlib.md5()
    for contract in sorted(states):
        s.update(encode_state(states[contract]))
        s.update(b"\n")
    return a.hexdigest(), s.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--rounds", type=int, default=1, help="best of this many folds a seed")
    parser.add_argument(
        "--mix",
        choices=sorted(MIXES),
        default="realistic",
        help="the benchmarks' mix of event types, or every type (endings, hours, amendments)",
    )
    parser.add_argument(
        "--few-gcs",
        action="store_true",
        help="the cyclic collector every 50,000 allocations, as the bulk pass runs it "
        "(services/gc_policy.py): the step without the collector's scans of the bench's heap",
    )
    args = parser.parse_args()
    if args.few_gcs:
        gc.set_threshold(50_000, 20, 20)
    seeds = [int(s) for s in args.seeds.split(",")]
    mix = MIXES[args.mix]
    logs = [
        [value for _, value in generate(args.events, args.events // 50, seed, False, mix).records]
        for seed in seeds
    ]
    decode_s = 0.0
    step_s = 0.0
    alerts_md5 = hashlib.md5()
    states_md5 = hashlib.md5()
    n_alerts = 0
    for values in logs:
        t0 = time.process_time()
        events = [decode_event(v) for v in values]
        decode_s += time.process_time() - t0
        best = float("inf")
        for _ in range(args.rounds):
            t0 = time.process_time()
            alerts, states = step(events)
            best = min(best, time.process_time() - t0)
        step_s += best
        a, s = digests(alerts, states)
        alerts_md5.update(a.encode())
        states_md5.update(s.encode())
        n_alerts += len(alerts)
    n = sum(len(v) for v in logs)
    print(f"{n:,} events ({len(seeds)} seeds x {args.events:,}, {args.mix}), {n_alerts:,} alerts")
    print(f"decode  {1e6 * decode_s / n:6.1f} µs CPU/event")
    print(f"judge   {1e6 * step_s / n:6.1f} µs CPU/event")
    print(f"alerts md5 {alerts_md5.hexdigest()}")
    print(f"states md5 {states_md5.hexdigest()}")


if __name__ == "__main__":
    main()
