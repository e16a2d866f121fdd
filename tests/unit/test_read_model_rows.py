"""The margin read model (projections.read_model), continued: its open items, the contracts it
ignores or ends, a model loaded from its rows or evicted and installed back, redelivery, and a
contract handed over to another account manager."""

from __future__ import annotations

import copy
import dataclasses
import uuid
from datetime import date

import pytest

from events import Event
from projections.read_model import Changes, OpenItem, ReadModel, StoredContract
from simulation.examples import CONTRACT_ID, OMIT
from tests.support.read_model import (
    D,
    Stream,
    contract_with_three_assignments,
    event,
    impacts_of,
    open_keys,
    rich_history,
    snapshot,
    worked_example,
)

# --- open items -----------------------------------------------------------------------------


def test_negotiations_open_and_close() -> None:
    s = contract_with_three_assignments()
    s.open_negotiation(assignment_id="A-1")
    s.open_negotiation(negotiation_id="N-2", assignment_id=OMIT)
    s.open_negotiation(negotiation_id="N-3", assignment_id="A-2")
    assert s.model.open_items[(CONTRACT_ID, "negotiation", "N-2")].assignment_id is None
    assert open_keys(s.model) == {
        (CONTRACT_ID, "negotiation", "N-1"),
        (CONTRACT_ID, "negotiation", "N-2"),
        (CONTRACT_ID, "negotiation", "N-3"),
    }
    s.add("MarkupProposed", negotiation_id="N-1")  # a proposal keeps it open
    assert (CONTRACT_ID, "negotiation", "N-1") in s.model.open_items
    s.add("MarkupNegotiationClosed", negotiation_id="N-1", outcome="rejected")
    s.add("MarkupAgreed", negotiation_id="N-3", effective_date="2026-03-02")
    assert open_keys(s.model) == {(CONTRACT_ID, "negotiation", "N-2")}


def test_raise_requests_open_and_close_when_decided() -> None:
    s = worked_example()
    s.request_raise()
    s.request_raise(raise_request_id="R-2")
    assert open_keys(s.model) == {
        (CONTRACT_ID, "raise_request", "R-1"),
        (CONTRACT_ID, "raise_request", "R-2"),
    }
    s.add("RaiseDeclined", raise_request_id="R-1")
    assert open_keys(s.model) == {(CONTRACT_ID, "raise_request", "R-2")}
    s.add("RaiseApproved", raise_request_id="R-2", effective_date="2026-03-02")
    assert open_keys(s.model) == set()


def test_bypass_threats_open_one_item_per_report() -> None:
    s = contract_with_three_assignments()
    on_a1 = s.add("BypassThreatReported", assignment_id="A-1", staffer_id="S-A-1")
    contract_wide = s.add("BypassThreatReported", assignment_id=OMIT, staffer_id=OMIT)
    assert s.model.open_items == {
        (CONTRACT_ID, "bypass_threat", str(on_a1.event_id)): OpenItem(
            CONTRACT_ID, "bypass_threat", str(on_a1.event_id), "A-1", on_a1.stream_version or 0
        ),
        (CONTRACT_ID, "bypass_threat", str(contract_wide.event_id)): OpenItem(
            CONTRACT_ID,
            "bypass_threat",
            str(contract_wide.event_id),
            None,
            contract_wide.stream_version or 0,
        ),
    }


def test_assignment_ended_closes_its_open_items_and_no_others() -> None:
    s = contract_with_three_assignments()
    s.open_negotiation(assignment_id="A-1")
    s.open_negotiation(negotiation_id="N-2", assignment_id=OMIT)
    s.open_negotiation(negotiation_id="N-3", assignment_id="A-2")
    s.request_raise()
    s.request_raise(raise_request_id="R-2", assignment_id="A-2")
    threat = s.add("BypassThreatReported", assignment_id="A-1", staffer_id="S-A-1")
    s.take()
    ended = s.add("AssignmentEnded", assignment_id="A-1", end_date="2026-03-13", reason="completed")
    changes = s.take()
    assert open_keys(s.model) == {
        (CONTRACT_ID, "negotiation", "N-2"),
        (CONTRACT_ID, "negotiation", "N-3"),
        (CONTRACT_ID, "raise_request", "R-2"),
    }
    assert changes.closed == {
        (CONTRACT_ID, "negotiation", "N-1"),
        (CONTRACT_ID, "raise_request", "R-1"),
        (CONTRACT_ID, "bypass_threat", str(threat.event_id)),
    }
    a = s.model.assignments[(CONTRACT_ID, "A-1")]
    assert (a.status, a.end_date, a.end_reason) == ("ended", date(2026, 3, 13), "completed")
    assert a.stream_version == ended.stream_version
    assert changes.assignments == {(CONTRACT_ID, "A-1"): a}


def test_an_item_opened_and_closed_in_one_batch_is_neither_inserted_nor_left_open() -> None:
    s = worked_example()
    s.request_raise()
    s.add("RaiseDeclined", raise_request_id="R-1")
    changes = s.take()
    assert changes.opened == {}
    assert s.model.open_items == {}
    assert changes and not Changes()


# --- contracts never signed, terminated, poison -------------------------------------------------


def test_events_of_a_contract_never_signed_are_ignored() -> None:
    model = ReadModel()
    for version, type_name in enumerate(
        ["AssignmentStarted", "RatesAdjusted", "RaiseRequested", "BypassThreatReported"], start=1
    ):
        assert model.apply(event(type_name, version, contract_id="C-NEVER")) is False
    assert snapshot(model) == snapshot(ReadModel())
    assert model.take_changes() == Changes()

    # Another contract being signed does not let them in either.
    s = Stream(model)
    s.sign()
    assert model.apply(event("AssignmentStarted", 2, contract_id="C-NEVER")) is False
    assert set(model.contracts) == {CONTRACT_ID}
    assert not any(cid == "C-NEVER" for cid, _ in model.assignments)


def test_termination_is_recorded_on_the_contract() -> None:
    s = worked_example()
    e = s.add("ContractTerminated", effective_date="2026-06-30")
    c = s.model.contracts[CONTRACT_ID]
    assert (c.status, c.terminated_on, c.stream_version) == (
        "terminated",
        date(2026, 6, 30),
        e.stream_version,
    )
    # Relationship events still move the stream on.
    e = s.add("ClientContactLogged")
    assert s.model.contracts[CONTRACT_ID].stream_version == e.stream_version


def test_an_event_that_cannot_be_applied_leaves_the_model_as_it_was() -> None:
    """The projector dead-letters an event whose apply raises and goes on: nothing of it may
    remain in the rows or in the batch's changes."""
    s = worked_example()
    before = snapshot(s.model)
    poison = event("RaiseRequested", 3, assignment_id="A-UNKNOWN", raise_request_id="R-9")
    with pytest.raises(KeyError):
        s.model.apply(poison)
    assert snapshot(s.model) == before
    assert s.model.take_changes() == Changes()


def test_a_contracts_events_never_touch_another_contracts_rows() -> None:
    model = ReadModel()
    one, two = Stream(model, "C-1"), Stream(model, "C-2")
    for s in (one, two):
        s.sign()
        s.start("A-1")
        s.open_negotiation(assignment_id=OMIT)
        s.request_raise()
    model.take_changes()
    e = one.add("MarkupAgreed", negotiation_id="N-1", markup_pct="20", effective_date="2026-03-02")
    one.add("AssignmentEnded", assignment_id="A-1", end_date="2026-03-13")
    changes = model.take_changes()
    assert set(impacts_of(changes, e)) == {"A-1"}
    assert {i.contract_id for i in changes.impacts} == {"C-1"}
    assert model.assignments[("C-1", "A-1")].bill_rate == D("36.00")
    assert model.assignments[("C-2", "A-1")].bill_rate == D("37.50")
    assert model.assignments[("C-2", "A-1")].status == "active"
    assert open_keys(model) == {("C-2", "negotiation", "N-1"), ("C-2", "raise_request", "R-1")}


def test_one_event_id_on_two_contracts_makes_two_impact_rows() -> None:
    """The writer remembers event ids per contract, so two contracts may each accept an event
    with the same id: the rows are told apart by their contract."""
    model = ReadModel()
    one, two = Stream(model, "C-1"), Stream(model, "C-2")
    same = str(uuid.uuid4())
    for s in (one, two):
        s.sign()
        s.start("A-1")
        s.add("RatesAdjusted", event_id=same, effective_date="2026-03-02")
    impacts = model.take_changes().impacts
    assert [(i.contract_id, i.event_id, i.assignment_id) for i in impacts] == [
        ("C-1", same, "A-1"),
        ("C-2", same, "A-1"),
    ]


def loaded(model: ReadModel) -> ReadModel:
    """A read model as store.load builds it from the tables: a fresh one, its maps filled."""
    fresh = ReadModel()
    state = snapshot(model)
    fresh.contracts.update(state["contracts"])
    fresh.assignments.update(state["assignments"])
    fresh.rate_history.update(state["rate_history"])
    fresh.terms_history.update(state["terms_history"])
    fresh.open_items.update(state["open_items"])
    return fresh


def test_a_model_loaded_from_its_rows_goes_on_as_the_original() -> None:
    s = contract_with_three_assignments()
    s.open_negotiation(assignment_id=OMIT)
    s.request_raise(assignment_id="A-2")
    s.add("BypassThreatReported", assignment_id="A-2", staffer_id="S-A-2")
    s.take()
    original, reloaded = s.model, loaded(s.model)
    rest = [
        event("MarkupProposed", s.version + 1, negotiation_id="N-1"),
        event("AssignmentStarted", s.version + 2, assignment_id="A-4", staffer_id="S-A-4"),
        event("AssignmentEnded", s.version + 3, assignment_id="A-2"),
        event("MarkupAgreed", s.version + 4, negotiation_id="N-1", effective_date="2026-03-02"),
    ]
    for model in (original, reloaded):
        for e in rest:
            assert model.apply(e) is True
    assert snapshot(reloaded) == snapshot(original)
    assert reloaded.take_changes() == original.take_changes()
    # A-1 and A-4 were repriced (A-2 and A-3 had ended); A-2's items are closed.
    assert {k[1] for k, a in original.assignments.items() if a.stream_version == s.version + 4} == {
        "A-1",
        "A-4",
    }
    assert open_keys(original) == set()


def test_maps_replaced_on_a_live_model_are_read_afresh() -> None:
    s = contract_with_three_assignments()
    s.request_raise()
    s.open_negotiation(assignment_id=OMIT)
    s.add("MarkupProposed", negotiation_id="N-1")  # the per-contract keys are now known
    s.model.open_items = {
        (CONTRACT_ID, "raise_request", "R-2"): OpenItem(
            CONTRACT_ID, "raise_request", "R-2", "A-2", 9
        ),
        (CONTRACT_ID, "negotiation", "N-1"): s.model.open_items[
            (CONTRACT_ID, "negotiation", "N-1")
        ],
    }
    s.model.assignments = {
        k: a for k, a in s.model.assignments.items() if k != (CONTRACT_ID, "A-2")
    } | {(CONTRACT_ID, "A-9"): copy.deepcopy(s.model.assignments[(CONTRACT_ID, "A-2")])}
    s.model.assignments[(CONTRACT_ID, "A-9")].assignment_id = "A-9"
    s.model.rate_history[(CONTRACT_ID, "A-9")] = s.model.rate_history[(CONTRACT_ID, "A-2")]
    s.take()
    e = s.add("MarkupProposed", negotiation_id="N-1")
    assert set(impacts_of(s.take(), e)) == {"A-1", "A-9"}
    s.add("AssignmentEnded", assignment_id="A-1")
    assert (CONTRACT_ID, "raise_request", "R-2") in s.model.open_items
    s.model.open_items = {}
    s.add("AssignmentEnded", assignment_id="A-9")
    assert s.model.open_items == {}


# --- redelivery -----------------------------------------------------------------------------


def test_redelivering_each_event_returns_false_and_changes_nothing() -> None:
    original = rich_history()
    model = ReadModel()
    for e in original.log:
        assert model.apply(e) is True
        state, changes = snapshot(model), copy.deepcopy(model.changes)
        assert model.apply(e) is False
        assert snapshot(model) == state
        assert model.changes == changes
    model.take_changes()
    for e in original.log:  # the whole history again
        assert model.apply(e) is False
    assert model.take_changes() == Changes()
    assert snapshot(model) == snapshot(original.model)


def test_an_older_event_delivered_late_is_ignored() -> None:
    s = rich_history()
    before = snapshot(s.model)
    s.take()
    for e in reversed(s.log):
        assert s.model.apply(e) is False
    assert snapshot(s.model) == before
    assert s.take() == Changes()


# --- a bounded cache: contracts evicted and installed back from their rows ---------------------


def stored(model: ReadModel, contract_id: str) -> StoredContract:
    """The contract's rows as the store reads them back (store.contract_states)."""
    state = snapshot(model)
    return StoredContract(
        contract=state["contracts"][contract_id],
        assignments=[a for k, a in state["assignments"].items() if k[0] == contract_id],
        rates=[r for k, rs in state["rate_history"].items() if k[0] == contract_id for r in rs],
        terms=state["terms_history"].get(contract_id, []),
        open_items=[i for k, i in state["open_items"].items() if k[0] == contract_id],
    )


def test_a_contract_evicted_and_installed_back_goes_on_as_if_always_held() -> None:
    log = rich_history().log
    other = rich_history_of("C-OTHER")
    always, cached = ReadModel(), ReadModel()
    for e in other:
        always.apply(e)
        cached.apply(e)
    for e in log:
        assert always.apply(e) is True
        if e.contract_id in cached.contracts:
            rows = stored(cached, e.contract_id)
            cached.evict(e.contract_id)
            assert e.contract_id not in {k[0] for k in snapshot(cached)["assignments"]}
            cached.install(rows)
        assert cached.apply(e) is True
        assert cached.take_changes() == always.take_changes()
    assert snapshot(cached) == snapshot(always)

    cached.evict(CONTRACT_ID)
    left = snapshot(cached)
    assert all(k == "C-OTHER" or k[0] == "C-OTHER" for rows in left.values() for k in rows)
    assert left["contracts"] and left["assignments"] and left["open_items"]
    # Held no longer, its next event is not applied: the projector installs it first.
    assert cached.apply(event("ClientComplaintLogged", len(log) + 1)) is False
    with pytest.raises(ValueError, match="held already"):
        cached.install(stored(always, "C-OTHER"))


def rich_history_of(contract_id: str) -> list[Event]:
    return [e.model_copy(update={"contract_id": contract_id}) for e in rich_history().log]


def test_a_hand_over_moves_the_contract_to_its_new_account_manager_and_changes_no_figure() -> None:
    s = worked_example()
    before = snapshot(s.model)
    s.add("AccountManagerChanged", account_manager_id="am.okafor", effective_date="2026-03-02")
    changes = s.take()
    row = s.model.contracts[CONTRACT_ID]
    assert row.account_manager_id == "am.okafor"
    assert changes.contracts == {CONTRACT_ID: row}  # the contract row is written, nothing else
    assert not (changes.assignments or changes.terms or changes.rates or changes.impacts)
    after = snapshot(s.model)
    was = before["contracts"][CONTRACT_ID]
    assert after["contracts"][CONTRACT_ID] == dataclasses.replace(
        was, account_manager_id="am.okafor", stream_version=was.stream_version + 1
    )
    assert {k: v for k, v in after.items() if k != "contracts"} == {
        k: v for k, v in before.items() if k != "contracts"
    }
