"""The API's cache of portfolio computations (services/api/margin_cache.py): concurrent callers
share one computation, stale results can be dropped, and the garbage collector it holds off
while computing comes back on, at the latest after PAUSE_AT_MOST_S."""

from __future__ import annotations

import asyncio
import gc

import pytest

from services.api import margin_cache
from services.api.margin_cache import SingleFlight, gc_paused


def test_concurrent_callers_share_one_computation_and_stale_ones_go() -> None:
    runs: list[str] = []

    async def compute(key: str) -> str:
        runs.append(key)
        await asyncio.sleep(0.01)
        return key.upper()

    async def main() -> None:
        cache = SingleFlight()
        first = await asyncio.gather(*(cache.get(("a", 1), lambda: compute("a")) for _ in range(3)))
        assert first == ["A", "A", "A"] and runs == ["a"]
        assert gc.isenabled()  # held off only while computing
        await cache.get(("b", 1), lambda: compute("b"))
        cache.forget(lambda k: k == ("a", 1))
        await cache.get(("a", 1), lambda: compute("a"))
        await cache.get(("b", 1), lambda: compute("b"))
        assert runs == ["a", "b", "a"]

    asyncio.run(main())


def test_overlapping_pauses_end_with_the_last() -> None:
    assert gc.isenabled()
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_pause_never_outlasts_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(margin_cache, "PAUSE_AT_MOST_S", 0.05)

    async def main() -> None:
        with gc_paused():
            assert not gc.isenabled()
            await asyncio.sleep(0.2)  # a computation stuck waiting
            assert gc.isenabled()
        assert gc.isenabled()

    asyncio.run(main())
