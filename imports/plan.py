"""Placements (and exported events) turned into the catalogue's events, in an order the
writer accepts: a contract is signed before its first assignment starts, a placement's later
rate rows become RatesAdjusted, and an ended placement's AssignmentEnded comes once the whole
file has been read (its last row says whether it ended).

The planner is a fold over the file's rows: it keeps, per placement, only what the next row of
that placement is checked against (a few fields, not the row), so memory grows with the number
of placements and contracts, not with the file. Every event's id is derived from the source
record (`ids.event_id`): the same file planned twice gives the same events.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import ROUND_DOWN, Decimal
from typing import Any, Final

from pydantic import ValidationError

from events.catalogue import (
    AssignmentEnded,
    AssignmentEndReason,
    AssignmentStarted,
    ContractSigned,
    Event,
    RatesAdjusted,
)
from events.errors import EventValidationError
from events.serialization import decode_event
from imports.ids import event_id, safe_id
from imports.mapping import ImportMapping
from imports.placements import Columns, Placement
from imports.problems import Problem
from projections.margin import OT_PAY_MULTIPLIER, Rates, markup_pct, round_money

RATE_CHANGE_REASON: Final = "rate change imported from {source}"


@dataclass(frozen=True, slots=True)
class Planned:
    """One event to submit, with the line it comes from and, for a refusal naming a field,
    the column that field was read from."""

    line: int
    event: Event
    columns: Mapping[str, str]
    expected_stream_version: int | None = None

    def column_of(self, field: str | None) -> str:
        return self.columns.get(field or "", field or "")


@dataclass(slots=True)
class _Contract:
    client: str
    contract_id: str
    floor_pct: Decimal
    line: int


@dataclass(slots=True)
class _Placed:
    """What the next row of a placement is checked against (kept packed: `_PACKED`)."""

    contract: int
    """Its index in the planner's contracts."""
    line: int
    effective: date
    pay_units: int
    """The rates in 1/10,000ths (a catalogue rate has at most 4 decimal places)."""
    bill_units: int
    content: int
    ot_pay_units: int = -2
    """The OT rates a row gave, as the pay and bill (-2: none given, derived)."""
    ot_bill_units: int = -2
    end: tuple[int, date, int] | None = None
    """(line, end date, the index of the source's reason) when its latest row says it ended."""


# One placement's state in 70 bytes, not a few hundred in objects: a book of 50,000
# placements is held in a few MiB (bench/RESULTS.md, the import's peak memory).
_PACKED: Final = struct.Struct("<IIiqqqqqIiI")
_END_LINE: Final = 8  # the index of the end's line in the packed tuple
_NO_END: Final = (0, 0, 0)


def _pack(x: _Placed) -> bytes:
    end = (x.end[0], x.end[1].toordinal(), x.end[2]) if x.end else _NO_END
    return _PACKED.pack(
        x.contract,
        x.line,
        x.effective.toordinal(),
        x.pay_units,
        x.bill_units,
        x.content,
        x.ot_pay_units,
        x.ot_bill_units,
        *end,
    )


def _unpack(b: bytes) -> _Placed:
    contract, line, effective, pay, bill, content, ot_pay, ot_bill, end_line, end_day, why = (
        _PACKED.unpack(b)
    )
    end = (end_line, date.fromordinal(end_day), why) if end_line else None
    return _Placed(
        contract, line, date.fromordinal(effective), pay, bill, content, ot_pay, ot_bill, end
    )


def _units(rate: Decimal) -> int:
    """A rate in 1/10,000ths; -1 when it has more places than a rate may (never equal to a
    stored rate: the event refuses it and says why)."""
    units = rate.scaleb(4)
    return int(units) if units == units.to_integral_value() else -1


def occurred(on: date, as_of: date) -> datetime:
    """An imported fact's time: midnight UTC of its date, never after `as_of` (the service
    refuses an occurred_at in the future; a future start is recorded as of the import)."""
    return datetime.combine(min(on, as_of), time(0), UTC)


def overtime_fields(p: Placement) -> dict[str, Any]:
    """A placement's overtime as AssignmentStarted v2 takes it: the OT pay and bill rates the
    source gives (0 is "none", as Bullhorn writes it), an OT bill from the OT markup when only
    that is given (on the OT pay given, else the 1.5x DESIGN derives), or the exemption alone.
    What the source leaves out is derived from the contract's multipliers, as for any
    placement."""
    ot = p.overtime
    if ot is None:
        return {}
    if ot.exempt:  # no overtime at all: rates a source still carries are not the staffer's
        return {"ot_exempt": True}
    pay = ot.pay_rate if ot.pay_rate else None
    bill = ot.bill_rate if ot.bill_rate else None
    if bill is None and ot.markup_pct is not None:
        base = pay if pay is not None else p.pay_rate * OT_PAY_MULTIPLIER
        bill = round_money(base * (1 + ot.markup_pct / 100))
    out: dict[str, Any] = {}
    if pay is not None:
        out["ot_pay_rate"] = pay
    if bill is not None:
        out["ot_bill_rate"] = bill
    return out


_NO_OT: Final = -2


def _ot_units(fields: Mapping[str, Any]) -> tuple[int, int]:
    """The OT pay and bill rates of `overtime_fields` in 1/10,000ths (-2: none given)."""
    pay, bill = fields.get("ot_pay_rate"), fields.get("ot_bill_rate")
    return (
        _units(pay) if pay is not None else _NO_OT,
        _units(bill) if bill is not None else _NO_OT,
    )


def rate_change_overtime(p: Placement) -> dict[str, Any]:
    """The OT rates a later rate row carries into its RatesAdjusted (v2): those the row gives
    (as `overtime_fields` reads them); an exemption is the assignment's, not a rate's, and is
    not changed by a rate row."""
    return {k: v for k, v in overtime_fields(p).items() if k in ("ot_pay_rate", "ot_bill_rate")}


class Planner:
    """Rows of one file, in file order, into events (`placement`, then `finish`)."""

    def __init__(self, mapping: ImportMapping, source: str, columns: Columns, as_of: date) -> None:
        self.mapping = mapping
        self.source = source
        self.cols = columns
        self.as_of = as_of
        self.contracts: dict[str, int] = {}  # the client's value in the file -> its index
        self.contract_list: list[_Contract] = []
        self.placed: dict[str, bytes] = {}  # placement id -> its _Placed, packed
        self.reasons: dict[str | None, int] = {None: 0}  # the source's end reasons, numbered
        self.refused: dict[str, int] = {}  # placement id -> the line of its refused first row
        self.field_columns: Mapping[str, str] = {
            k: v
            for k, v in {
                "contract_id": columns.client,
                "client_id": columns.client,
                "client_name": columns.client_name or columns.client,
                "account_manager_id": columns.account_manager or columns.client,
                "assignment_id": columns.placement_id,
                "event_id": columns.placement_id,
                "staffer_id": columns.staffer_id or columns.staffer_name,
                "staffer_name": columns.staffer_name,
                "job_title": columns.job_title or columns.job_order,
                "pay_rate": columns.pay_rate,
                "bill_rate": columns.bill_rate or columns.markup_pct,
                "hours_per_week": columns.hours_per_week or columns.hours_per_day,
                "start_date": columns.start_date,
                "expected_end_date": columns.end_date,
                "end_date": columns.end_date,
                "effective_date": columns.effective_date,
                "reason": columns.end_reason or columns.status,
                "ot_pay_rate": columns.ot_pay_rate,
                "ot_bill_rate": columns.ot_bill_rate or columns.ot_markup_pct,
                "ot_exempt": columns.ot_exempt,
            }.items()
            if v is not None
        }

    # -- rows --------------------------------------------------------------------------------

    def refuse(self, placement_id: str | None, line: int) -> None:
        """A row of this placement was refused: a later row of a placement never started is
        refused too, rather than taken for its start."""
        if placement_id and placement_id not in self.placed:
            self.refused.setdefault(placement_id, line)

    def placement(self, p: Placement) -> tuple[list[Planned], list[Problem]]:
        """The events of one row, and what is wrong with it (an error: no events)."""
        packed = self.placed.get(p.placement_id)
        if packed is not None:
            return self._later_row(p, _unpack(packed))
        first = self.refused.get(p.placement_id)
        if first is not None:
            return [], [
                self._error(
                    p,
                    self.cols.placement_id,
                    f"placement {p.placement_id}'s first row "
                    f"(line {first}) was refused; fix it and import again",
                )
            ]
        out: list[Planned] = []
        problems: list[Problem] = []
        index = self.contracts.get(p.client)
        if index is None:
            signed = self._sign(p)
            if isinstance(signed, Problem):
                self.refuse(p.placement_id, p.line)
                return [], [signed]
            index, event = signed
            out.append(event)
        contract = self.contract_list[index]
        assignment_id = safe_id(p.placement_id)
        try:
            started = AssignmentStarted(
                event_id=event_id(self.source, f"placement:{p.placement_id}", "AssignmentStarted"),
                contract_id=contract.contract_id,
                occurred_at=occurred(p.start_date, self.as_of),
                assignment_id=assignment_id,
                staffer_id=safe_id(p.staffer_id),
                staffer_name=p.staffer_name,
                job_title=p.job_title,
                pay_rate=p.pay_rate,
                bill_rate=p.bill_rate,
                hours_per_week=p.hours_per_week,
                start_date=p.start_date,
                expected_end_date=p.end_date,
                **overtime_fields(p),
            )
        except ValidationError as exc:
            self.refuse(p.placement_id, p.line)
            return [], self._invalid(p.line, exc)
        out.append(Planned(p.line, started, self.field_columns))
        problems += self._below_floor(p, contract)
        ot_pay, ot_bill = _ot_units(rate_change_overtime(p))
        self.placed[p.placement_id] = _pack(
            _Placed(
                index,
                p.line,
                max(p.start_date, p.effective_date or p.start_date),
                _units(p.pay_rate),
                _units(p.bill_rate),
                _content(p),
                ot_pay,
                ot_bill,
                self._end(p),
            )
        )
        return out, problems

    def _end(self, p: Placement) -> tuple[int, date, int] | None:
        if not p.ended:
            return None
        return (p.line, p.end_date, self.reasons.setdefault(p.end_reason, len(self.reasons)))

    def _later_row(self, p: Placement, placed: _Placed) -> tuple[list[Planned], list[Problem]]:
        contract = self.contract_list[placed.contract]
        if p.client != contract.client:
            return [], [
                self._error(
                    p,
                    self.cols.client,
                    f"placement {p.placement_id} is on client "
                    f"{contract.client!r} (line {placed.line}), not {p.client!r}",
                )
            ]
        if _content(p) == placed.content:
            return [], [Problem(p.line, "", f"duplicate of line {placed.line}: skipped", "warning")]
        column = self.cols.effective_date or ""
        if p.effective_date is None or p.effective_date <= placed.effective:
            given = p.effective_date.isoformat() if p.effective_date else "none"
            return [], [
                self._error(
                    p,
                    column,
                    f"placement {p.placement_id} was already read at line "
                    f"{placed.line} (in effect {placed.effective}); a later row of it "
                    f"needs a later {column or 'effective date'} (this one: {given})",
                )
            ]
        out: list[Planned] = []
        problems: list[Problem] = []
        pay, bill = _units(p.pay_rate), _units(p.bill_rate)
        overtime = rate_change_overtime(p)
        ot_pay, ot_bill = _ot_units(overtime)
        before = (placed.pay_units, placed.bill_units, placed.ot_pay_units, placed.ot_bill_units)
        if (pay, bill, ot_pay, ot_bill) != before:
            record = f"placement:{p.placement_id}@{p.effective_date.isoformat()}"
            try:
                adjusted = RatesAdjusted(
                    event_id=event_id(self.source, record, "RatesAdjusted"),
                    contract_id=contract.contract_id,
                    occurred_at=occurred(p.effective_date, self.as_of),
                    assignment_id=safe_id(p.placement_id),
                    pay_rate=p.pay_rate,
                    bill_rate=p.bill_rate,
                    effective_date=p.effective_date,
                    reason=RATE_CHANGE_REASON.format(source=self.source),
                    **overtime,
                )
            except ValidationError as exc:
                return [], self._invalid(p.line, exc)
            out.append(Planned(p.line, adjusted, self.field_columns))
            problems += self._below_floor(p, contract)
        placed.line = p.line
        placed.effective = p.effective_date
        placed.pay_units, placed.bill_units = pay, bill
        placed.ot_pay_units, placed.ot_bill_units = ot_pay, ot_bill
        placed.content = _content(p)
        placed.end = self._end(p)
        self.placed[p.placement_id] = _pack(placed)
        return out, problems

    def finish(self) -> Iterator[Planned]:
        """The AssignmentEnded of every placement whose last row says it ended, in the order
        of those rows: made one at a time (a book's ends are many)."""
        reasons = {n: reason for reason, n in self.reasons.items()}
        ends = sorted(
            (end_line, pid)
            for pid, packed in self.placed.items()
            if (end_line := _PACKED.unpack_from(packed)[_END_LINE])
        )
        for line, pid in ends:
            placed = _unpack(self.placed[pid])
            assert placed.end is not None
            _, end_date, why = placed.end
            event = AssignmentEnded(
                event_id=event_id(self.source, f"placement:{pid}", "AssignmentEnded"),
                contract_id=self.contract_list[placed.contract].contract_id,
                occurred_at=occurred(end_date, self.as_of),
                assignment_id=safe_id(pid),
                end_date=end_date,
                reason=self.end_reason(reasons[why]),
            )
            yield Planned(line, event, self.field_columns)

    def end_reason(self, said: str | None) -> AssignmentEndReason:
        """The catalogue's reason for the source's word: the mapping's, else completed (or
        ended_early_by_client for a termination)."""
        for word, reason in self.mapping.end_reasons.items():
            if said is not None and word.casefold() == said.casefold():
                return reason
        if said is not None and "terminat" in said.casefold():
            return "ended_early_by_client"
        return "completed"

    # -- contracts ---------------------------------------------------------------------------

    def _sign(self, p: Placement) -> tuple[int, Planned] | Problem:
        client = self.mapping.client(p.client)
        if client is None:
            return self._error(p, self.cols.client, f"client {p.client!r} is not in the mapping's "
                               "clients, and the mapping has no default_terms for it")  # fmt: skip
        manager = client.account_manager or p.account_manager_id or self.mapping.account_manager
        if manager is None:
            return self._error(p, self.cols.account_manager or self.cols.client,
                               f"no account manager for client {p.client!r}: give "
                               f"clients.{p.client}.account_manager, account_manager or "
                               "account_manager_column in the mapping")  # fmt: skip
        terms = self.mapping.terms_of(client)
        contract_id = client.contract_id or safe_id(p.client, "C-")
        start = terms.start_date or p.start_date
        fields: dict[str, Any] = terms.model_dump(exclude={"start_date"}, exclude_none=True)
        try:
            signed = ContractSigned(
                event_id=event_id(self.source, f"client:{p.client}", "ContractSigned"),
                contract_id=contract_id,
                occurred_at=occurred(start, self.as_of),
                client_id=safe_id(p.client),
                client_name=client.name or p.client_name,
                account_manager_id=safe_id(manager),
                start_date=start,
                **fields,
            )
        except ValidationError as exc:
            return self._invalid(p.line, exc)[0]
        index = len(self.contract_list)
        self.contract_list.append(_Contract(p.client, contract_id, terms.markup_floor_pct, p.line))
        self.contracts[p.client] = index
        return index, Planned(p.line, signed, self.field_columns)

    # -- problems ----------------------------------------------------------------------------

    def _below_floor(self, p: Placement, contract: _Contract) -> list[Problem]:
        markup = markup_pct(
            Rates(pay_rate=p.pay_rate, bill_rate=p.bill_rate, burden_pct=Decimal(0))
        )
        if markup >= contract.floor_pct:
            return []
        column = self.cols.bill_rate or self.cols.markup_pct or ""
        return [
            Problem(
                p.line,
                column,
                f"markup {markup.quantize(Decimal('0.01'), ROUND_DOWN)} % is below the "
                f"contract's floor of {contract.floor_pct} %",
                "warning",
            )
        ]

    def _error(self, p: Placement, column: str, reason: str) -> Problem:
        return Problem(p.line, column, reason)

    def _invalid(self, line: int, exc: ValidationError) -> list[Problem]:
        out = []
        for err in EventValidationError.from_pydantic(exc).errors:
            field = err["field"]
            out.append(Problem(line, self.field_columns.get(field, field), err["reason"]))
        return out


def _content(p: Placement) -> int:
    """A row's content without its line: equal for a duplicated row."""
    return hash(tuple(getattr(p, f) for f in p.__slots__ if f != "line"))


def plan_event_line(line: int, text: str) -> Planned | Problem:
    """One line of an export: the event as it was logged (stamps kept), submitted expecting its
    stream at the version before it, so that it lands at the same stream version or not at
    all."""
    try:
        event = decode_event(text)
    except EventValidationError as exc:
        first = exc.errors[0]["field"]
        return Problem(line, first, "; ".join(f"{e['field']}: {e['reason']}" for e in exc.errors))
    version = event.stream_version
    expected = version - 1 if version is not None else None
    return Planned(line, event.model_copy(update={"stream_version": None}), {}, expected)


__all__ = ["Planned", "Planner", "occurred", "plan_event_line", "rate_change_overtime"]
