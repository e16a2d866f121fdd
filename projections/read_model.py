# Long: a handler per event type, in the one class whose dispatch is checked whole.
"""The margin read models as plain rows, and how each event changes them.

`ReadModel.apply(event)` is deterministic and does no I/O: it updates the in-memory rows and
remembers which ones changed, so that the projector can write a whole batch of events in one
transaction. An event whose stream_version the contract has already applied is ignored:
redelivery is a no-op.

What is stored are facts (terms, rates and the date each took effect, who is assigned, what is
open) and the margin impact of each change at the moment it was recorded. Figures that depend
on the day they are asked for (remaining weeks, remaining gross profit, hours worked,
conversion fee due) are computed when read, as of any date, from the rate and terms history.
The rows themselves (one dataclass per table) are in `projections/rows.py`.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import singledispatchmethod
from typing import Generic, TypeVar

from events.alerts import Basis
from events.catalogue import (
    AccountManagerChanged,
    AssignmentEnded,
    AssignmentStarted,
    BypassThreatReported,
    ClientComplaintLogged,
    ClientContactLogged,
    ContractAmended,
    ContractSigned,
    ContractTerminated,
    EventBase,
    HoursReported,
    MarkupAgreed,
    MarkupNegotiationClosed,
    MarkupNegotiationOpened,
    MarkupProposed,
    RaiseApproved,
    RaiseDeclined,
    RaiseRequested,
    RatesAdjusted,
)
from events.dispatch import require_every_event_type, unhandled
from events.serialization import RatesChange
from projections import margin
from projections.rows import (
    PRICING_TERMS,
    AssignmentRow,
    Changes,
    ContractRow,
    HoursRow,
    ImpactRow,
    OpenItem,
    OpenKind,
    RateRow,
    StoredContract,
    Terms,
    TermsRow,
    terms_in_force,
)

# The rows are this model's interface (what `take_changes` gives and `install` takes): their
# importers may name them from here. They are defined once, in projections/rows.py.
__all__ = [
    "STREAM_ONLY",
    "AssignmentRow",
    "Changes",
    "ContractRow",
    "HoursRow",
    "ImpactRow",
    "OpenItem",
    "RateRow",
    "ReadModel",
    "StoredContract",
    "Terms",
    "TermsRow",
    "assignment_rates",
    "terms_in_force",
]

NO_OVERTIME: Mapping[str, Decimal | None] = {}
"""No OT or DT rate given: every one derived."""

K = TypeVar("K", bound=tuple[str, ...])


Applied = EventBase | RatesChange
"""What the model's helpers read of the event being applied: a decoded event, or a RatesChange
read from a RatesAdjusted's bytes (the same fields)."""


class _ByContract(Generic[K]):
    """The keys of one of the model's maps (keyed by contract id first), grouped by contract.

    Derived from the map, never stored: events of one contract then look at that contract's
    rows only, not at every row of the portfolio. It follows the map through `added` and
    `removed`, and is rebuilt from the map whenever the map was filled or replaced from
    elsewhere.
    """

    __slots__ = ("_keys", "_size", "_source")

    def __init__(self) -> None:
        self._source: object = None  # the map indexed (held, so that `is` cannot be fooled)
        self._size = -1  # its size when last in step; -1: rebuild before use
        self._keys: dict[str, dict[K, None]] = {}  # insertion-ordered sets

    def _in_step(self, source: Mapping[K, object], size: int) -> bool:
        return self._source is source and self._size == size

    def of(self, source: Mapping[K, object], contract_id: str) -> list[K]:
        """The keys of `source` of this contract, in the map's order."""
        if not self._in_step(source, len(source)):
            self._keys = {}
            for key in source:
                self._keys.setdefault(key[0], {})[key] = None
            self._source, self._size = source, len(source)
        return list(self._keys.get(contract_id, ()))

    def added(self, source: Mapping[K, object], key: K) -> None:
        """`source[key]` was just set."""
        keys = self._keys.get(key[0], {})
        if self._in_step(source, len(source)) and key in keys:
            return  # replaced in place
        if self._in_step(source, len(source) - 1) and key not in keys:
            self._keys.setdefault(key[0], {})[key] = None
            self._size += 1
        else:
            self._size = -1

    def removed(self, source: Mapping[K, object], key: K) -> None:
        """`source[key]` was just deleted."""
        keys = self._keys.get(key[0], {})
        if self._in_step(source, len(source) + 1) and key in keys:
            del keys[key]
            if not keys:  # a contract evicted from the cache leaves no empty set behind
                del self._keys[key[0]]
            self._size -= 1
        else:
            self._size = -1


@dataclass
class ReadModel:
    """The rows of the contracts it holds: all of them, or (in a projector) those of a bounded
    cache, each contract installed whole from its stored rows before its events are applied
    (`install`) and dropped whole (`evict`). Every event looks at its own contract's rows only.
    """

    contracts: dict[str, ContractRow] = field(default_factory=dict)
    assignments: dict[tuple[str, str], AssignmentRow] = field(default_factory=dict)
    # Rates in force by effective date, per assignment: a change's "before" is what was in force
    # on its effective date, which for a back-dated change is not the latest row.
    rate_history: dict[tuple[str, str], list[RateRow]] = field(default_factory=dict)
    open_items: dict[tuple[str, str, str], OpenItem] = field(default_factory=dict)
    # The pricing terms as signed and as amended, per contract: an impact is priced with the
    # terms in force on the day it counts from.
    terms_history: dict[str, list[TermsRow]] = field(default_factory=dict)
    changes: Changes = field(default_factory=Changes)
    _assignments_by_contract: _ByContract[tuple[str, str]] = field(
        default_factory=_ByContract, init=False, repr=False, compare=False
    )
    _open_items_by_contract: _ByContract[tuple[str, str, str]] = field(
        default_factory=_ByContract, init=False, repr=False, compare=False
    )
    _last_id: tuple[Applied, str] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    # The terms of each contract whose history is its signing alone (`_terms`).
    _signed_terms: dict[str, tuple[list[TermsRow], Terms]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def take_changes(self) -> Changes:
        done, self.changes = self.changes, Changes()
        return done

    # -- holding a bounded set of contracts -----------------------------------------------------

    def install(self, state: StoredContract) -> None:
        """Holds a contract the model does not hold, as its rows were stored."""
        cid = state.contract.contract_id
        if cid in self.contracts:
            raise ValueError(f"contract {cid} is held already")
        self.contracts[cid] = state.contract
        for row in state.assignments:
            key = (cid, row.assignment_id)
            self.assignments[key] = row
            self._assignments_by_contract.added(self.assignments, key)
        for rate in state.rates:
            self.rate_history.setdefault((cid, rate.assignment_id), []).append(rate)
        if state.terms:
            self.terms_history[cid] = list(state.terms)
        for item in state.open_items:
            key3 = (cid, item.kind, item.item_id)
            self.open_items[key3] = item
            self._open_items_by_contract.added(self.open_items, key3)

    def evict(self, contract_id: str) -> None:
        """Drops every row of the contract (none of its changes may be still untaken)."""
        if self.contracts.pop(contract_id, None) is None:
            return
        for key in self._assignments_by_contract.of(self.assignments, contract_id):
            del self.assignments[key]
            self._assignments_by_contract.removed(self.assignments, key)
            self.rate_history.pop(key, None)
        self.terms_history.pop(contract_id, None)
        self._signed_terms.pop(contract_id, None)
        for key3 in self._open_items_by_contract.of(self.open_items, contract_id):
            del self.open_items[key3]
            self._open_items_by_contract.removed(self.open_items, key3)

    def rows_of(self, contract_id: str) -> int:
        """How many rows the model holds of the contract: its weight in memory (its rate
        history, above all, grows with its history)."""
        if contract_id not in self.contracts:
            return 0
        keys = self._assignments_by_contract.of(self.assignments, contract_id)
        rates = sum(len(self.rate_history.get(key, ())) for key in keys)
        items = len(self._open_items_by_contract.of(self.open_items, contract_id))
        return 1 + len(keys) + rates + items + len(self.terms_history.get(contract_id, ()))

    # -- applying -------------------------------------------------------------------------------

    def apply(self, event: Applied, event_id: str | None = None) -> bool:
        """Apply one event from the log; False when its contract had already applied it.
        `event_id`: `str(event.event_id)`, when the caller has it at hand (a projector reads it
        from the log's bytes: `events.serialization.event_id_text`), not made again. A
        RatesChange (what a projector reads of a RatesAdjusted's bytes) is applied as the
        RatesAdjusted it was read from."""
        version = event.stream_version or 0
        contract = self.contracts.get(event.contract_id)
        if contract is None:
            if not isinstance(event, ContractSigned):
                return False  # the log starts every stream with ContractSigned
        elif version <= contract.stream_version:
            return False
        if event_id is not None:
            self._last_id = (event, event_id)
        kind = type(event)
        handler = _HANDLERS.get(kind)
        if handler is None:
            handler = _HANDLERS[kind] = _DISPATCH(kind)
        handler(self, event)
        row = self.contracts[event.contract_id]
        row.stream_version = version
        self.changes.contracts[row.contract_id] = row
        return True

    def move_on(self, contract_id: str, version: int) -> bool:
        """Applies an event of a `STREAM_ONLY` type known by its contract and stream version
        alone, exactly as `apply` would the whole event; False when the contract had applied
        it already, or is not held (a stream starts with ContractSigned)."""
        row = self.contracts.get(contract_id)
        if row is None or version <= row.stream_version:
            return False
        row.stream_version = version
        self.changes.contracts[contract_id] = row
        return True

    @singledispatchmethod
    def _apply(self, event: EventBase) -> None:
        """By event class: every type has its own (events.dispatch)."""
        unhandled("the read model", event)

    @_apply.register(ClientComplaintLogged)
    @_apply.register(ClientContactLogged)
    def _relationship(self, e: ClientComplaintLogged | ClientContactLogged) -> None:
        """Moves the stream on and changes no margin figure. Empty, and it must stay so: a
        projector applies these types with `move_on` (`STREAM_ONLY`), without this handler."""

    @_apply.register
    def _signed(self, e: ContractSigned) -> None:
        row = self.contracts[e.contract_id] = ContractRow(
            contract_id=e.contract_id,
            stream_version=e.stream_version or 0,
            client_id=e.client_id,
            account_manager_id=e.account_manager_id,
            status="active",
            **e.terms(),
        )
        signed = TermsRow.of(e.contract_id, e.start_date, e.stream_version or 0, "signed", row)
        self._record_terms(signed)

    @_apply.register
    def _amended(self, e: ContractAmended) -> None:
        row = self.contracts[e.contract_id]
        amended = e.amended_terms()
        for name, value in amended.items():
            setattr(row, name, value)  # the contract as last amended, whatever the dates
        if any(name in amended for name in PRICING_TERMS):
            version = e.stream_version or 0
            self._record_terms(TermsRow.of(e.contract_id, e.effective_date, version, "amended", e))

    @_apply.register
    def _account_manager_changed(self, e: AccountManagerChanged) -> None:
        # Scoped views follow the contract's current manager (whatever the effective date, as
        # for the terms): the new one sees it, with its history, and the previous one no longer.
        self.contracts[e.contract_id].account_manager_id = e.account_manager_id

    @_apply.register
    def _terminated(self, e: ContractTerminated) -> None:
        row = self.contracts[e.contract_id]
        row.status = "terminated"
        row.terminated_on = e.effective_date

    @_apply.register
    def _started(self, e: AssignmentStarted) -> None:
        key = (e.contract_id, e.assignment_id)
        row = AssignmentRow(
            contract_id=e.contract_id,
            assignment_id=e.assignment_id,
            stream_version=e.stream_version or 0,
            job_title=e.job_title,
            status="active",
            rates_effective=e.start_date,
            **e.terms(),
        )
        self.assignments[key] = row
        self._assignments_by_contract.added(self.assignments, key)
        self.changes.assignments[key] = row
        self._record_rates(row, e.start_date, e.pay_rate, e.bill_rate, e, e.overtime_rates())

    @_apply.register
    def _adjusted(self, e: RatesAdjusted | RatesChange) -> None:
        # Registered for both: a projector applies a RatesChange read from the bytes.
        self._change_rates(
            e, e.assignment_id, e.pay_rate, e.bill_rate, e.effective_date, e.overtime_rates()
        )

    @_apply.register
    def _ended(self, e: AssignmentEnded) -> None:
        row = self._assignment(e.contract_id, e.assignment_id)
        row.status, row.end_date, row.end_reason = "ended", e.end_date, e.reason
        self._touch(row, e)
        for key in self._open_items_by_contract.of(self.open_items, e.contract_id):
            if self.open_items[key].assignment_id == row.assignment_id:
                self._close(key)

    @_apply.register
    def _hours(self, e: HoursReported) -> None:
        key = (e.contract_id, e.assignment_id, e.week)
        earlier = self.changes.hours.get(key)
        self.changes.hours[key] = HoursRow(
            contract_id=e.contract_id,
            assignment_id=e.assignment_id,
            week=e.week,
            stream_version=e.stream_version or 0,
            regular_hours=e.regular_hours,
            ot_hours=e.ot_hours,
            dt_hours=e.dt_hours,
            source=e.source,
            event_id=self._id_text(e),
            reports=1 if earlier is None else earlier.reports + 1,
        )

    @_apply.register
    def _negotiation_opened(self, e: MarkupNegotiationOpened) -> None:
        self._open(e, "negotiation", e.negotiation_id, e.assignment_id)

    @_apply.register
    def _proposed(self, e: MarkupProposed) -> None:
        day = e.occurred_at.date()
        for row in self._negotiated(e.contract_id, e.negotiation_id):
            pay = self._in_force(row, day).pay_rate
            bill = margin.bill_rate_for_markup(pay, e.markup_pct)
            self._record_impact(row, e, pay, bill, day, "proposed")

    @_apply.register
    def _agreed(self, e: MarkupAgreed) -> None:
        for row in self._negotiated(e.contract_id, e.negotiation_id):
            in_force = self._in_force(row, e.effective_date)
            pay = in_force.pay_rate
            bill = margin.bill_rate_for_markup(pay, e.markup_pct)
            overtime: Mapping[str, Decimal | None] = NO_OVERTIME
            if e.ot_markup_pct is not None:
                # The OT pay in force stays; the OT bill is the one the OT markup gives.
                given = {"ot_pay_rate": in_force.ot_pay_rate}
                rates = self._rates(row, pay, bill, e.effective_date, given)
                agreed = margin.agreed_ot_rates(rates, e.ot_markup_pct)
                if agreed is not None:
                    overtime = {"ot_pay_rate": agreed[0], "ot_bill_rate": agreed[1]}
            self._change_rates(e, row.assignment_id, pay, bill, e.effective_date, overtime)
        self._close((e.contract_id, "negotiation", e.negotiation_id))

    @_apply.register
    def _negotiation_closed(self, e: MarkupNegotiationClosed) -> None:
        self._close((e.contract_id, "negotiation", e.negotiation_id))

    @_apply.register
    def _raise_requested(self, e: RaiseRequested) -> None:
        # Looked up first: an event that cannot be applied must leave nothing behind.
        row = self._assignment(e.contract_id, e.assignment_id)
        day = e.occurred_at.date()
        # "As asked": the client's budget when it names one, else the raise passed through at
        # today's markup: the markup of the rates in force on the day of the request, not of a
        # change recorded in advance to take effect later.
        if e.client_max_bill_rate is not None:
            bill = e.client_max_bill_rate
        else:
            today = self._in_force(row, day)
            markup = margin.markup_pct(self._rates(row, today.pay_rate, today.bill_rate, day))
            bill = margin.bill_rate_for_markup(e.requested_pay_rate, markup)
        self._record_impact(row, e, e.requested_pay_rate, bill, day, "proposed")
        self._open(e, "raise_request", e.raise_request_id, e.assignment_id)

    @_apply.register
    def _raise_approved(self, e: RaiseApproved) -> None:
        key = (e.contract_id, "raise_request", e.raise_request_id)
        item = self.open_items.get(key)
        if item is not None and item.assignment_id is not None:
            self._change_rates(
                e,
                item.assignment_id,
                e.new_pay_rate,
                e.new_bill_rate,
                e.effective_date,
                e.overtime_rates(),
            )
        self._close(key)

    @_apply.register
    def _raise_declined(self, e: RaiseDeclined) -> None:
        self._close((e.contract_id, "raise_request", e.raise_request_id))

    @_apply.register
    def _threat(self, e: BypassThreatReported) -> None:
        self._open(e, "bypass_threat", self._id_text(e), e.assignment_id)

    # -- helpers --------------------------------------------------------------------------------

    def _id_text(self, e: Applied) -> str:
        """The event's id as text, made once per event (an event records a rate and an impact,
        or one of each per assignment it covers)."""
        last = self._last_id
        if last is None or last[0] is not e:
            last = self._last_id = (e, str(e.event_id))
        return last[1]

    def _assignment(self, contract_id: str, assignment_id: str) -> AssignmentRow:
        return self.assignments[(contract_id, assignment_id)]

    def _touch(self, row: AssignmentRow, e: Applied) -> None:
        row.stream_version = e.stream_version or 0
        self.changes.assignments[(row.contract_id, row.assignment_id)] = row

    def _concerned(self, contract_id: str, assignment_id: str | None) -> list[AssignmentRow]:
        if assignment_id is not None:
            row = self.assignments.get((contract_id, assignment_id))
            return [row] if row is not None and row.status == "active" else []
        rows = (
            self.assignments[key]
            for key in self._assignments_by_contract.of(self.assignments, contract_id)
        )
        return [row for row in rows if row.status == "active"]

    def _negotiated(self, contract_id: str, negotiation_id: str) -> list[AssignmentRow]:
        """The active assignments an open negotiation covers.

        A negotiation that is not open covers none. Besides MarkupAgreed and
        MarkupNegotiationClosed, the end of its one assignment closes it here, while the writer
        still takes proposals and an agreement on it: those must not be read as contract-wide.
        """
        item = self.open_items.get((contract_id, "negotiation", negotiation_id))
        if item is None:
            return []
        return self._concerned(contract_id, item.assignment_id)

    def _rates(
        self,
        row: AssignmentRow,
        pay: Decimal,
        bill: Decimal,
        on: date,
        overtime: Mapping[str, Decimal | None] = NO_OVERTIME,
    ) -> margin.Rates:
        return assignment_rates(row, pay, bill, self._terms(row.contract_id, on), overtime)

    def _in_force(self, row: AssignmentRow, on: date) -> RateRow:
        history = self.rate_history[(row.contract_id, row.assignment_id)]
        # Sorted by (effective_date, stream_version): the last in effect by `on`, else the
        # first. A bisection, not a scan: a long assignment's history has hundreds of rows.
        at = bisect.bisect_right(history, on, key=_effective_date)
        return history[at - 1] if at else history[0]

    def _change_rates(
        self,
        e: Applied,
        assignment_id: str,
        pay: Decimal,
        bill: Decimal,
        effective: date,
        overtime: Mapping[str, Decimal | None] = NO_OVERTIME,
    ) -> None:
        row = self._assignment(e.contract_id, assignment_id)
        self._record_impact(row, e, pay, bill, effective, "applied", overtime)
        self._record_rates(row, effective, pay, bill, e, overtime)
        self._touch(row, e)

    def _record_rates(
        self,
        row: AssignmentRow,
        effective: date,
        pay: Decimal,
        bill: Decimal,
        e: Applied,
        overtime: Mapping[str, Decimal | None] = NO_OVERTIME,
    ) -> None:
        rate = RateRow(
            contract_id=row.contract_id,
            assignment_id=row.assignment_id,
            effective_date=effective,
            stream_version=e.stream_version or 0,
            pay_rate=pay,
            bill_rate=bill,
            event_id=self._id_text(e),
            **overtime,
        )
        history = self.rate_history.setdefault((row.contract_id, row.assignment_id), [])
        bisect.insort(history, rate, key=_in_force_order)
        latest = history[-1]
        row.pay_rate, row.bill_rate, row.rates_effective = (
            latest.pay_rate,
            latest.bill_rate,
            latest.effective_date,
        )
        self.changes.rates.append(rate)

    def _record_impact(
        self,
        row: AssignmentRow,
        e: Applied,
        pay: Decimal,
        bill: Decimal,
        counted_from: date,
        basis: Basis,
        overtime: Mapping[str, Decimal | None] = NO_OVERTIME,
    ) -> None:
        before = self._in_force(row, counted_from)
        terms = self._terms(row.contract_id, counted_from)
        # `margin.ot_rates` of both sides' `assignment_rates`, without building four Rates.
        multiplier, exempt = terms.ot_bill_multiplier, row.ot_exempt
        before_ot = margin.ot_pay_bill(
            before.pay_rate,
            before.bill_rate,
            before.ot_pay_rate,
            before.ot_bill_rate,
            multiplier,
            exempt,
        )
        after_ot = margin.ot_pay_bill(
            pay,
            bill,
            overtime.get("ot_pay_rate"),
            overtime.get("ot_bill_rate"),
            multiplier,
            exempt,
        )
        self.changes.impacts.append(
            ImpactRow(
                event_id=self._id_text(e),
                assignment_id=row.assignment_id,
                contract_id=row.contract_id,
                stream_version=e.stream_version or 0,
                event_type=e.type,
                basis=basis,
                counted_from=counted_from,
                occurred_at=e.occurred_at,
                before_pay_rate=before.pay_rate,
                before_bill_rate=before.bill_rate,
                after_pay_rate=pay,
                after_bill_rate=bill,
                burden_pct=row.burden_pct if row.burden_pct is not None else terms.burden_pct,
                msp_fee_pct=terms.msp_fee_pct,
                hours_per_week=row.hours_per_week,
                start_date=row.start_date,
                expected_end_date=row.expected_end_date,
                planned_ot_hours_per_week=row.planned_ot_hours_per_week,
                ot_exempt=row.ot_exempt,
                before_ot_pay_rate=before_ot[0] if before_ot else None,
                before_ot_bill_rate=before_ot[1] if before_ot else None,
                after_ot_pay_rate=after_ot[0] if after_ot else None,
                after_ot_bill_rate=after_ot[1] if after_ot else None,
            )
        )

    def _record_terms(self, terms: TermsRow) -> None:
        self.terms_history.setdefault(terms.contract_id, []).append(terms)
        self.changes.terms.append(terms)

    def _terms(self, contract_id: str, on: date) -> Terms:
        history = self.terms_history.get(contract_id, ())
        if len(history) == 1:
            # As signed and never amended (most contracts): the same terms on every date,
            # folded once. Held with the history itself, so a replaced history is never fooled.
            held = self._signed_terms.get(contract_id)
            if held is not None and held[0] is history:
                return held[1]
        terms = terms_in_force(history, on)
        if len(history) == 1 and terms is not None and isinstance(history, list):
            self._signed_terms[contract_id] = (history, terms)
        if terms is None:  # never: every stream starts with ContractSigned
            raise LookupError(f"contract {contract_id} has no signed terms")
        return terms

    def _open(self, e: Applied, kind: OpenKind, item_id: str, assignment_id: str | None) -> None:
        key = (e.contract_id, kind, item_id)
        item = OpenItem(e.contract_id, kind, item_id, assignment_id, e.stream_version or 0)
        self.open_items[key] = item
        self._open_items_by_contract.added(self.open_items, key)
        self.changes.opened[key] = item
        self.changes.closed.discard(key)

    def _close(self, key: tuple[str, str, str]) -> None:
        if self.open_items.pop(key, None) is not None:
            self._open_items_by_contract.removed(self.open_items, key)
            self.changes.opened.pop(key, None)
            self.changes.closed.add(key)


def assignment_rates(
    row: AssignmentRow,
    pay: Decimal,
    bill: Decimal,
    terms: Terms,
    overtime: Mapping[str, Decimal | None] = NO_OVERTIME,
) -> margin.Rates:
    """The assignment's rates priced with the contract's `terms` (of the day they count on):
    its own burden, else the contract's; the OT and DT rates given in `overtime`, the others
    derived with the contract's multipliers."""
    return margin.Rates(
        pay_rate=pay,
        bill_rate=bill,
        burden_pct=row.burden_pct if row.burden_pct is not None else terms.burden_pct,
        msp_fee_pct=terms.msp_fee_pct,
        hours_per_week=row.hours_per_week,
        ot_bill_multiplier=terms.ot_bill_multiplier,
        dt_bill_multiplier=terms.dt_bill_multiplier,
        planned_ot_hours_per_week=row.planned_ot_hours_per_week,
        ot_exempt=row.ot_exempt,
        **overtime,
    )


def _effective_date(r: RateRow) -> date:
    return r.effective_date


def _in_force_order(r: RateRow) -> tuple[date, int]:
    return (r.effective_date, r.stream_version)


# singledispatchmethod builds a new bound function on every call (Python 3.11): dispatching
# once per event class directly is a tenth of the cost, on the hottest path of a replay.
_DISPATCH = ReadModel.__dict__["_apply"].dispatcher.dispatch
# ... and its answer kept per class: functools' own cache is a weak dictionary, slower to ask.
_HANDLERS: dict[type, Callable[[ReadModel, Applied], None]] = {}
require_every_event_type("the read model", ReadModel.__dict__["_apply"].dispatcher.registry)
STREAM_ONLY: frozenset[str] = frozenset(
    kind.__name__
    for kind, handler in ReadModel.__dict__["_apply"].dispatcher.registry.items()
    if handler is ReadModel.__dict__["_relationship"]
)
"""The event types that change nothing but their contract's stream version (`_relationship`):
`move_on` applies one of them from its contract and version alone, without its other fields."""
