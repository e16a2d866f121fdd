# Long: the record fold checked against evolve, a test per case, over shared log builders.
"""The writer's state of a contract, folded from its accepted events."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings

from events import Event, decode_event, encode_event
from simulation.examples import CONTRACT_ID, example
from tests.support.histories import histories
from writemodel.state import (
    AssignmentTerm,
    ContractState,
    LogFold,
    NegotiationState,
    RaiseRequestState,
    SeenEvent,
    content_hash,
    evolve,
    fold,
)


class Log:
    """Builds the events of one contract's log, numbering them 1, 2, 3 … as the writer does."""

    def __init__(self, contract_id: str = CONTRACT_ID) -> None:
        self.contract_id = contract_id
        self.events: list[Event] = []

    def add(self, type_name: str, **fields: Any) -> Event:
        event = decode_event(
            example(
                type_name,
                contract_id=self.contract_id,
                recorded_by="u.jones",
                recorded_at="2024-03-01T09:00:01+00:00",
                stream_version=len(self.events) + 1,
                **fields,
            )
        )
        self.events.append(event)
        return event

    def state(self) -> ContractState:
        state: ContractState | None = None
        for event in self.events:
            state = evolve(state, event)
        assert state is not None
        return state


def _signed_log(contract_id: str = CONTRACT_ID) -> Log:
    log = Log(contract_id)
    log.add("ContractSigned")
    return log


# content_hash --------------------------------------------------------------------------------


def test_content_hash_is_sha256_of_the_event_without_what_the_service_stamped() -> None:
    event = decode_event(
        example(
            "RatesAdjusted",
            recorded_by="u.jones",
            recorded_at="2024-03-01T09:00:01+00:00",
            stream_version=5,
        )
    )
    cleared = event.model_copy(
        update={"recorded_by": None, "recorded_at": None, "stream_version": None}
    )
    assert content_hash(event) == hashlib.sha256(encode_event(cleared)).hexdigest()


def test_the_same_event_stamped_differently_has_the_same_content_hash() -> None:
    raw = example("ClientComplaintLogged")
    submitted = decode_event(raw)
    logged = decode_event(
        {
            **raw,
            "recorded_by": "u.smith",
            "recorded_at": "2024-05-01T00:00:00+00:00",
            "stream_version": 12,
        }
    )
    assert content_hash(submitted) == content_hash(logged)


@pytest.mark.parametrize(
    "change",
    [
        {"legal_threat": True},
        {"description": "invoice 2024-07 double-counted overtime!"},
        {"occurred_at": "2024-03-01T09:00:01+00:00"},
        {"contract_id": "C-2"},
    ],
)
def test_any_change_of_what_was_said_changes_the_content_hash(change: dict[str, Any]) -> None:
    raw = example("ClientComplaintLogged")
    assert content_hash(decode_event(raw)) != content_hash(decode_event({**raw, **change}))


# evolve --------------------------------------------------------------------------------------


def test_a_signed_contract_holds_its_ids_and_its_first_event() -> None:
    log = Log()
    signed = log.add("ContractSigned", account_manager_id="am.lee", client_name="Contoso")
    state = log.state()
    assert state.contract_id == CONTRACT_ID
    assert state.version == 1
    assert (state.account_manager_id, state.client_id, state.client_name) == (
        "am.lee",
        "CL-7",
        "Contoso",
    )
    assert not state.terminated
    assert dict(state.assignments) == {}
    assert dict(state.seen) == {signed.event_id: SeenEvent(content_hash(signed), 1)}


def test_assignments_start_and_end() -> None:
    log = _signed_log()
    log.add("AssignmentStarted", assignment_id="A-1")
    log.add("AssignmentStarted", assignment_id="A-2")
    log.add("AssignmentEnded", assignment_id="A-1")
    assert dict(log.state().assignments) == {"A-1": "ended", "A-2": "active"}


@pytest.mark.parametrize("ending", ["MarkupAgreed", "MarkupNegotiationClosed"])
def test_agreeing_or_closing_ends_a_negotiation_and_proposing_does_not(ending: str) -> None:
    log = _signed_log()
    log.add("AssignmentStarted", assignment_id="A-1")
    log.add("MarkupNegotiationOpened", negotiation_id="N-1")
    log.add("MarkupNegotiationOpened", negotiation_id="N-2")
    log.add("MarkupProposed", negotiation_id="N-1")
    assert dict(log.state().negotiations) == {
        "N-1": NegotiationState("A-1", "open"),
        "N-2": NegotiationState("A-1", "open"),
    }
    log.add(ending, negotiation_id="N-1")
    assert dict(log.state().negotiations) == {
        "N-1": NegotiationState("A-1", "closed"),
        "N-2": NegotiationState("A-1", "open"),
    }


@pytest.mark.parametrize("decision", ["RaiseApproved", "RaiseDeclined"])
def test_approving_or_declining_decides_a_raise_request(decision: str) -> None:
    log = _signed_log()
    log.add("AssignmentStarted", assignment_id="A-1")
    log.add("RaiseRequested", raise_request_id="R-1", assignment_id="A-1")
    log.add("RaiseRequested", raise_request_id="R-2", assignment_id="A-1")
    log.add(decision, raise_request_id="R-2")
    assert dict(log.state().raise_requests) == {
        "R-1": RaiseRequestState("A-1", "open"),
        "R-2": RaiseRequestState("A-1", "decided"),
    }


def test_termination_is_remembered_and_relationship_events_still_count() -> None:
    log = _signed_log()
    log.add("ContractTerminated")
    log.add("ClientContactLogged")
    state = log.state()
    assert state.terminated
    assert state.version == 3
    assert len(state.seen) == 3


def test_an_amendment_can_rename_the_client_but_not_change_the_ids() -> None:
    log = _signed_log()
    log.add("ContractAmended", client_name="Northwind Freight")
    state = log.state()
    assert state.client_name == "Northwind Freight"
    assert (state.account_manager_id, state.client_id) == ("am.jones", "CL-7")
    log.add("ContractAmended", client_name=None, effective_date="2024-09-01")
    assert log.state().client_name == "Northwind Freight"


def test_every_accepted_event_is_remembered_with_its_version() -> None:
    log = _signed_log()
    for _ in range(5):
        log.add("ClientContactLogged")
    seen = log.state().seen
    assert {event_id: s.stream_version for event_id, s in seen.items()} == {
        event.event_id: event.stream_version for event in log.events
    }
    assert all(seen[e.event_id].content_hash == content_hash(e) for e in log.events)
    assert uuid.uuid4() not in seen


def test_evolve_leaves_the_earlier_state_as_it_was() -> None:
    log = _signed_log()
    log.add("AssignmentStarted", assignment_id="A-1")
    before = log.state()
    snapshot = (dict(before.assignments), dict(before.seen), before.version)
    after = evolve(before, log.add("AssignmentEnded", assignment_id="A-1"))
    after = evolve(after, log.add("AssignmentStarted", assignment_id="A-2"))
    assert (dict(before.assignments), dict(before.seen), before.version) == snapshot
    assert before.assignments.get("A-2") is None
    assert len(before.assignments) == 1 and list(before.assignments) == ["A-1"]
    assert dict(after.assignments) == {"A-1": "ended", "A-2": "active"}


def test_two_branches_from_one_state_do_not_see_each_others_events() -> None:
    log = _signed_log()
    log.add("AssignmentStarted", assignment_id="A-1")
    base = log.state()
    left_event = decode_event(example("AssignmentEnded", assignment_id="A-1", stream_version=3))
    right_event = decode_event(example("AssignmentStarted", assignment_id="A-2", stream_version=3))
    left = evolve(base, left_event)
    right = evolve(base, right_event)
    left_next = evolve(left, decode_event(example("ClientContactLogged", stream_version=4)))
    assert dict(left.assignments) == {"A-1": "ended"}
    assert dict(right.assignments) == {"A-1": "active", "A-2": "active"}
    assert dict(left_next.assignments) == {"A-1": "ended"}
    assert right_event.event_id not in left_next.seen
    assert left_event.event_id not in right.seen
    assert dict(base.assignments) == {"A-1": "active"}


def test_a_state_built_by_hand_evolves_like_a_folded_one() -> None:
    log = _signed_log()
    log.add("AssignmentStarted", assignment_id="A-1")
    folded = log.state()
    by_hand = ContractState(
        contract_id=CONTRACT_ID,
        version=2,
        account_manager_id="am.jones",
        client_id="CL-7",
        client_name="Northwind Logistics",
        assignments={"A-1": "active"},
        seen=folded.seen,
        assignment_terms={"A-1": AssignmentTerm(date(2024, 3, 4), date(2024, 12, 20))},
    )
    assert by_hand == folded
    ended = log.add("AssignmentEnded", assignment_id="A-1")
    assert evolve(by_hand, ended) == evolve(folded, ended)


def test_states_with_different_content_are_not_equal() -> None:
    log = _signed_log()
    one = log.state()
    log.add("AssignmentStarted")
    assert log.state() != one
    assert evolve(one, log.events[1]) == log.state()


# evolve: a corrupt log -----------------------------------------------------------------------


@pytest.mark.parametrize("version", [None, 1, 3, 2**31])
def test_an_event_out_of_sequence_is_a_corrupt_log(version: int | None) -> None:
    state = _signed_log().state()
    event = decode_event(example("ClientContactLogged")).model_copy(
        update={"stream_version": version}
    )
    with pytest.raises(ValueError, match="expected 2"):
        evolve(state, event)


def test_a_stream_must_open_with_contract_signed_at_version_1() -> None:
    with pytest.raises(ValueError, match="not ContractSigned"):
        evolve(None, decode_event(example("ClientContactLogged", stream_version=1)))
    with pytest.raises(ValueError, match="expected 1"):
        evolve(None, decode_event(example("ContractSigned", stream_version=2)))


def test_a_second_contract_signed_is_a_corrupt_log() -> None:
    state = _signed_log().state()
    with pytest.raises(ValueError, match="signed again"):
        evolve(state, decode_event(example("ContractSigned", stream_version=2)))


def test_an_event_of_another_contract_is_refused() -> None:
    state = _signed_log().state()
    with pytest.raises(ValueError, match="C-2"):
        evolve(
            state, decode_event(example("ClientContactLogged", contract_id="C-2", stream_version=2))
        )


def test_an_event_id_appended_twice_is_a_corrupt_log() -> None:
    log = _signed_log()
    first = log.add("ClientContactLogged")
    state = log.state()
    again = first.model_copy(update={"stream_version": 3})
    with pytest.raises(ValueError, match="appended twice"):
        evolve(state, again)


def test_a_decision_on_a_request_never_made_does_not_stop_the_fold() -> None:
    # The writer refuses it before appending; an old log holding one must still load.
    log = _signed_log()
    log.add("RaiseDeclined", raise_request_id="R-404")
    state = log.state()
    assert state.version == 2
    assert dict(state.raise_requests) == {}


# fold ----------------------------------------------------------------------------------------


def test_fold_keeps_contracts_of_one_partition_apart() -> None:
    one, two = _signed_log("C-1"), _signed_log("C-2")
    one.add("AssignmentStarted", assignment_id="A-1")
    two.add("AssignmentStarted", assignment_id="A-9")
    two.add("ContractTerminated")
    interleaved = [one.events[0], two.events[0], two.events[1], one.events[1], two.events[2]]
    states = fold(interleaved)
    assert states == {"C-1": one.state(), "C-2": two.state()}
    assert dict(states["C-1"].assignments) == {"A-1": "active"}
    assert states["C-2"].terminated and not states["C-1"].terminated


def test_fold_of_nothing_is_no_contracts() -> None:
    assert fold([]) == {}


def test_fold_of_100_000_events_of_one_contract_grows_linearly() -> None:
    # A writer folds every event of its partitions before it answers anyone: copying the
    # growing maps on each event would take minutes here.
    templates = [
        decode_event(example(name, stream_version=1))
        for name in (
            "ClientContactLogged",
            "AssignmentStarted",
            "RatesAdjusted",
            "MarkupNegotiationOpened",
            "MarkupAgreed",
            "RaiseRequested",
            "RaiseApproved",
        )
    ]
    events: list[Event] = [decode_event(example("ContractSigned", stream_version=1))]
    for version in range(2, 100_001):
        template = templates[version % len(templates)]
        n = version // len(templates)
        update: dict[str, Any] = {"event_id": uuid.UUID(int=version), "stream_version": version}
        for field, prefix in (
            ("assignment_id", "A"),
            ("negotiation_id", "N"),
            ("raise_request_id", "R"),
        ):
            if field in type(template).model_fields:
                update[field] = f"{prefix}-{n}"
        events.append(template.model_copy(update=update))

    # CPU time, not wall time, and one fold against another on the same machine: a linear fold
    # of five times the events costs about five times as much, whatever the machine or its load;
    # a quadratic one (copying the growing maps on each event) about twenty-five.
    started = time.process_time()
    fold(events[:20_000])
    fifth = time.process_time() - started
    started = time.process_time()
    state = fold(events)[CONTRACT_ID]
    whole = time.process_time() - started
    assert whole < 10 * fifth + 0.5, f"20,000 events in {fifth:.2f} s, 100,000 in {whole:.2f} s"

    assert state.version == 100_000
    assert len(state.seen) == 100_000
    assert len(state.assignments) == 100_000 // len(templates)


def test_folded_state_answers_as_of_its_own_version_even_when_kept() -> None:
    # The writer keeps the states of a batch aside until its transaction commits.
    log = _signed_log()
    states = [log.state()]
    for i in range(20):
        log.add("AssignmentStarted", assignment_id=f"A-{i}")
        states.append(evolve(states[-1], log.events[-1]))
    for version, state in enumerate(states, start=1):
        assert state.version == version
        assert len(state.assignments) == version - 1
        assert len(state.seen) == version
        assert set(state.assignments) == {f"A-{i}" for i in range(version - 1)}


def test_states_do_not_depend_on_when_they_were_recorded() -> None:
    log = _signed_log()
    event = log.add("ClientContactLogged")
    restamped = event.model_copy(update={"recorded_at": datetime(2030, 1, 1, tzinfo=UTC)})
    base = fold(log.events[:1])[CONTRACT_ID]
    assert evolve(base, restamped) == evolve(base, event)


def test_a_hand_over_makes_the_new_account_manager_the_contracts_own() -> None:
    log = _signed_log()
    log.add("AccountManagerChanged", account_manager_id="am.okafor")
    state = log.state()
    assert state.account_manager_id == "am.okafor"
    assert (state.client_id, state.version) == ("CL-7", 2)
    log.add("ClientContactLogged")
    assert log.state().account_manager_id == "am.okafor"


# -- the fold of a whole log in one pass (a writer's first fold of a partition) ------------------


def _one_by_one(events: list[Event]) -> dict[str, ContractState]:
    states: dict[str, ContractState] = {}
    for event in events:
        states[event.contract_id] = evolve(states.get(event.contract_id), event)
    return states


def _same(folded: ContractState, evolved: ContractState) -> None:
    assert folded == evolved
    # What the state record stores, to the byte: the maps in their order, every id, the filter.
    assert list(folded.assignments.items()) == list(evolved.assignments.items())
    assert list(folded.negotiations.items()) == list(evolved.negotiations.items())
    assert list(folded.raise_requests.items()) == list(evolved.raise_requests.items())
    assert list(folded.assignment_terms.items()) == list(evolved.assignment_terms.items())
    assert folded.seen.open == evolved.seen.open
    assert folded.seen.pending == evolved.seen.pending
    assert folded.seen.filter == evolved.seen.filter


@settings(max_examples=40, deadline=None)
@given(histories(contracts=3, events=200))
def test_folding_a_log_in_one_pass_reaches_the_states_of_evolve(events: list[Event]) -> None:
    folded, evolved = fold(events), _one_by_one(events)
    assert folded.keys() == evolved.keys()
    for cid, state in folded.items():
        _same(state, evolved[cid])
        # ... and it goes on from there as any state does.
        more = decode_event(
            example("ClientContactLogged", contract_id=cid, stream_version=state.version + 1)
        )
        _same(evolve(state, more), evolve(evolved[cid], more))


def test_a_long_stream_folded_in_one_pass_seals_its_ids_as_evolve_does() -> None:
    log = _signed_log()
    for _ in range(64 * 9 + 5):  # nine chunks sealed (two filter stages), five ids open
        log.add("ClientContactLogged")
    folded = fold(log.events)[CONTRACT_ID]
    _same(folded, log.state())
    assert len(folded.seen.pending) == 9 and len(folded.seen.filter.stages) == 2
    for event in (log.events[0], log.events[300], log.events[-1]):
        assert folded.seen.lookup(event.event_id) == SeenEvent(
            content_hash(event), event.stream_version or 0
        )


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda es: [es[0], es[2]], "expected 2"),
        (lambda es: [es[1].model_copy(update={"stream_version": 1})], "not ContractSigned"),
        (lambda es: [*es, es[0].model_copy(update={"stream_version": 4})], "signed again"),
        (lambda es: [*es, es[1].model_copy(update={"stream_version": 4})], "appended twice"),
    ],
)
def test_a_corrupt_log_stops_the_one_pass_fold(mutate: Any, reason: str) -> None:
    log = _signed_log()
    log.add("ClientContactLogged")
    log.add("ClientContactLogged")
    with pytest.raises(ValueError, match=reason):
        fold(mutate(log.events))
    with pytest.raises(ValueError, match=reason):
        _fold_records([encode_event(event) for event in mutate(log.events)])


# -- the same fold from the records' bytes (what the writer reads from the events topic) --------


def _fold_records(records: list[bytes]) -> dict[str, ContractState]:
    folding = LogFold()
    for record in records:
        folding.add_record(record)
    return folding.states()


@settings(max_examples=40, deadline=None)
@given(histories(contracts=3, events=200))
def test_folding_a_log_from_its_records_reaches_the_states_of_evolve(events: list[Event]) -> None:
    folded, evolved = _fold_records([encode_event(e) for e in events]), _one_by_one(events)
    assert folded.keys() == evolved.keys()
    for cid, state in folded.items():
        _same(state, evolved[cid])


def test_records_not_as_the_writer_writes_them_are_decoded_and_hashed_as_before() -> None:
    log = _signed_log()
    for _ in range(70):  # a sealed chunk and open ids, both checked below
        log.add("ClientContactLogged")
    log.add("AssignmentStarted")
    records = [encode_event(event) for event in log.events]
    # A v1 contract signing (upcast when read: its bytes are not its canonical encoding), a
    # record with spaces, one with its keys in another order: each hashed as its decoded event.
    v1 = json.loads(records[0])
    v1["schema_version"] = 1
    del v1["ot_bill_multiplier"], v1["dt_bill_multiplier"]
    records[0] = json.dumps(v1).encode()
    records[5] = json.dumps(json.loads(records[5])).encode()
    records[70] = json.dumps(dict(reversed(json.loads(records[70]).items()))).encode()
    events = [decode_event(record) for record in records]
    folded = _fold_records(records)[CONTRACT_ID]
    _same(folded, _one_by_one(events)[CONTRACT_ID])
    for event in (events[0], events[5], events[70]):
        assert folded.seen.lookup(event.event_id) == SeenEvent(
            content_hash(event), event.stream_version or 0
        )
