"""The event ids a contract accepted, its idempotency memory, kept so that a writer taking a
partition reads a bounded amount per contract however long its history.

DESIGN keeps `event_id` as the idempotency key forever, so a contract remembers every id it
accepted with the hash of what it said (`SeenEvent`). The event at stream version v is the
contract's v-th id, so versions are implicit: entries are packed (16 bytes of id, 32 of content
hash) in version order, `CHUNK` to a chunk.

- The open chunk (the newest ids, fewer than `CHUNK`) stays inline in the contract's head
  record, read at takeover.
- A full chunk is sealed: written once to the ids topic (`<prefix>.writer-ids`, a record of its
  own, keyed `<contract_id>#<k>`) in the transaction that fills it; the head keeps its offset and
  a digest of its bytes.
- `IdFilter`, a scalable Bloom filter over every sealed id (kept in the head, about 11-15 bits
  an id), says which sealed chunks may hold an id: none for a new event (the common case: no
  I/O), else those of the filter's positive stages, which the caller fetches by offset.

Pure: bytes in, answers out. `SeenIds.lookup` answers exactly or raises `ChunksNeeded` naming
the sealed chunks it must see (the shell fetches them and asks again); states folded from the
log hold their sealed chunks' bytes until written (`pending`), so they never need a fetch.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from uuid import UUID

CHUNK: Final = 64
"""Ids to a chunk: the open chunk in a head holds fewer than this."""
_ID: Final = 16
_HASH: Final = 32
ENTRY: Final = _ID + _HASH
"""Bytes of one packed entry: the event id, then the sha256 of its content."""
REF: Final = 16
"""Bytes of one written chunk's reference: its offset (8, big-endian), its digest (8)."""
_DIGEST: Final = 8

# The filter: stage s covers chunks [4(2^s - 1), 4(2^(s+1) - 1)), that is 4·2^s chunks, with a
# false-positive rate of 0.5 % / 2^s: below 1 % for any number of stages.
_FIRST_STAGE_CHUNKS: Final = 4
_FIRST_STAGE_FP: Final = 0.005
# Bit positions come from a keyed hash of the id, never from its raw bits: submitters pick ids.
_FILTER_KEY: Final = b"markup-ledger/writer-ids/filter/1"

EMPTY: Final[Mapping[int, bytes]] = {}


@dataclass(frozen=True, slots=True)
class SeenEvent:
    """An accepted event, remembered so that its redelivery is answered, not appended."""

    content_hash: str
    stream_version: int


@dataclass(frozen=True, slots=True)
class ChunkRef:
    """A sealed chunk written to the ids topic."""

    index: int
    """k: the chunk holds stream versions k·CHUNK + 1 … (k + 1)·CHUNK."""
    offset: int
    """Its record's offset in the contract's partition of the ids topic."""
    digest: bytes
    """`chunk_digest` of its bytes: what a fetched record must match."""


class ChunksNeeded(Exception):
    """A lookup needs the bytes of sealed chunks it does not have: fetch them, ask again."""

    def __init__(self, chunks: Sequence[ChunkRef]) -> None:
        super().__init__(f"sealed chunks {[c.index for c in chunks]} are needed")
        self.chunks = tuple(chunks)


def entry(event_id: UUID, content_hash: str) -> bytes:
    return event_id.bytes + bytes.fromhex(content_hash)


def chunk_digest(ids: bytes) -> bytes:
    return hashlib.blake2b(ids, digest_size=_DIGEST).digest()


def _find(packed: bytes, event_id: UUID) -> int | None:
    """The index of `event_id`'s entry in `packed`, if there."""
    needle = event_id.bytes
    at = packed.find(needle)
    while at != -1:
        if at % ENTRY == 0:
            return at // ENTRY
        at = packed.find(needle, at + 1)
    return None


def _seen(packed: bytes, index: int, first_version: int) -> SeenEvent:
    at = index * ENTRY + _ID
    return SeenEvent(packed[at : at + _HASH].hex(), first_version + index)


# The filter -----------------------------------------------------------------------------------


def _stage_of(chunk: int) -> int:
    return (chunk // _FIRST_STAGE_CHUNKS + 1).bit_length() - 1


def _stage_chunks(stage: int) -> range:
    first = _FIRST_STAGE_CHUNKS * ((1 << stage) - 1)
    return range(first, first + (_FIRST_STAGE_CHUNKS << stage))


@dataclass(frozen=True, slots=True)
class _Shape:
    bits: int
    hashes: int


def _shape(stage: int) -> _Shape:
    ids = CHUNK * (_FIRST_STAGE_CHUNKS << stage)
    fp = _FIRST_STAGE_FP / (1 << stage)
    bits = math.ceil(-ids * math.log(fp) / math.log(2) ** 2 / 8) * 8
    return _Shape(bits, max(1, round(bits / ids * math.log(2))))


_SHAPES: Final = tuple(_shape(s) for s in range(40))
_MK: Final = tuple((shape.bits, shape.hashes) for shape in _SHAPES)


_KEYED: Final = hashlib.blake2b(digest_size=16, key=_FILTER_KEY)
"""The keyed hash before any input: copied for each id (cheaper than keying it anew)."""
_LOW: Final = (1 << 64) - 1


def _hashes(event_id: bytes) -> tuple[int, int]:
    """Two 64-bit hashes of an id's 16 bytes; bit j of a stage is (a + j·b) mod its size."""
    h = _KEYED.copy()
    h.update(event_id)
    both = int.from_bytes(h.digest(), "little")
    return both & _LOW, both >> 64 | 1


@dataclass(frozen=True, slots=True)
class IdFilter:
    """A scalable Bloom filter over the sealed ids: one stage per range of chunks, each stage a
    Bloom filter sized for its chunks at its own false-positive rate. No false negatives; a
    new id hits some stage less than 1 % of the time."""

    stages: tuple[bytes, ...] = ()

    @classmethod
    def restore(cls, stages: Sequence[bytes], chunks: int) -> IdFilter:
        """The filter of `chunks` sealed chunks from its stages' bytes; ValueError if they
        cannot be its."""
        wanted = _stage_of(chunks - 1) + 1 if chunks else 0
        if len(stages) != wanted:
            raise ValueError(f"{len(stages)} filter stages for {chunks} chunks, not {wanted}")
        for s, stage in enumerate(stages):
            if len(stage) * 8 != _SHAPES[s].bits:
                raise ValueError(f"filter stage {s} has {len(stage)} bytes")
        return cls(tuple(stages))

    def sealed(self, chunk: int, ids: bytes) -> IdFilter:
        """The filter once chunk number `chunk` (the next one) holding `ids` is sealed."""
        s = _stage_of(chunk)
        shape = _SHAPES[s]
        if s == len(self.stages):
            bits = bytearray(shape.bits // 8)
        elif s == len(self.stages) - 1:
            bits = bytearray(self.stages[s])
        else:
            raise ValueError(f"chunk {chunk} sealed after stage {len(self.stages) - 1}")
        m, k = shape.bits, shape.hashes
        for at in range(0, len(ids), ENTRY):
            a, b = _hashes(ids[at : at + _ID])
            for p in range(a, a + k * b, b):
                p %= m
                bits[p >> 3] |= 1 << (p & 7)
        return IdFilter((*self.stages[:s], bytes(bits)))

    @classmethod
    def of(cls, chunks: Sequence[bytes]) -> IdFilter:
        """The filter once `chunks` (chunk 0 first) are sealed: `sealed` chunk after chunk,
        each stage's bits set in one bytearray instead of copied at every chunk."""
        stages: list[bytes] = []
        stage: bytearray | None = None
        current = -1
        for chunk, ids in enumerate(chunks):
            s = _stage_of(chunk)
            if s != current:
                if stage is not None:
                    stages.append(bytes(stage))
                stage, current = bytearray(_SHAPES[s].bits // 8), s
            assert stage is not None
            m, k = _MK[s]
            keyed, low = _KEYED.copy, _LOW  # `_hashes`, inlined: this runs for every id
            for at in range(0, len(ids), ENTRY):
                h = keyed()
                h.update(ids[at : at + _ID])
                both = int.from_bytes(h.digest(), "little")
                # The same bits as (a + j·b) mod m, with a and b first reduced mod m: numbers
                # of one machine word, which CPython adds and divides much faster (b stays odd,
                # never 0: m is a multiple of 8).
                a, b = (both & low) % m, (both >> 64 | 1) % m
                for p in range(a, a + k * b, b):
                    p %= m
                    stage[p >> 3] |= 1 << (p & 7)
        if stage is not None:
            stages.append(bytes(stage))
        return cls(tuple(stages))

    def chunks_for(self, event_id: UUID) -> Iterator[int]:
        """The sealed chunks that may hold `event_id` (some of the last stage's may not be
        sealed yet)."""
        if not self.stages:
            return
        a, b = _hashes(event_id.bytes)
        for s, (bits, (m, k)) in enumerate(zip(self.stages, _MK, strict=False)):
            for p in range(a, a + k * b, b):
                p %= m
                if not bits[p >> 3] >> (p & 7) & 1:
                    break
            else:
                yield from _stage_chunks(s)


# The ids of one contract ------------------------------------------------------------------


class SeenIds(Mapping[UUID, SeenEvent]):
    """Every `event_id` a contract accepted and what it said, by event id, in version order.

    Immutable: `added` and `written` return new ones. Sealed chunks are first `pending` (their
    bytes held, not written yet: a fold, a transaction in progress), then `written` (only a
    `ChunkRef` kept). Reading a written chunk's ids needs its bytes: `lookup` takes those the
    caller fetched, and `get`, `in`, `[]` and iteration raise `ChunksNeeded` when one is
    missing (never a wrong answer).
    """

    __slots__ = ("filter", "open", "pending", "refs")

    def __init__(
        self,
        open: bytes = b"",
        refs: bytes = b"",
        pending: tuple[bytes, ...] = (),
        filter: IdFilter = IdFilter(),
    ) -> None:
        self.open = open
        """Packed entries of the ids after the sealed chunks."""
        self.refs = refs
        """The written chunks' `ChunkRef`s, packed (offset, digest), chunk 0 first."""
        self.pending = pending
        """The bytes of the sealed chunks after the written ones, not written yet."""
        self.filter = filter

    @classmethod
    def restore(cls, open: bytes, refs: bytes, stages: Sequence[bytes], count: int) -> SeenIds:
        """The ids of a contract at version `count` as a head stores them; ValueError if the
        parts do not fit together."""
        chunks, odd = divmod(len(refs), REF)
        if len(open) % ENTRY or odd or len(open) // ENTRY >= CHUNK:
            raise ValueError(f"{len(open)} open bytes and {len(refs)} ref bytes are no ids")
        if chunks * CHUNK + len(open) // ENTRY != count:
            raise ValueError(f"{chunks} chunks and {len(open) // ENTRY} ids, not {count}")
        return cls(open, refs, (), IdFilter.restore(stages, chunks))

    @property
    def written_chunks(self) -> int:
        return len(self.refs) // REF

    @property
    def sealed_chunks(self) -> int:
        return self.written_chunks + len(self.pending)

    def ref(self, chunk: int) -> ChunkRef:
        at = chunk * REF
        offset = int.from_bytes(self.refs[at : at + 8], "big")
        return ChunkRef(chunk, offset, self.refs[at + 8 : at + REF])

    def last_offset(self) -> int | None:
        """The offset of the last written chunk, if any: the largest, as chunks are written in
        order to one partition."""
        chunks = self.written_chunks
        return self.ref(chunks - 1).offset if chunks else None

    # -- reading ---------------------------------------------------------------------------

    def lookup(self, event_id: UUID, fetched: Mapping[int, bytes] = EMPTY) -> SeenEvent | None:
        """What `event_id` said and its version, or None: never seen. `fetched`: written chunks'
        bytes by offset (checked against their digests by whoever fetched them). Raises
        `ChunksNeeded` when a written chunk that may hold it is not in `fetched`."""
        found = _find(self.open, event_id)
        if found is not None:
            return _seen(self.open, found, self.sealed_chunks * CHUNK + 1)
        missing: list[ChunkRef] = []
        written = self.written_chunks
        for k in self.filter.chunks_for(event_id):
            if k >= self.sealed_chunks:
                break
            if k < written:
                ref = self.ref(k)
                ids = fetched.get(ref.offset)
                if ids is None:
                    missing.append(ref)
                    continue
            else:
                ids = self.pending[k - written]
            found = _find(ids, event_id)
            if found is not None:
                return _seen(ids, found, k * CHUNK + 1)
        if missing:
            raise ChunksNeeded(missing)
        return None

    def wanted(self, event_id: UUID, fetched: Mapping[int, bytes] = EMPTY) -> tuple[ChunkRef, ...]:
        """The written chunks `lookup(event_id, fetched)` would need and `fetched` lacks."""
        try:
            self.lookup(event_id, fetched)
        except ChunksNeeded as needed:
            return needed.chunks
        return ()

    def __getitem__(self, event_id: UUID) -> SeenEvent:
        seen = self.lookup(event_id)
        if seen is None:
            raise KeyError(event_id)
        return seen

    def __len__(self) -> int:
        return self.sealed_chunks * CHUNK + len(self.open) // ENTRY

    def __iter__(self) -> Iterator[UUID]:
        if self.refs:
            raise ChunksNeeded([self.ref(k) for k in range(self.written_chunks)])
        for packed in (*self.pending, self.open):
            for at in range(0, len(packed), ENTRY):
                yield UUID(bytes=packed[at : at + _ID])

    def digests(self) -> list[bytes]:
        """The sealed chunks' digests, chunk 0 first: written or pending, the same ids."""
        written = [self.ref(k).digest for k in range(self.written_chunks)]
        return written + [chunk_digest(ids) for ids in self.pending]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SeenIds):
            return self.open == other.open and self.digests() == other.digests()
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"SeenIds({len(self)} ids: {self.written_chunks} chunks written, "
            f"{len(self.pending)} pending, {len(self.open) // ENTRY} open)"
        )

    # -- changing ----------------------------------------------------------------------------

    def added(self, event_id: UUID, content_hash: str) -> SeenIds:
        """These ids and the next version's; the open chunk sealed (pending) once full."""
        open = self.open + entry(event_id, content_hash)
        if len(open) < CHUNK * ENTRY:
            return SeenIds(open, self.refs, self.pending, self.filter)
        sealed = self.filter.sealed(self.sealed_chunks, open)
        return SeenIds(b"", self.refs, (*self.pending, open), sealed)

    @classmethod
    def folded(cls, packed: bytes) -> SeenIds:
        """The ids of a contract folded from its log: `packed`, the entries of every event it
        accepted in version order, sealed in bulk (the same chunks, pending, and the same
        filter as `added` one at a time would make, in one pass over the ids)."""
        if len(packed) % ENTRY:
            raise ValueError(f"{len(packed)} bytes are not packed ids")
        size = CHUNK * ENTRY
        sealed = len(packed) // size
        pending = tuple(packed[k * size : (k + 1) * size] for k in range(sealed))
        return cls(packed[sealed * size :], b"", pending, IdFilter.of(pending))

    def written(self, offsets: Sequence[int]) -> SeenIds:
        """These ids once the pending chunks are written at `offsets` (in order)."""
        if len(offsets) != len(self.pending):
            raise ValueError(f"{len(offsets)} offsets for {len(self.pending)} pending chunks")
        refs = b"".join(
            o.to_bytes(8, "big") + chunk_digest(ids)
            for o, ids in zip(offsets, self.pending, strict=True)
        )
        return SeenIds(self.open, self.refs + refs, (), self.filter)


__all__ = [
    "CHUNK",
    "ENTRY",
    "REF",
    "ChunkRef",
    "ChunksNeeded",
    "IdFilter",
    "SeenEvent",
    "SeenIds",
    "chunk_digest",
    "entry",
]
