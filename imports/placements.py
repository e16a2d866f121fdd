"""One row of a placements CSV (Bullhorn-shaped or the generic one) read as a `Placement`.

Each format names its columns once (`columns_for`); the row is then read the same way for
both. A cell that cannot be read is a Problem naming the row's line, the column and why; the
row is then refused whole (nothing of it is imported). Overtime columns are read and checked
now, though the catalogue has no field for them yet (the importer says so once per file).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Final, TypeVar

from imports.mapping import ImportMapping
from imports.problems import FileRefused, Problem
from imports.reading import Format, Row
from imports.values import BadValue, parse_date, parse_decimal, parse_flag
from projections.margin import Rates, bill_rate_for_markup, markup_pct

T = TypeVar("T")

OPEN_ENDED_WEEKS: Final = 52
"""An assignment without an end date is expected to run this long (said as a warning)."""
CENT: Final = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Overtime:
    """What a row says of overtime: the source's rates, markup and exemption."""

    pay_rate: Decimal | None
    bill_rate: Decimal | None
    markup_pct: Decimal | None
    exempt: bool | None


@dataclass(frozen=True, slots=True)
class Placement:
    line: int
    placement_id: str
    client: str
    """The client's value in the file (the mapping's `clients` keys are these)."""
    client_name: str
    account_manager_id: str | None
    staffer_id: str
    staffer_name: str | None
    job_title: str
    pay_rate: Decimal
    bill_rate: Decimal
    bill_from_markup: bool
    hours_per_week: Decimal
    start_date: date
    end_date: date
    effective_date: date | None
    ended: bool
    end_reason: str | None
    """The source's word for why it ended (its status or termination reason)."""
    overtime: Overtime | None

    def same_as(self, other: Placement) -> bool:
        """Everything but the line is equal: a duplicated row."""
        return all(getattr(self, f) == getattr(other, f) for f in self.__slots__ if f != "line")


@dataclass(frozen=True)
class Columns:
    """Which column holds each field (None: the file has none)."""

    placement_id: str
    client: str
    client_name: str | None
    account_manager: str | None
    staffer_id: str | None
    staffer_name: str | None
    staffer_first: str | None
    staffer_last: str | None
    job_title: str | None
    job_order: str | None
    pay_rate: str
    bill_rate: str | None
    markup_pct: str | None
    hours_per_week: str | None
    hours_per_day: str | None
    start_date: str
    end_date: str | None
    effective_date: str | None
    status: str | None
    end_reason: str | None
    employment_type: str | None
    ot_pay_rate: str | None
    ot_bill_rate: str | None
    ot_markup_pct: str | None
    ot_exempt: str | None

    def overtime_columns(self) -> list[str]:
        cols = (self.ot_pay_rate, self.ot_bill_rate, self.ot_markup_pct, self.ot_exempt)
        return [c for c in cols if c is not None]


# Where Bullhorn exports put each field, in order of preference.
_BULLHORN: Final = {
    "placement_id": ("id", "externalID", "customText1"),
    "client": ("clientCorporation.externalID", "clientCorporation.name", "clientCorporation.id"),
    "client_name": ("clientCorporation.name",),
    "staffer_id": ("candidate.externalID", "candidate.id"),
    "staffer_name": ("candidate.name",),
    "staffer_first": ("candidate.firstName",),
    "staffer_last": ("candidate.lastName",),
    "job_title": ("jobOrder.title", "title"),
    "job_order": ("jobOrder.externalID", "jobOrder.id"),
    "pay_rate": ("payRate",),
    "bill_rate": ("clientBillRate",),
    "markup_pct": ("markUpPercentage",),
    "hours_per_day": ("hoursPerDay",),
    "start_date": ("dateBegin",),
    "end_date": ("dateEnd",),
    "effective_date": ("dateEffective",),
    "status": ("status",),
    "end_reason": ("terminationReason",),
    "employment_type": ("employmentType",),
    "ot_pay_rate": ("overtimeRate",),
    "ot_bill_rate": ("clientOvertimeRate",),
    "ot_markup_pct": ("overtimeMarkUpPercentage",),
    "ot_exempt": ("otExemption",),
    "account_manager": ("owner.externalID",),
}

# The generic placements CSV (docs/import.md): one name per field.
_GENERIC: Final = {
    "placement_id": ("placement_id",),
    "client": ("client",),
    "client_name": ("client_name",),
    "account_manager": ("account_manager_id",),
    "staffer_id": ("staffer_id",),
    "staffer_name": ("staffer_name",),
    "job_title": ("job_title",),
    "pay_rate": ("pay_rate",),
    "bill_rate": ("bill_rate",),
    "markup_pct": ("markup_pct",),
    "hours_per_week": ("hours_per_week",),
    "start_date": ("start_date",),
    "end_date": ("end_date",),
    "effective_date": ("effective_date",),
    "status": ("status",),
    "end_reason": ("end_reason",),
    "employment_type": ("employment_type",),
    "ot_pay_rate": ("ot_pay_rate",),
    "ot_bill_rate": ("ot_bill_rate",),
    "ot_markup_pct": ("ot_markup_pct",),
    "ot_exempt": ("ot_exempt",),
}

_REQUIRED: Final = ("placement_id", "client", "pay_rate", "start_date")


def columns_for(format: Format, header: list[str], mapping: ImportMapping) -> Columns:
    """The columns of a CSV of `format` with this header; FileRefused names a required one
    that is missing (with the columns that would do)."""
    known = _BULLHORN if format == "bullhorn" else _GENERIC
    present = set(header)
    chosen: dict[str, str | None] = {}
    for name in Columns.__dataclass_fields__:
        candidates = known.get(name, ())
        chosen[name] = next((c for c in candidates if c in present), None)
    overrides = {
        "client": "client_column",
        "placement_id": "placement_id_column",
        "account_manager": "account_manager_column",
        "job_title": "job_title_column",
    }
    chosen.update(mapping.columns_named(overrides, present))
    for name in _REQUIRED:
        if chosen[name] is None:
            options = " or ".join(known.get(name, ()))
            hint = f" (name it with the mapping's {name}_column)" if name in overrides else ""
            raise FileRefused(Problem(1, options, f"required column missing: {options}{hint}"))
    if chosen["bill_rate"] is None and chosen["markup_pct"] is None:
        options = " or ".join(known["bill_rate"] + known["markup_pct"])
        raise FileRefused(Problem(1, options, f"required column missing: {options}"))
    if chosen["staffer_id"] is None and chosen["staffer_name"] is None:
        options = " or ".join(known["staffer_id"] + known.get("staffer_name", ()))
        raise FileRefused(Problem(1, options, f"required column missing: {options}"))
    return Columns(**chosen)  # type: ignore[arg-type]


class _Cells:
    """A row's cells read one column at a time, collecting every problem of the row."""

    def __init__(self, row: Row) -> None:
        self.row = row
        self.problems: list[Problem] = []

    def text(self, column: str | None) -> str | None:
        if column is None:
            return None
        value = self.row.cells.get(column, "").strip()
        return value or None

    def required(self, column: str, what: str) -> str | None:
        value = self.text(column)
        if value is None:
            self.problems.append(Problem(self.row.line, column, f"empty: the {what} is required"))
        return value

    def read(self, column: str | None, parse: Callable[[str], T]) -> T | None:
        value = self.text(column)
        if value is None or column is None:
            return None
        try:
            return parse(value)
        except BadValue as exc:
            self.problems.append(Problem(self.row.line, column, str(exc)))
            return None

    def warn(self, column: str, reason: str) -> None:
        self.problems.append(Problem(self.row.line, column, reason, "warning"))

    def refuse(self, column: str, reason: str) -> None:
        self.problems.append(Problem(self.row.line, column, reason))


def read_placement(
    row: Row, cols: Columns, mapping: ImportMapping
) -> tuple[Placement | None, list[Problem]]:
    """The placement a row says, with the problems found (errors: None, the row refused; a
    row of an employment type the mapping skips: None with a warning)."""
    c = _Cells(row)
    kind = c.text(cols.employment_type)
    if kind is not None and kind.casefold() in {
        k.casefold() for k in mapping.skip_employment_types
    }:
        assert cols.employment_type is not None
        c.warn(cols.employment_type, f"employment type {kind!r} has no hourly margin: skipped")
        return None, c.problems

    placement_id = c.required(cols.placement_id, "placement's id")
    client = c.required(cols.client, "client")
    staffer_id = c.text(cols.staffer_id)
    staffer_name = c.text(cols.staffer_name)
    if staffer_name is None and (cols.staffer_first or cols.staffer_last):
        staffer_name = (
            " ".join(p for p in (c.text(cols.staffer_first), c.text(cols.staffer_last)) if p)
            or None
        )
    if staffer_id is None and staffer_name is None:
        c.refuse(cols.staffer_id or cols.staffer_name or "", "empty: the staffer is required")
    job_title = c.text(cols.job_title) or c.text(cols.job_order) or "Placement"

    pay = c.read(cols.pay_rate, parse_decimal)
    if pay is None and c.text(cols.pay_rate) is None:
        c.refuse(cols.pay_rate, "empty: the pay rate is required")
    bill = c.read(cols.bill_rate, parse_decimal)
    markup = c.read(cols.markup_pct, parse_decimal)
    if pay is not None and pay <= 0:
        c.refuse(cols.pay_rate, f"pay rate {pay} must be more than 0")
        pay = None
    bill_from_markup = False
    if bill is not None and bill <= 0:
        c.refuse(cols.bill_rate or "", f"bill rate {bill} must be more than 0")
        bill = None
    elif bill is None and markup is not None and pay is not None:
        bill = bill_rate_for_markup(pay, markup)
        bill_from_markup = True
        c.warn(cols.markup_pct or "", f"bill rate {bill} computed from markup {markup} %")
    elif bill is None and c.text(cols.bill_rate) is None and c.text(cols.markup_pct) is None:
        c.refuse(
            cols.bill_rate or cols.markup_pct or "", "empty: a bill rate or markup is required"
        )
    if bill is not None and markup is not None and pay is not None and not bill_from_markup:
        actual = markup_pct(Rates(pay_rate=pay, bill_rate=bill, burden_pct=Decimal(0)))
        if abs(actual - markup) > CENT:
            c.warn(
                cols.markup_pct or "",
                f"markup {markup} % disagrees with the rates ({actual.quantize(CENT)} %): "
                "the bill rate is kept",
            )
    if bill is not None and pay is not None and bill < pay:
        c.warn(cols.bill_rate or cols.markup_pct or "", f"bill rate {bill} is below pay rate {pay}")

    hours = c.read(cols.hours_per_week, parse_decimal)
    if hours is None and cols.hours_per_day is not None:
        per_day = c.read(cols.hours_per_day, parse_decimal)
        if per_day is not None:
            hours = per_day * mapping.days_per_week
    if hours is None:
        hours = mapping.hours_per_week
    if not Decimal(0) < hours <= 168:
        c.refuse(
            cols.hours_per_week or cols.hours_per_day or "",
            f"{hours} hours a week: not in (0, 168]",
        )

    start = c.read(cols.start_date, parse_date)
    if start is None and c.text(cols.start_date) is None:
        c.refuse(cols.start_date, "empty: the start date is required")
    end = c.read(cols.end_date, parse_date)
    if end is None and c.text(cols.end_date) is None and start is not None:
        end = start + timedelta(weeks=OPEN_ENDED_WEEKS)
        c.warn(
            cols.end_date or "", f"no end date: expected to end {end}, {OPEN_ENDED_WEEKS} weeks on"
        )
    if start is not None and end is not None and end < start:
        c.refuse(cols.end_date or "", f"end {end} is before start {start}")
    effective = c.read(cols.effective_date, parse_date)

    status = c.text(cols.status)
    ended = status is not None and status.casefold() in {
        s.casefold() for s in mapping.ended_statuses
    }
    end_reason = (c.text(cols.end_reason) or status) if ended else None
    overtime = _overtime(c, cols)

    if any(p.severity == "error" for p in c.problems):
        return None, c.problems
    assert placement_id and client and pay and bill and start and end
    return (
        Placement(
            line=row.line,
            placement_id=placement_id,
            client=client,
            client_name=c.text(cols.client_name) or client,
            account_manager_id=c.text(cols.account_manager),
            staffer_id=staffer_id or staffer_name or "",
            staffer_name=staffer_name,
            job_title=job_title,
            pay_rate=pay,
            bill_rate=bill,
            bill_from_markup=bill_from_markup,
            hours_per_week=hours,
            start_date=start,
            end_date=end,
            effective_date=effective,
            ended=ended,
            end_reason=end_reason,
            overtime=overtime,
        ),
        c.problems,
    )


def _overtime(c: _Cells, cols: Columns) -> Overtime | None:
    ot = Overtime(
        pay_rate=c.read(cols.ot_pay_rate, parse_decimal),
        bill_rate=c.read(cols.ot_bill_rate, parse_decimal),
        markup_pct=c.read(cols.ot_markup_pct, parse_decimal),
        exempt=c.read(cols.ot_exempt, parse_flag),
    )
    for column, value in ((cols.ot_pay_rate, ot.pay_rate), (cols.ot_bill_rate, ot.bill_rate)):
        if value is not None and value < 0 and column is not None:
            c.refuse(column, f"overtime rate {value} must not be negative")
    if ot == Overtime(None, None, None, None):
        return None
    return ot


__all__ = ["Columns", "Overtime", "Placement", "columns_for", "read_placement"]
