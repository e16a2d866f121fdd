"""What the writer's state and ids topics hold.

The state topic: one head record per contract, keyed by its `contract_id`, with the contract's
`ContractState` (of its event ids only the open chunk inline, the written chunks' offsets and
digests, and the filter over them: bounded by the contract's live state, not its history; see
`ids.py`) and `events_before`, an events-topic offset before which
every event of the partition was reflected in the state topic when the record was written (the
writer's transactions write their states without waiting for their events' offsets, so a
takeover reads the events from the largest `events_before` on: about one transaction's events,
already reflected, skipped by their version); and one record per partition (key
`PARTITION_KEY`, never a contract id) saying the partition's states are complete: written in
the transaction that first folded the partition's log into the topic. Without it, a writer
taking the partition folds the log again.

The ids topic: one record per sealed chunk of a contract's event ids, keyed
`<contract_id>#<k>` (unique: compaction keeps it, its offset stays), written in the transaction
whose head first references it.

Pure: bytes in, bytes out. The format is JSON with a `v` number; a record of a format this code
does not know is refused (ValueError), and the writer then folds the log as if the topic were
empty: the state topic is derived, never the truth. Heads of format 1 (every id inline) are
refused so: the first takeover after the upgrade folds the log once and writes format 2.
Heads of format 2 (before assignment terms, issue #23) are refused the same way: format 3.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from events.catalogue import AssignmentStatus
from writemodel.ids import CHUNK, ENTRY, REF, ChunkRef, SeenIds, chunk_digest
from writemodel.state import (
    AssignmentTerm,
    ContractState,
    NegotiationState,
    NegotiationStatus,
    RaiseRequestState,
    RaiseRequestStatus,
)

FORMAT: Final = 2
"""Of the chunk records."""
HEAD_FORMAT: Final = 3
"""Of the head records: 3 added each assignment's term (`assignment_terms`)."""
COMPLETE_FORMAT: Final = 1
PARTITION_KEY: Final = b"#partition"
"""The key of the partition's completeness record: `#` is never in a contract id."""

_Offset = Annotated[int, Field(ge=0)]
A = TypeVar("A")
S = TypeVar("S")
T = TypeVar("T")


class _Stored(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[3]
    events_before: _Offset
    """Every event of the partition before this offset was reflected when this was written."""
    contract_id: str
    version: Annotated[int, Field(ge=1)]
    account_manager_id: str
    client_id: str
    client_name: str
    terminated: bool
    assignments: dict[str, AssignmentStatus]
    negotiations: dict[str, tuple[str | None, NegotiationStatus]]
    raise_requests: dict[str, tuple[str, RaiseRequestStatus]]
    assignment_terms: dict[str, tuple[date, date, bool]]
    """Each assignment's (start, end, ot_exempt): `AssignmentTerm`."""
    open: str
    """Base64 of the packed entries (event id, content hash) of the ids after the sealed
    chunks, in version order."""
    chunks: str
    """Base64 of the sealed chunks' (offset in the ids topic, digest), chunk 0 first."""
    filter: list[str]
    """Base64 of each stage of the Bloom filter over the sealed ids."""


class _Chunk(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[2]
    contract_id: str
    chunk: Annotated[int, Field(ge=0)]
    ids: str
    """Base64 of the chunk's packed entries: stream versions chunk·CHUNK + 1 onwards."""


class _Complete(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1]
    folded_to: _Offset
    """The events-topic offset the partition's log was folded to when first written."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"unreadable writer record: {exc}") from exc


def encode_state(state: ContractState, events_before: int) -> bytes:
    """The head of `state`, whose sealed chunks must all be written (none pending)."""
    seen = state.seen
    if seen.pending:
        raise ValueError(f"contract {state.contract_id} has sealed chunks not written yet")
    stored = _Stored(
        v=HEAD_FORMAT,
        events_before=events_before,
        contract_id=state.contract_id,
        version=state.version,
        account_manager_id=state.account_manager_id,
        client_id=state.client_id,
        client_name=state.client_name,
        terminated=state.terminated,
        assignments=dict(state.assignments),
        negotiations=dict(state.negotiations),
        raise_requests=dict(state.raise_requests),
        assignment_terms=dict(state.assignment_terms),
        open=_b64(seen.open),
        chunks=_b64(seen.refs),
        filter=[_b64(stage) for stage in seen.filter.stages],
    )
    return stored.__pydantic_serializer__.to_json(stored)


class _Peek(BaseModel):
    """What a takeover needs of a head before the contract is asked about."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Literal[3]
    events_before: _Offset
    contract_id: str
    chunks: str


@dataclass(frozen=True, slots=True)
class Peek:
    contract_id: str
    events_before: int
    last_chunk_offset: int | None
    """The offset of the contract's last written id chunk (the largest), if any."""


def peek_state(data: bytes) -> Peek:
    """The few fields a takeover needs of a head, without decoding the rest (`decode_state`
    does that when the contract is first asked about); ValueError if unreadable."""
    try:
        peek = _Peek.model_validate_json(data)
    except ValidationError as exc:
        raise ValueError(f"unreadable writer state record: {exc}") from exc
    refs = _unb64(peek.chunks)
    if len(refs) % REF:
        raise ValueError(f"unreadable writer state record: {len(refs)} bytes of chunk refs")
    last = int.from_bytes(refs[-REF : -REF + 8], "big") if refs else None
    return Peek(peek.contract_id, peek.events_before, last)


def decode_state(data: bytes) -> tuple[ContractState, int]:
    """The state and its `events_before`; ValueError if unreadable."""
    try:
        stored = _Stored.model_validate_json(data)
    except ValidationError as exc:
        raise ValueError(f"unreadable writer state record: {exc}") from exc
    try:
        seen = SeenIds.restore(
            _unb64(stored.open),
            _unb64(stored.chunks),
            [_unb64(stage) for stage in stored.filter],
            stored.version,
        )
    except ValueError as exc:
        raise ValueError(f"unreadable writer state record: {exc}") from exc
    state = ContractState(
        contract_id=stored.contract_id,
        version=stored.version,
        account_manager_id=stored.account_manager_id,
        client_id=stored.client_id,
        client_name=stored.client_name,
        terminated=stored.terminated,
        assignments=stored.assignments,
        negotiations=_shared(NegotiationState, stored.negotiations),
        raise_requests=_shared(RaiseRequestState, stored.raise_requests),
        seen=seen,
        assignment_terms={k: AssignmentTerm(*t) for k, t in stored.assignment_terms.items()},
    )
    return state, stored.events_before


def _shared(make: Callable[[A, S], T], stored: dict[str, tuple[A, S]]) -> dict[str, T]:
    """`stored` with each value made once per distinct value: a long history's many closed
    negotiations and decided requests of one assignment share one (immutable) object."""
    made: dict[tuple[A, S], T] = {}
    out: dict[str, T] = {}
    for key, value in stored.items():
        one = made.get(value)
        if one is None:
            one = made[value] = make(*value)
        out[key] = one
    return out


def chunk_key(contract_id: str, chunk: int) -> bytes:
    """The ids topic's key of a contract's chunk: `#` is never in a contract id."""
    return f"{contract_id}#{chunk}".encode()


def encode_chunk(contract_id: str, chunk: int, ids: bytes) -> bytes:
    stored = _Chunk(v=FORMAT, contract_id=contract_id, chunk=chunk, ids=_b64(ids))
    return stored.__pydantic_serializer__.to_json(stored)


def decode_chunk(data: bytes, contract_id: str, ref: ChunkRef) -> bytes:
    """The ids of chunk `ref` of `contract_id` from the record read at its offset; ValueError if
    the record is not that chunk (unreadable, another chunk, other bytes than the head says)."""
    try:
        stored = _Chunk.model_validate_json(data)
    except ValidationError as exc:
        raise ValueError(f"unreadable writer ids record: {exc}") from exc
    ids = _unb64(stored.ids)
    if (stored.contract_id, stored.chunk) != (contract_id, ref.index):
        raise ValueError(
            f"offset {ref.offset} holds chunk {stored.chunk} of {stored.contract_id}, not chunk "
            f"{ref.index} of {contract_id}"
        )
    if len(ids) != CHUNK * ENTRY or chunk_digest(ids) != ref.digest:
        raise ValueError(f"chunk {ref.index} of {contract_id} is not what its head says")
    return ids


def encode_complete(folded_to: int) -> bytes:
    complete = _Complete(v=COMPLETE_FORMAT, folded_to=folded_to)
    return complete.__pydantic_serializer__.to_json(complete)


def decode_complete(data: bytes) -> int:
    try:
        return _Complete.model_validate_json(data).folded_to
    except ValidationError as exc:
        raise ValueError(f"unreadable writer partition record: {exc}") from exc


__all__ = [
    "FORMAT",
    "PARTITION_KEY",
    "Peek",
    "chunk_key",
    "decode_chunk",
    "decode_complete",
    "decode_state",
    "encode_chunk",
    "encode_complete",
    "encode_state",
    "peek_state",
]
