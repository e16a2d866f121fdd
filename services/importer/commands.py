"""`ledger import placements` and its dry run: the file streamed through the pure planner,
then to a sink (or the preview), a progress bar on standard error, the report on standard
output."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from pydantic_core import to_json
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from events.catalogue import Event
from imports.dryrun import DryRun, Portfolio
from imports.mapping import ImportMapping, load_mapping
from imports.plan import Planned
from imports.problems import FileRefused, Problem
from imports.reading import Format, Lines, open_lines
from imports.source import plan_file
from services.csv_cells import write_csv
from services.importer.run import LANES, Outcome, run
from services.importer.sinks import BATCH, IMPORTER, Sink


@dataclass(frozen=True)
class Options:
    file: Path
    mapping: ImportMapping
    format: Format | None
    as_of: date
    show_progress: bool = True
    lanes: int = LANES
    batch: int = BATCH


def read_mapping(path: str | None) -> ImportMapping:
    """The mapping file, or an empty mapping (enough for JSON lines)."""
    if path is None:
        return ImportMapping()
    return load_mapping(Path(path).read_text(encoding="utf-8"))


def as_of(given: date | None, mapping: ImportMapping) -> date:
    return given or mapping.as_of or datetime.now(UTC).date()


class Bar:
    """A progress bar of bytes read, with rows, rows/s and the time left (on stderr)."""

    def __init__(self, path: Path, lines: Lines, enabled: bool) -> None:
        self.lines = lines
        self.started = time.monotonic()
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rows]:,} rows"),
            TextColumn("{task.fields[rate]:,.0f} rows/s"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not enabled,
        )
        self.task = self.progress.add_task(path.name, total=os.path.getsize(path), rows=0, rate=0)

    def __enter__(self) -> Bar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.update()
        self.progress.stop()

    def update(self) -> None:
        rows = self.lines.line
        rate = rows / max(time.monotonic() - self.started, 1e-6)
        self.progress.update(self.task, completed=self.lines.bytes_read, rows=rows, rate=rate)


def _ticking(items: Iterator[Planned | Problem], bar: Bar) -> Iterator[Planned | Problem]:
    for n, item in enumerate(items):
        if n % 500 == 0:
            bar.update()
        yield item


def dry_run(opts: Options, past: Callable[[str], list[Event]] | None) -> tuple[DryRun, Portfolio]:
    """The whole file judged by the preview's path, against what `past` says the log holds
    of each contract (None: an empty ledger); nothing appended."""
    with opts.file.open("rb") as f:
        opened = open_lines(f, opts.format)
        dry = DryRun(IMPORTER, datetime.now(UTC))
        with Bar(opts.file, opened.lines, opts.show_progress) as bar:
            for item in _ticking(plan_file(opened, opts.mapping, opts.as_of), bar):
                contract_id = dry.meets(item)
                if contract_id is not None and past is not None:
                    dry.remember(contract_id, past(contract_id))
                dry.feed(item)
        return dry, dry.portfolio(opts.as_of)


def commit(opts: Options, sink: Sink) -> tuple[Outcome, str]:
    """The file's events handed to `sink`; (what happened, the file's format)."""

    async def go(f: BinaryIO) -> tuple[Outcome, str]:
        opened = open_lines(f, opts.format)
        await sink.start()
        try:
            with Bar(opts.file, opened.lines, opts.show_progress) as bar:
                items = plan_file(opened, opts.mapping, opts.as_of)
                outcome = await run(
                    items, sink, lanes=opts.lanes, batch=opts.batch, progress=bar.update
                )
                return outcome, opened.format
        finally:
            await sink.close()

    with opts.file.open("rb") as f:
        return asyncio.run(go(f))


# Reports --------------------------------------------------------------------------------------


def _problems(title: str, problems: list[Problem], out: TextIO) -> None:
    if problems:
        print(f"{title} ({len(problems)}):", file=out)
        for p in problems:
            print(f"  {p}", file=out)


def print_dry_run(dry: DryRun, portfolio: Portfolio, against_log: bool, out: TextIO) -> None:
    print("DRY RUN: nothing was appended", file=out)
    if not against_log:
        print("judged against an empty ledger: no token to read the log with", file=out)
    print("events that would be appended:", file=out)
    for kind, n in sorted(dry.accepted.items()):
        print(f"  {kind:<20} {n:>8,}", file=out)
    print(f"  {'already in the log':<20} {dry.duplicates:>8,}", file=out)
    _problems("rows refused", dry.errors, out)
    _problems("events the writer would refuse", dry.refused, out)
    _problems("warnings", dry.warnings, out)
    if dry.alert_counts:
        print("alerts the rules would raise:", file=out)
        for rule, n in sorted(dry.alert_counts.items()):
            print(f"  {rule:<40} {n:>8,}", file=out)
    p = portfolio
    pct = f"{p.margin_pct:.2f} %" if p.margin_pct is not None else "n/a"
    print(f"portfolio as of {p.as_of}:", file=out)
    print(f"  contracts                {p.contracts:>12,}", file=out)
    print(f"  active assignments       {p.active_assignments:>12,}", file=out)
    print(f"  weekly gross profit      {p.weekly_gross_profit:>12,.2f}", file=out)
    print(f"  weekly billing           {p.weekly_billing:>12,.2f}", file=out)
    print(f"  margin                   {pct:>12}", file=out)
    print(f"  loss-making assignments  {len(p.loss_making):>12,}", file=out)
    for x in p.loss_making:
        figures = f"{x.margin_per_hour:.2f} an hour, {x.weekly_gross_profit:.2f} a week"
        print(f"    {x.contract_id}/{x.assignment_id} ({x.staffer_id}): {figures}", file=out)


def dry_run_json(dry: DryRun, portfolio: Portfolio) -> bytes:
    return to_json(
        {
            "appended": dict(dry.accepted),
            "duplicates": dry.duplicates,
            "errors": dry.errors,
            "refused": dry.refused,
            "warnings": dry.warnings,
            "alerts": dict(dry.alert_counts),
            "alert_list": dry.alerts,
            "portfolio": portfolio,
        }
    )


def print_outcome(outcome: Outcome, out: TextIO) -> None:
    print("events appended:", file=out)
    for kind, n in sorted(outcome.accepted.items()):
        print(f"  {kind:<20} {n:>8,}", file=out)
    print(f"  {'total':<20} {sum(outcome.accepted.values()):>8,}", file=out)
    print(f"already in the log (nothing appended): {sum(outcome.duplicates.values()):,}", file=out)
    _problems("rows refused", outcome.errors, out)
    _problems("events refused", outcome.refused, out)
    _problems("warnings", outcome.warnings, out)


REPORT_FIELDS = ("severity", "line", "column", "reason")


def write_report(path: Path, problems: list[Problem]) -> None:
    """Every problem as CSV (cells a spreadsheet would run are neutralised)."""
    rows: list[dict[str, Any]] = [
        {"severity": p.severity, "line": p.line, "column": p.column, "reason": p.reason}
        for p in problems
    ]
    path.write_text(write_csv(rows, REPORT_FIELDS), encoding="utf-8")


def refused_file(exc: FileRefused) -> int:
    print(f"nothing imported: {exc.problem}", file=sys.stderr)
    return 2


__all__ = [
    "Options",
    "as_of",
    "commit",
    "dry_run",
    "dry_run_json",
    "print_dry_run",
    "print_outcome",
    "read_mapping",
    "refused_file",
    "write_report",
]
