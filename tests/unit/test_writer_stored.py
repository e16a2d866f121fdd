"""The writer's state topic records: a contract's state survives the trip to JSON and back."""

from __future__ import annotations

import json
import random
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.catalogue import Event
from tests.support.histories import histories, history
from writemodel.state import evolve, fold
from writemodel.stored import (
    decode_complete,
    decode_state,
    encode_complete,
    encode_state,
    peek_state,
)


@given(histories(contracts=3, events=40), st.integers(min_value=0, max_value=10**12))
def test_a_state_round_trips(log: list[Event], offset: int) -> None:
    for state in fold(log).values():
        assert decode_state(encode_state(state, offset)) == (state, offset)


@given(histories(contracts=2, events=40), st.data())
def test_a_stored_state_evolves_as_the_folded_one(log: list[Event], data: st.DataObject) -> None:
    """A writer taking over from the state topic goes on exactly as one that folded the log."""
    cut = data.draw(st.integers(min_value=0, max_value=len(log)), label="cut")
    stored = {cid: decode_state(encode_state(s, 0))[0] for cid, s in fold(log[:cut]).items()}
    for event in log[cut:]:
        stored[event.contract_id] = evolve(stored.get(event.contract_id), event)
    assert stored == fold(log)


def test_the_record_has_a_format_number() -> None:
    (state,) = fold(_one_contract()).values()
    record = json.loads(encode_state(state, 7))
    assert record["v"] == 3
    assert record["events_before"] == 7
    assert record["version"] == state.version


def test_a_format_1_record_every_id_inline_is_refused() -> None:
    """Read as unreadable, so the first takeover after the upgrade folds the log once."""
    (state,) = fold(_one_contract()).values()
    record = json.loads(encode_state(state, 7))
    for name in ("open", "chunks", "filter"):
        del record[name]
    record |= {"v": 1, "seen": [[str(uuid.uuid4()), "ab" * 32, 1]]}
    with pytest.raises(ValueError, match="unreadable"):
        decode_state(json.dumps(record).encode())
    with pytest.raises(ValueError, match="unreadable"):
        peek_state(json.dumps(record).encode())


def test_ids_that_do_not_add_up_to_the_version_are_refused() -> None:
    (state,) = fold(_one_contract()).values()
    record = json.loads(encode_state(state, 7))
    record["version"] += 1
    with pytest.raises(ValueError, match="unreadable"):
        decode_state(json.dumps(record).encode())


def test_a_completeness_record_round_trips() -> None:
    assert decode_complete(encode_complete(12_345)) == 12_345


@pytest.mark.parametrize(
    "data",
    [b"", b"{}", b"not json", b'{"v": 2, "folded_to": 1}', b'{"v": 1, "folded_to": -1}'],
)
def test_an_unreadable_record_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError, match="unreadable"):
        decode_complete(data)
    with pytest.raises(ValueError, match="unreadable"):
        decode_state(data)
    with pytest.raises(ValueError, match="unreadable"):
        peek_state(data)


def _one_contract() -> list[Event]:
    return history(random.Random(3), contracts=1, events=10)
