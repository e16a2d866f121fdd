from hypothesis import given
from hypothesis import strategies as st

from services.projector.sharded import shards


def test_six_partitions_over_two_processes_are_dealt_round_robin() -> None:
    assert shards(6, 2) == [[0, 2, 4], [1, 3, 5]]


def test_never_more_shards_than_partitions_and_never_none() -> None:
    assert shards(6, 16) == [[0], [1], [2], [3], [4], [5]]
    assert shards(6, 0) == [[0, 1, 2, 3, 4, 5]]


@given(partitions=st.integers(1, 64), processes=st.integers(0, 80))
def test_every_partition_is_owned_by_exactly_one_shard(partitions: int, processes: int) -> None:
    groups = shards(partitions, processes)
    owned = sorted(p for g in groups for p in g)
    assert owned == list(range(partitions))
    assert all(groups) and len(groups) == max(1, min(processes, partitions))
    sizes = [len(g) for g in groups]
    assert max(sizes) - min(sizes) <= 1
