"""Which partitions a projector far behind reads alone (services.projector.worker.focus): two
at a time while more are a batch or more behind, so that the contracts a stretch of the log
keeps active are their share, which its bounded cache holds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.projector.worker import focus

BATCH = 20_000


def test_caught_up_reads_every_partition() -> None:
    assert focus({}, (), BATCH) == ()
    assert focus({0: 0, 1: 5, 2: BATCH - 1}, (), BATCH) == ()


def test_two_behind_are_read_with_the_others() -> None:
    assert focus({0: 10 * BATCH, 1: 3, 2: 0}, (), BATCH) == ()
    assert focus({0: 10 * BATCH, 1: BATCH, 2: 0}, (0, 1), BATCH) == ()


def test_more_behind_the_two_most_behind_first_then_the_lowest_numbers() -> None:
    assert focus({0: BATCH, 1: 3 * BATCH, 2: 2 * BATCH, 3: 0}, (), BATCH) == (1, 2)
    assert focus({3: 2 * BATCH, 1: 2 * BATCH, 2: 2 * BATCH}, (), BATCH) == (1, 2)


def test_kept_until_less_than_a_batch_behind() -> None:
    lags = {0: BATCH, 1: 9 * BATCH, 2: 8 * BATCH, 3: 2 * BATCH}
    assert focus(lags, (0, 3), BATCH) == (0, 3)  # others further behind: 0 and 3 still first
    assert focus({**lags, 3: BATCH - 1}, (0, 3), BATCH) == (0, 1)
    assert focus({0: 0, 1: 5 * BATCH, 2: 5 * BATCH, 3: 5 * BATCH}, (0, 3), BATCH) == (1, 3)


def test_a_partition_no_longer_owned_is_dropped() -> None:
    assert focus({0: 4 * BATCH, 1: 2 * BATCH, 2: BATCH}, (5, 1), BATCH) == (0, 1)


@given(
    st.dictionaries(st.integers(0, 11), st.integers(0, 10 * BATCH), max_size=12),
    st.lists(st.integers(0, 11), max_size=2, unique=True),
)
def test_two_behind_by_a_batch_or_none(lags: dict[int, int], current: list[int]) -> None:
    chosen = focus(lags, tuple(current), BATCH)
    assert all(lags[p] >= BATCH for p in chosen)
    behind = [p for p, lag in lags.items() if lag >= BATCH]
    assert len(chosen) == (2 if len(behind) > 2 else 0)
    # Those read so far and still behind are read on.
    assert all(p in chosen for p in current if p in behind) or len(behind) <= 2
