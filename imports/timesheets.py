"""A timesheet CSV: one row per assignment and week, its regular, OT and DT hours, each row
one `HoursReported` (source `import`).

A row names its assignment (the placement's id, read into an assignment id as the placements
import reads it, so the ids of an imported book match) and its contract, either by a
`contract_id` column or by a `client` column that the mapping turns into the contract as the
placements import does (`clients.<client>.contract_id`, else `C-<client>`): the writer routes
and checks every event by its contract, and a timesheet row is judged alone, without reading
the log (pure, as the rest of the planner).

The event id is derived from the row's content (source, assignment, week and the three hours):
the same row imported again is a duplicate the writer recognises, and a corrected row (other
hours for the same week) is a new report, which supersedes the earlier one as a correction.
Nothing is kept from row to row: a timesheet of any length streams through in constant memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Final

from pydantic import ValidationError

from events.catalogue import HoursReported
from events.errors import EventValidationError
from imports.ids import event_id, safe_id
from imports.mapping import ImportMapping
from imports.plan import Planned, occurred
from imports.problems import FileRefused, Problem
from imports.reading import Row
from imports.values import BadValue, parse_date, parse_decimal

SOURCE: Final = "import"
"""The `source` of every HoursReported a timesheet import appends."""
_WEEK_END: Final = timedelta(days=6)  # a timesheet is in once its week's Sunday is over


@dataclass(frozen=True)
class TimesheetColumns:
    assignment_id: str
    week: str
    regular_hours: str
    ot_hours: str | None
    dt_hours: str | None
    contract_id: str | None
    client: str | None

    def field_columns(self) -> Mapping[str, str]:
        """The event's fields → the columns they are read from (a refusal names the column)."""
        contract = self.contract_id or self.client or self.assignment_id
        named = {
            "event_id": self.assignment_id,
            "assignment_id": self.assignment_id,
            "contract_id": contract,
            "week": self.week,
            "regular_hours": self.regular_hours,
            "ot_hours": self.ot_hours,
            "dt_hours": self.dt_hours,
        }
        return {k: v for k, v in named.items() if v is not None}


_NAMES: Final = {
    "assignment_id": ("assignment_id", "placement_id"),
    "week": ("week", "week_start"),
    "regular_hours": ("regular_hours",),
    "ot_hours": ("ot_hours",),
    "dt_hours": ("dt_hours",),
    "contract_id": ("contract_id",),
    "client": ("client",),
}


def timesheet_columns(header: list[str], mapping: ImportMapping) -> TimesheetColumns:
    """The columns of a timesheet with this header; FileRefused names a required one that is
    missing."""
    present = set(header)
    chosen = {
        name: next((c for c in names if c in present), None) for name, names in _NAMES.items()
    }
    overrides = {"assignment_id": "placement_id_column", "client": "client_column"}
    chosen.update(mapping.columns_named(overrides, present))
    for name in ("assignment_id", "week", "regular_hours"):
        if chosen[name] is None:
            options = " or ".join(_NAMES[name])
            raise FileRefused(Problem(1, options, f"required column missing: {options}"))
    if chosen["contract_id"] is None and chosen["client"] is None:
        raise FileRefused(
            Problem(
                1,
                "contract_id or client",
                "required column missing: contract_id or client (a timesheet row names the "
                "contract its assignment is on, or the client the mapping makes it of)",
            )
        )
    return TimesheetColumns(**chosen)  # type: ignore[arg-type]


def _hours_key(h: Decimal) -> str:
    """Equal hours, equal text (`40`, `40.0` and `40.00` give one id)."""
    return format(h.normalize(), "f")


class TimesheetPlanner:
    """Each row of a timesheet into its HoursReported, or the problems that refuse it."""

    def __init__(
        self, mapping: ImportMapping, source: str, cols: TimesheetColumns, as_of: date
    ) -> None:
        self.mapping = mapping
        self.source = source
        self.cols = cols
        self.as_of = as_of
        self.columns = cols.field_columns()

    def row(self, row: Row) -> tuple[list[Planned], list[Problem]]:
        problems: list[Problem] = []
        cols = self.cols

        def text(column: str | None) -> str | None:
            if column is None:
                return None
            return row.cells.get(column, "").strip() or None

        def required(column: str, what: str) -> str | None:
            value = text(column)
            if value is None:
                problems.append(Problem(row.line, column, f"empty: the {what} is required"))
            return value

        def hours(column: str | None, default_zero: bool) -> Decimal | None:
            value = text(column)
            if column is None or value is None:
                if not default_zero and column is not None:
                    problems.append(Problem(row.line, column, "empty: the hours are required"))
                return Decimal(0) if default_zero else None
            try:
                return parse_decimal(value)
            except BadValue as exc:
                problems.append(Problem(row.line, column, str(exc)))
                return None

        placement = required(cols.assignment_id, "assignment")
        contract_id = self._contract(text(cols.contract_id), text(cols.client))
        if contract_id is None:
            column = cols.contract_id or cols.client or ""
            problems.append(Problem(row.line, column, "empty: the contract or client is required"))
        week_text = required(cols.week, "week")
        week: date | None = None
        if week_text is not None:
            try:
                week = parse_date(week_text)
            except BadValue as exc:
                problems.append(Problem(row.line, cols.week, str(exc)))
        regular = hours(cols.regular_hours, default_zero=False)
        ot = hours(cols.ot_hours, default_zero=True)
        dt = hours(cols.dt_hours, default_zero=True)
        if problems:
            return [], problems
        assert placement and contract_id and week and regular is not None
        assert ot is not None and dt is not None
        assignment_id = safe_id(placement)
        record = f"hours:{placement}@{week.isoformat()}"
        what = f"HoursReported:{_hours_key(regular)}/{_hours_key(ot)}/{_hours_key(dt)}"
        try:
            event = HoursReported(
                event_id=event_id(self.source, record, what),
                contract_id=contract_id,
                occurred_at=occurred(week + _WEEK_END, self.as_of),
                assignment_id=assignment_id,
                week=week,
                regular_hours=regular,
                ot_hours=ot,
                dt_hours=dt,
                source=SOURCE,
            )
        except ValidationError as exc:
            errors = EventValidationError.from_pydantic(exc).errors
            return [], [
                Problem(row.line, self.columns.get(e["field"], e["field"]), e["reason"])
                for e in errors
            ]
        return [Planned(row.line, event, self.columns)], []

    def _contract(self, contract_id: str | None, client: str | None) -> str | None:
        if contract_id is not None:
            return contract_id
        if client is None:
            return None
        known = self.mapping.clients.get(client)
        if known is not None and known.contract_id is not None:
            return known.contract_id
        return safe_id(client, "C-")


__all__ = ["SOURCE", "TimesheetColumns", "TimesheetPlanner", "timesheet_columns"]
