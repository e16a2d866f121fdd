"""A whole file planned: rows read, placements planned, problems said, in file order.

`plan_file` is what both the dry run and the import iterate: one stream of `Planned` events
and `Problem`s. It holds one row at a time (and the planner's per-placement state).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from imports.mapping import ImportMapping
from imports.placements import columns_for, read_placement
from imports.plan import Planned, Planner, plan_event_line
from imports.problems import Problem
from imports.reading import Opened
from imports.timesheets import TimesheetPlanner, timesheet_columns


def plan_file(opened: Opened, mapping: ImportMapping, as_of: date) -> Iterator[Planned | Problem]:
    """Every event the file gives, and every problem with it, in file order; the deferred
    AssignmentEnded events and the file's own warnings (encoding) at the end."""
    if opened.format == "jsonl":
        for line, text in opened.json_lines():
            yield plan_event_line(line, text)
        yield from opened.lines.encoding_warnings()
        return
    if opened.format == "timesheet":
        sheet = TimesheetPlanner(
            mapping,
            mapping.source or opened.format,
            timesheet_columns(opened.header, mapping),
            as_of,
        )
        for item in opened.rows():
            if isinstance(item, Problem):
                yield item
                continue
            planned, problems = sheet.row(item)
            yield from problems
            yield from planned
        yield from opened.lines.encoding_warnings()
        return
    cols = columns_for(opened.format, opened.header, mapping)
    planner = Planner(mapping, mapping.source or opened.format, cols, as_of)
    for item in opened.rows():
        if isinstance(item, Problem):
            yield item
            continue
        placement, problems = read_placement(item, cols, mapping)
        yield from problems
        if placement is None:
            if any(p.severity == "error" for p in problems):
                planner.refuse(item.cells.get(cols.placement_id, "").strip(), item.line)
            continue
        planned, problems = planner.placement(placement)
        yield from planned
        yield from problems
    yield from planner.finish()
    yield from opened.lines.encoding_warnings()


def check_columns(opened: Opened, mapping: ImportMapping) -> None:
    """FileRefused when the file's header lacks a column its format requires."""
    if opened.format == "timesheet":
        timesheet_columns(opened.header, mapping)
    elif opened.format != "jsonl":
        columns_for(opened.format, opened.header, mapping)


__all__ = ["check_columns", "plan_file"]
