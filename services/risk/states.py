"""The risk agent's table as `RiskState`s: what a worker holds of its partitions' contracts,
decoded once per value written, and the states put during a backlog until a flush."""

import logging
from collections.abc import Iterable, Iterator
from typing import Any, cast

from faust.types import TableT

from events.topics import partition_of
from projections.risk.codec import decode_state, encode_state
from projections.risk.state import RiskState

log = logging.getLogger("ledger.risk")


class States:
    """The table as `RiskState`s: JSON bytes in the table, each decoded once per value written
    (or recovered from the changelog).

    Only the states of the partitions this worker owns: after every rebalance (`own`, once the
    table is recovered) the states of the others leave its memory. Faust's memory store drops
    only the keys it recovered from the changelog (its partition of each key is recorded there
    only, faust-streaming/faust#199), not those this worker wrote itself: without
    this, a worker that lost a partition to another kept its old states, and its timer judged
    them at its own watermark and wrote them back to the changelog, over the new owner's.
    """

    def __init__(self, table: TableT[bytes, bytes], partitions: int) -> None:
        self.table = table
        self.partitions = partitions
        self.owned: frozenset[int] = frozenset()  # none until the first recovery ends
        self._decoded: dict[bytes, tuple[bytes, RiskState]] = {}
        # Judged and stored in PostgreSQL, not yet written to the table (`flush`).
        self._pending: dict[bytes, RiskState] = {}

    def partition(self, key: bytes) -> int:
        """The key's partition of the events topic and of the changelog (co-partitioned)."""
        return partition_of(key.decode(), self.partitions)

    def owns(self, contract_id: str) -> bool:
        return partition_of(contract_id, self.partitions) in self.owned

    def own(self, partitions: Iterable[int]) -> int:
        """The partitions this worker now owns; the states of all others are dropped from its
        memory (not from the changelog: they are their new owner's). Returns how many."""
        self.owned = frozenset(partitions)
        store = cast(Any, self.table).data  # the memory store: a delete there sends nothing
        gone = [key for key in list(store.keys()) if self.partition(key) not in self.owned]
        for key in gone:
            del store[key]
            self._decoded.pop(key, None)
        # Not expected (the agent flushes before a revocation), but never written for another.
        for key in [k for k in self._pending if self.partition(k) not in self.owned]:
            del self._pending[key]
        return len(gone)

    def disown(self) -> None:
        """A rebalance began: nothing is this worker's until its recovery ends."""
        self.owned = frozenset()

    def get(self, key: bytes) -> RiskState | None:
        pending = self._pending.get(key)
        if pending is not None:
            return pending
        raw = self.table.get(key)
        if raw is None:
            return None
        known = self._decoded.get(key)
        if known is not None and known[0] is raw:
            return known[1]
        state = decode_state(raw)
        self._decoded[key] = (raw, state)
        return state

    def put(self, state: RiskState) -> None:
        """The contract's new state, held in memory until `flush` writes it to the table."""
        self._pending[state.contract_id.encode()] = state

    @property
    def pending(self) -> int:
        """How many contracts' states wait for `flush`."""
        return len(self._pending)

    def flush(self) -> int:
        """The states `put` since the last flush written to the table (Faust sends each to the
        changelog): one encoding and one changelog record per contract, however many of its
        events were judged meanwhile. Returns how many."""
        pending, self._pending = self._pending, {}
        for key, state in pending.items():
            raw = encode_state(state)
            self.table[key] = raw
            self._decoded[key] = (raw, state)
        return len(pending)

    def all(self) -> Iterator[RiskState]:
        """The states of the partitions this worker owns."""
        keys = list(self.table.keys())
        for gone in self._decoded.keys() - set(keys):
            del self._decoded[gone]  # a partition revoked, or the table reset
        for key in dict.fromkeys([*keys, *self._pending]):
            if self.partition(key) not in self.owned:
                continue
            state = self.get(key)
            if state is not None:
                yield state
