"""The margin read model (projections.read_model) over random valid histories (hypothesis):
redelivery, batches written and reloaded, and the invariants of every history."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import Event
from events.catalogue import (
    MarkupAgreed,
    MarkupNegotiationOpened,
    MarkupProposed,
    RaiseApproved,
    RaiseRequested,
    RatesAdjusted,
)
from projections.margin import bill_rate_for_markup
from projections.read_model import (
    AssignmentRow,
    Changes,
    ContractRow,
    ImpactRow,
    OpenItem,
    RateRow,
    ReadModel,
    TermsRow,
)
from tests.support.histories import histories
from tests.support.read_model import snapshot
from writemodel.state import fold

# --- random valid histories -----------------------------------------------------------------


def replay(log: list[Event]) -> tuple[ReadModel, Changes]:
    model = ReadModel()
    for e in log:
        model.apply(e)
    return model, model.take_changes()


@dataclass
class Tables:
    """The PostgreSQL tables as services/projector/store.py writes them, batch by batch."""

    contracts: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    assignments: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    terms: dict[tuple[str, int], tuple[Any, ...]] = field(default_factory=dict)
    rates: dict[tuple[str, str, int], RateRow] = field(default_factory=dict)
    impacts: dict[tuple[str, str], ImpactRow] = field(default_factory=dict)
    open_items: dict[tuple[str, str, str], OpenItem] = field(default_factory=dict)

    def write(self, changes: Changes) -> None:
        for row in changes.contracts.values():
            old = self.contracts.get(row.contract_id)
            if old is None or row.stream_version > old[1]:
                self.contracts[row.contract_id] = dataclasses.astuple(row)
        for key, a in changes.assignments.items():
            old_a = self.assignments.get(key)
            if old_a is None or a.stream_version > old_a[2]:
                self.assignments[key] = dataclasses.astuple(a)
        # COPY into a table with a primary key: a second row with the same key fails the batch.
        for t in changes.terms:
            assert (t.contract_id, t.stream_version) not in self.terms
            self.terms[(t.contract_id, t.stream_version)] = dataclasses.astuple(t)
        for r in changes.rates:
            key3 = (r.contract_id, r.assignment_id, r.stream_version)
            assert key3 not in self.rates
            self.rates[key3] = copy.deepcopy(r)
        for i in changes.impacts:
            assert (i.event_id, i.assignment_id) not in self.impacts
            self.impacts[(i.event_id, i.assignment_id)] = i
        for closed in changes.closed:
            self.open_items.pop(closed, None)
        for opened, item in changes.opened.items():
            self.open_items.setdefault(opened, copy.deepcopy(item))

    def load(self) -> ReadModel:
        """A read model as store.load builds it from the tables."""
        model = ReadModel()
        for values in self.contracts.values():
            row = ContractRow(*values)
            model.contracts[row.contract_id] = row
        for values in self.assignments.values():
            arow = AssignmentRow(*values)
            model.assignments[(arow.contract_id, arow.assignment_id)] = arow
        for rate in sorted(self.rates.values(), key=lambda r: (r.effective_date, r.stream_version)):
            model.rate_history.setdefault((rate.contract_id, rate.assignment_id), []).append(
                copy.deepcopy(rate)
            )
        for key in sorted(self.terms):
            terms = TermsRow(*self.terms[key])
            model.terms_history.setdefault(terms.contract_id, []).append(terms)
        model.open_items = copy.deepcopy(self.open_items)
        return model


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(contracts=2))
def test_redelivered_histories_give_the_same_rows(log: list[Event]) -> None:
    once, once_changes = replay(log)

    each_twice, each_twice_changes = replay([e for e in log for _ in (1, 2)])
    assert snapshot(each_twice) == snapshot(once)
    assert each_twice_changes == once_changes

    replayed = ReadModel()
    for e in log:
        assert replayed.apply(e) is True
    first_changes = replayed.take_changes()
    assert not any(replayed.apply(e) for e in log)
    assert replayed.take_changes() == Changes()
    assert snapshot(replayed) == snapshot(once)
    assert first_changes == once_changes


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(contracts=2), st.data())
def test_batches_written_and_reloaded_give_the_same_rows(
    log: list[Event], data: st.DataObject
) -> None:
    """The projector writes each batch's changes, may crash and reload the tables, and may be
    sent a batch again: the tables always end as a single in-memory replay holds them."""
    once, once_changes = replay(log)

    tables = Tables()
    model = ReadModel()
    i = 0
    while i < len(log):
        size = data.draw(st.integers(1, 6), label="batch size")
        batch = log[i : i + size]
        for e in batch:
            model.apply(e)
        tables.write(model.take_changes())
        if data.draw(st.booleans(), label="crash and reload"):
            model = tables.load()
            if data.draw(st.booleans(), label="redeliver the batch"):
                for e in batch:
                    assert model.apply(e) is False
                tables.write(model.take_changes())
        i += size

    assert snapshot(tables.load()) == snapshot(once)
    assert tables.impacts == {(r.event_id, r.assignment_id): r for r in once_changes.impacts}
    assert len(tables.impacts) == len(once_changes.impacts)
    assert list(tables.rates.values()) == once_changes.rates
    assert list(tables.terms.values()) == [dataclasses.astuple(t) for t in once_changes.terms]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(contracts=2))
def test_invariants_of_any_valid_history(log: list[Event]) -> None:
    model, changes = replay(log)
    writer = fold(log)
    for (cid, aid), a in model.assignments.items():
        history = model.rate_history[(cid, aid)]
        assert history == sorted(history, key=lambda r: (r.effective_date, r.stream_version))
        latest = history[-1]
        assert (a.pay_rate, a.bill_rate, a.rates_effective) == (
            latest.pay_rate,
            latest.bill_rate,
            latest.effective_date,
        )
        assert a.status == writer[cid].assignments[aid]
    for (cid, kind, item_id), item in model.open_items.items():
        if kind == "raise_request":
            assert writer[cid].raise_requests[item_id].status == "open"
        if kind == "negotiation":
            assert writer[cid].negotiations[item_id].status == "open"
        if kind != "bypass_threat" and item.assignment_id is not None:
            assert model.assignments[(cid, item.assignment_id)].status == "active"
    # A negotiation opened on one assignment never reaches another.
    scope = {
        (e.contract_id, e.negotiation_id): e.assignment_id
        for e in log
        if isinstance(e, MarkupNegotiationOpened)
    }
    negotiation_of = {
        str(e.event_id): (e.contract_id, e.negotiation_id)
        for e in log
        if isinstance(e, MarkupProposed | MarkupAgreed)
    }
    by_id = {str(e.event_id): e for e in log}
    for impact in changes.impacts:
        e = by_id[impact.event_id]
        if impact.event_id in negotiation_of:
            assert scope[negotiation_of[impact.event_id]] in (None, impact.assignment_id)
        a = model.assignments[(impact.contract_id, impact.assignment_id)]
        d, b, af = impact.impact.delta, impact.impact.before, impact.impact.after
        # Before: the rates in force on the day counted from, as the history stood then.
        earlier = [
            r
            for r in model.rate_history[(impact.contract_id, impact.assignment_id)]
            if r.stream_version < impact.stream_version
        ]
        in_force = [r for r in earlier if r.effective_date <= impact.counted_from] or earlier[:1]
        assert (b.pay_rate, b.bill_rate) == (in_force[-1].pay_rate, in_force[-1].bill_rate)
        # After: what the event sets or proposes.
        if isinstance(e, RatesAdjusted):
            expected = (e.pay_rate, e.bill_rate, e.effective_date, "applied")
        elif isinstance(e, RaiseApproved):
            expected = (e.new_pay_rate, e.new_bill_rate, e.effective_date, "applied")
        elif isinstance(e, MarkupAgreed):
            bill = bill_rate_for_markup(b.pay_rate, e.markup_pct)
            expected = (b.pay_rate, bill, e.effective_date, "applied")
        elif isinstance(e, MarkupProposed):
            bill = bill_rate_for_markup(b.pay_rate, e.markup_pct)
            expected = (b.pay_rate, bill, e.occurred_at.date(), "proposed")
        else:
            assert isinstance(e, RaiseRequested)
            bill = e.client_max_bill_rate or bill_rate_for_markup(
                e.requested_pay_rate, b.markup_pct
            )
            expected = (e.requested_pay_rate, bill, e.occurred_at.date(), "proposed")
        assert (af.pay_rate, af.bill_rate, impact.counted_from, impact.basis) == expected
        # after − before, figure by figure
        assert d.weekly_gross_profit == af.weekly_gross_profit - b.weekly_gross_profit
        assert af.weekly_gross_profit == af.margin_per_hour * a.hours_per_week
