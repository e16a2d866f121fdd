"""What the writer's state topic holds: one record per contract, keyed by its `contract_id`,
with the contract's `ContractState` and `events_before`, an events-topic offset before which
every event of the partition was reflected in the state topic when the record was written (the
writer's transactions write their states without waiting for their events' offsets, so a
takeover reads the events from the largest `events_before` on: about one transaction's events,
already reflected, skipped by their version); and one record per partition (key
`PARTITION_KEY`, never a contract id) saying the partition's states are complete: written in
the transaction that first folded the partition's log into the topic. Without it, a writer
taking the partition folds the log again.

Pure: bytes in, bytes out. The format is JSON with a `v` number; a record of a format this code
does not know is refused (ValueError), and the writer then folds the log as if the topic were
empty: the state topic is derived, never the truth.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from events.catalogue import AssignmentStatus
from services.writer.state import (
    ContractState,
    NegotiationState,
    NegotiationStatus,
    RaiseRequestState,
    RaiseRequestStatus,
    SeenEvent,
)

FORMAT: Final = 1
PARTITION_KEY: Final = b"#partition"
"""The key of the partition's completeness record: `#` is never in a contract id."""

_Offset = Annotated[int, Field(ge=0)]


class _Stored(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1]
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
    seen: list[tuple[UUID, str, int]]
    """(event_id, content_hash, stream_version) of every accepted event, in version order."""


class _Complete(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1]
    folded_to: _Offset
    """The events-topic offset the partition's log was folded to when first written."""


def encode_state(state: ContractState, events_before: int) -> bytes:
    stored = _Stored(
        v=FORMAT,
        events_before=events_before,
        contract_id=state.contract_id,
        version=state.version,
        account_manager_id=state.account_manager_id,
        client_id=state.client_id,
        client_name=state.client_name,
        terminated=state.terminated,
        assignments=dict(state.assignments),
        negotiations={k: (n.assignment_id, n.status) for k, n in state.negotiations.items()},
        raise_requests={k: (r.assignment_id, r.status) for k, r in state.raise_requests.items()},
        seen=[(k, s.content_hash, s.stream_version) for k, s in state.seen.items()],
    )
    return stored.__pydantic_serializer__.to_json(stored)


def decode_state(data: bytes) -> tuple[ContractState, int]:
    """The state and its `events_before`; ValueError if unreadable."""
    try:
        stored = _Stored.model_validate_json(data)
    except ValidationError as exc:
        raise ValueError(f"unreadable writer state record: {exc}") from exc
    state = ContractState(
        contract_id=stored.contract_id,
        version=stored.version,
        account_manager_id=stored.account_manager_id,
        client_id=stored.client_id,
        client_name=stored.client_name,
        terminated=stored.terminated,
        assignments=stored.assignments,
        negotiations={k: NegotiationState(a, s) for k, (a, s) in stored.negotiations.items()},
        raise_requests={k: RaiseRequestState(a, s) for k, (a, s) in stored.raise_requests.items()},
        seen={k: SeenEvent(h, v) for k, h, v in stored.seen},
    )
    return state, stored.events_before


def encode_complete(folded_to: int) -> bytes:
    complete = _Complete(v=FORMAT, folded_to=folded_to)
    return complete.__pydantic_serializer__.to_json(complete)


def decode_complete(data: bytes) -> int:
    try:
        return _Complete.model_validate_json(data).folded_to
    except ValidationError as exc:
        raise ValueError(f"unreadable writer partition record: {exc}") from exc


__all__ = [
    "FORMAT",
    "PARTITION_KEY",
    "decode_complete",
    "decode_state",
    "encode_complete",
    "encode_state",
]
