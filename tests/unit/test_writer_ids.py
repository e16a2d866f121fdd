"""A contract's event ids in sealed chunks: what a takeover reads stays small, and the writer's
idempotency answers stay exactly those of the full list of ids."""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.catalogue import Event
from events.messages import Submission, Submitter
from tests.support.histories import REALISTIC, Generator
from writemodel.decide import decide
from writemodel.ids import CHUNK, ChunksNeeded, IdFilter, SeenIds, entry
from writemodel.state import ContractState, content_hash, evolve
from writemodel.stored import (
    Peek,
    chunk_key,
    decode_chunk,
    decode_state,
    encode_chunk,
    encode_state,
    peek_state,
)

NOW = datetime(2024, 3, 1, 9, 0, 2, tzinfo=UTC)
ADMIN = Submitter(role="admin", principal="u.root")
HASH = "ab" * 32


def _uuids(rng: random.Random, n: int) -> list[uuid.UUID]:
    return [uuid.UUID(int=rng.getrandbits(128)) for _ in range(n)]


def _sealed(ids: list[uuid.UUID]) -> SeenIds:
    seen = SeenIds()
    for event_id in ids:
        seen = seen.added(event_id, HASH)
    return seen


@settings(max_examples=25, deadline=None)
@given(st.lists(st.uuids(), min_size=1, max_size=CHUNK * 14, unique=True))
def test_the_filter_never_misses_a_sealed_id(ids: list[uuid.UUID]) -> None:
    seen = _sealed(ids)
    assert seen.sealed_chunks == len(ids) // CHUNK
    for version, event_id in enumerate(ids, start=1):
        chunk = (version - 1) // CHUNK
        if chunk < seen.sealed_chunks:
            assert chunk in set(seen.filter.chunks_for(event_id))
        assert seen.lookup(event_id) == seen[event_id]
        assert seen[event_id].stream_version == version


def test_the_filters_false_positive_rate_is_near_its_target() -> None:
    rng = random.Random(7)
    # 40 chunks: stages 0-2 full (0.5 %, 0.25 %, 0.125 %), stage 3 a third full.
    seen = _sealed(_uuids(rng, 40 * CHUNK))
    assert len(seen.filter.stages) == 4
    strangers = _uuids(rng, 20_000)
    hits = sum(1 for e in strangers if next(seen.filter.chunks_for(e), None) is not None)
    assert 0.005 < hits / len(strangers) < 0.012
    # About 11-15 bits an id.
    bits = sum(len(stage) for stage in seen.filter.stages) * 8
    assert 11 < bits / (60 * CHUNK) < 16


def test_a_filter_of_the_wrong_shape_is_refused() -> None:
    seen = _sealed(_uuids(random.Random(1), 5 * CHUNK))
    with pytest.raises(ValueError, match="stages"):
        IdFilter.restore(seen.filter.stages, 40)
    with pytest.raises(ValueError, match="bytes"):
        IdFilter.restore((seen.filter.stages[0][1:], seen.filter.stages[1]), 5)


# A contract of several chunks, written as the writer writes it, taken over -------------------


def _contract(events: int, seed: int = 5) -> list[Event]:
    gen = Generator(random.Random(seed), REALISTIC, check=False)
    return gen.contract(1, events)


def _write(state: ContractState, store: dict[int, bytes]) -> ContractState:
    """Its pending chunks to `store` (the ids topic, by offset) as the writer writes them."""
    offsets = []
    first = state.seen.written_chunks
    for i, ids in enumerate(state.seen.pending):
        offsets.append(len(store) * 3 + 1)  # other records between
        store[offsets[-1]] = encode_chunk(state.contract_id, first + i, ids)
    return dataclasses.replace(state, seen=state.seen.written(offsets))


def _fold_and_write(log: list[Event], store: dict[int, bytes]) -> ContractState:
    state: ContractState | None = None
    for event in log:
        state = evolve(state, event)
    assert state is not None
    return _write(state, store)


def test_a_head_and_its_chunks_round_trip() -> None:
    log = _contract(5 * CHUNK + 17)
    store: dict[int, bytes] = {}
    state = _fold_and_write(log, store)
    assert state.seen.written_chunks == 5 and not state.seen.pending
    taken, events_before = decode_state(encode_state(state, 99))
    assert (taken, events_before) == (state, 99)
    # What a takeover reads of it before the contract is asked about.
    last = max(state.seen.ref(k).offset for k in range(5))
    assert peek_state(encode_state(state, 99)) == Peek(state.contract_id, 99, last)
    assert taken == _fold_and_write(log, {})  # equal to the folded state, chunks held or not
    assert len(encode_state(state, 99)) < 5_000  # 17 ids inline; 320 in chunks
    for k in range(5):
        ref = taken.seen.ref(k)
        ids = decode_chunk(store[ref.offset], state.contract_id, ref)
        versions = range(k * CHUNK, (k + 1) * CHUNK)
        assert ids == b"".join(entry(log[v].event_id, content_hash(log[v])) for v in versions)
    assert chunk_key(state.contract_id, 3) == f"{state.contract_id}#3".encode()


def test_a_chunk_that_is_not_the_one_referenced_is_refused() -> None:
    store: dict[int, bytes] = {}
    state = _fold_and_write(_contract(3 * CHUNK), store)
    one, two = state.seen.ref(1), state.seen.ref(2)
    with pytest.raises(ValueError, match="not chunk 1"):
        decode_chunk(store[two.offset], state.contract_id, one)
    with pytest.raises(ValueError, match="not chunk"):
        decode_chunk(store[one.offset], "C-other", one)
    other = encode_chunk(state.contract_id, 1, bytes(CHUNK * 48))
    with pytest.raises(ValueError, match="not what its head says"):
        decode_chunk(other, state.contract_id, one)
    with pytest.raises(ValueError, match="unreadable"):
        decode_chunk(b'{"v": 1}', state.contract_id, one)


def test_a_taken_over_state_needs_its_chunks_and_says_which() -> None:
    store: dict[int, bytes] = {}
    log = _contract(4 * CHUNK + 3)
    state, _ = decode_state(encode_state(_fold_and_write(log, store), 0))
    old = log[CHUNK + 5].event_id  # in chunk 1
    with pytest.raises(ChunksNeeded) as needed:
        state.seen.get(old)
    assert 1 in {ref.index for ref in needed.value.chunks}
    # The newest ids are inline: no chunk needed.
    assert state.seen[log[-1].event_id].stream_version == len(log)


def _resubmit(event: Event, **change: object) -> Submission:
    said = event.model_copy(update={"stream_version": None, **change})
    return Submission(submission_id=uuid.uuid4(), submitter=ADMIN, event=said)


def _decide_as_the_writer(
    state: ContractState, sub: Submission, store: Mapping[int, bytes], fetches: list[int]
) -> tuple[str, int | None, str | None]:
    """`decide` driven as the worker drives it: the chunks the state wants fetched first."""
    fetched: dict[int, bytes] = {}
    wanted = state.seen.wanted(sub.event.event_id, fetched)
    for ref in wanted:
        fetched[ref.offset] = decode_chunk(store[ref.offset], state.contract_id, ref)
    fetches.append(len(wanted))
    verdict = decide(state, sub, NOW, fetched).verdict
    return verdict.outcome, verdict.stream_version, verdict.code


def test_a_long_history_taken_over_answers_as_the_full_list_of_ids_would() -> None:
    log = _contract(7 * CHUNK + 20)
    store: dict[int, bytes] = {}
    state, _ = decode_state(encode_state(_fold_and_write(log, store), 0))
    full = {e.event_id: (content_hash(e), e.stream_version) for e in log}  # the old `seen`

    fetches: list[int] = []
    for event in log:
        # Every old event again: a duplicate of its own version; changed: its id reused.
        same = _decide_as_the_writer(state, _resubmit(event), store, fetches)
        assert same == ("duplicate", full[event.event_id][1], "duplicate_event")
        changed = _resubmit(event, occurred_at=event.occurred_at + timedelta(days=1))
        assert content_hash(changed.event) != full[event.event_id][0]
        assert _decide_as_the_writer(state, changed, store, fetches) == (
            "refused",
            None,
            "event_id_reused",
        )
    sealed = 7 * CHUNK
    assert all(n >= 1 for n in fetches[: 2 * sealed])  # a sealed id is read from its chunk
    assert fetches[2 * sealed :] == [0] * 40  # the newest are inline

    # New ids: accepted without a read, but for the filter's rare false positives.
    fetches.clear()
    rng = random.Random(3)
    contact = next(e for e in reversed(log) if e.type == "ClientContactLogged")
    for event_id in _uuids(rng, 500):
        sub = _resubmit(contact, event_id=event_id)
        assert _decide_as_the_writer(state, sub, store, fetches)[0] == "accepted"
    assert sum(1 for n in fetches if n) <= 15


def test_a_state_evolved_after_takeover_seals_and_writes_on() -> None:
    log = _contract(4 * CHUNK + 10)
    store: dict[int, bytes] = {}
    state, _ = decode_state(encode_state(_fold_and_write(log[: 3 * CHUNK + 50], store), 0))
    for event in log[3 * CHUNK + 50 :]:
        state = evolve(state, event)
    assert len(state.seen.pending) == 1  # chunk 3 sealed, not written yet
    state = _write(state, store)
    assert state == _fold_and_write(log, {})
    taken, _ = decode_state(encode_state(state, 0))
    fetches: list[int] = []
    event = log[3 * CHUNK + 10]  # in the chunk sealed after the takeover
    assert _decide_as_the_writer(taken, _resubmit(event), store, fetches)[:2] == (
        "duplicate",
        event.stream_version,
    )
