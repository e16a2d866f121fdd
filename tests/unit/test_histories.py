"""The one generator of valid histories (simulation/histories.py), which the property tests,
the integration tests and the benchmarks stand on."""

from __future__ import annotations

import random
from collections import Counter

from events.catalogue import EVENT_TYPES
from simulation.histories import generate, history


def test_a_seed_makes_the_same_log_byte_for_byte() -> None:
    assert generate(2_000, 40, seed=3, check=False).records == (
        generate(2_000, 40, seed=3, check=True).records
    )
    assert generate(2_000, 40, seed=3, check=False).records != (
        generate(2_000, 40, seed=4, check=False).records
    )


def test_histories_hold_every_type_of_event_each_stream_numbered_from_one() -> None:
    seen: Counter[str] = Counter()
    for seed in range(100):
        log = history(random.Random(seed), contracts=2, events=40)
        seen.update(e.type for e in log)
        versions: dict[str, list[int | None]] = {}
        for e in log:
            versions.setdefault(e.contract_id, []).append(e.stream_version)
        for numbers in versions.values():
            assert numbers == list(range(1, len(numbers) + 1))
        assert [e.occurred_at for e in log] == sorted(e.occurred_at for e in log)
    assert set(seen) == set(EVENT_TYPES)
