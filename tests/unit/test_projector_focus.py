"""Which partition a projector far behind reads alone (services.projector.worker.focus): one
at a time while several are a batch or more behind, so that the contracts a stretch of the log
keeps active are one partition's share, which its bounded cache holds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.projector.worker import focus

BATCH = 20_000


def test_caught_up_reads_every_partition() -> None:
    assert focus({}, None, BATCH) is None
    assert focus({0: 0, 1: 5, 2: BATCH - 1}, None, BATCH) is None


def test_one_partition_behind_is_read_with_the_others() -> None:
    assert focus({0: 10 * BATCH, 1: 3, 2: 0}, None, BATCH) is None


def test_several_behind_the_most_behind_first_then_the_lowest_number() -> None:
    assert focus({0: BATCH, 1: 3 * BATCH, 2: 2 * BATCH}, None, BATCH) == 1
    assert focus({3: 2 * BATCH, 1: 2 * BATCH, 2: 0}, None, BATCH) == 1


def test_kept_until_less_than_a_batch_behind() -> None:
    lags = {0: BATCH, 1: 9 * BATCH, 2: 8 * BATCH}
    assert focus(lags, 2, BATCH) == 2  # another is further behind: 2 still goes first
    assert focus({**lags, 2: BATCH - 1}, 2, BATCH) == 1
    assert focus({0: 0, 1: 0, 2: 5 * BATCH}, 2, BATCH) == 2  # the last one behind


def test_a_partition_no_longer_owned_is_dropped() -> None:
    assert focus({0: 4 * BATCH, 1: 2 * BATCH}, 5, BATCH) == 0


@given(
    st.dictionaries(st.integers(0, 11), st.integers(0, 10 * BATCH), max_size=12),
    st.none() | st.integers(0, 11),
)
def test_focus_is_behind_by_a_batch_or_none(lags: dict[int, int], current: int | None) -> None:
    chosen = focus(lags, current, BATCH)
    if chosen is not None:
        assert lags[chosen] >= BATCH
    behind = [p for p, lag in lags.items() if lag >= BATCH]
    if len(behind) >= 2:
        assert chosen is not None  # several behind: one is read alone
