"""`RiskState` as JSON: how the risk agent keeps a contract's state in its changelog-backed
table, governed by the dataclasses of `projections.risk.state` (no pickle).

The schema is `RiskState` itself, read by pydantic: money stays `Decimal` (written as a string,
so `30.00` comes back as `30.00`), dates and aware datetimes as ISO 8601, ids as UUID strings,
maps as objects, tuples and frozensets as arrays. `decode_state(encode_state(s)) == s` for every
state `evolve` folds (see tests/unit/test_risk_state_codec.py). Decoding refuses what the
dataclasses cannot hold (a missing field, a value of the wrong type).

A field added to `RiskState` later needs a default, so that states already in a changelog
still decode; a field renamed or retyped needs a new table (or the changelog dropped: the state
folds again from the events topic).
"""

from __future__ import annotations

from typing import Final

from pydantic import TypeAdapter

from projections.risk.state import RiskState

__all__ = ["STATE_ADAPTER", "decode_state", "encode_state"]

STATE_ADAPTER: Final[TypeAdapter[RiskState]] = TypeAdapter(RiskState)


def encode_state(state: RiskState) -> bytes:
    """The state as compact UTF-8 JSON."""
    return STATE_ADAPTER.dump_json(state)


def decode_state(data: bytes | str) -> RiskState:
    """The state `encode_state` wrote; pydantic.ValidationError if it is not one."""
    return STATE_ADAPTER.validate_json(data)
