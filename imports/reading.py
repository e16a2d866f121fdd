"""Reading an import file a line at a time: its encoding, its format, its rows.

Nothing here holds more than one row: a file of any size streams through. Text is UTF-8 (a
byte-order mark is dropped and reported); a line that is not UTF-8 switches the reader to
Latin-1 from that line on, which is reported too, with the line (a spreadsheet saving as
"CSV" on Windows writes Latin-1 or its cp1252 cousin; the bytes of ASCII lines are the same
in all three). The format is told from the first line: `{` starts JSON lines of events, else
the CSV header names its columns.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from typing import BinaryIO, Final, Literal

from imports.problems import FILE_LINE, FileRefused, Problem

Format = Literal["bullhorn", "generic", "timesheet", "jsonl"]
FORMATS: Final[tuple[Format, ...]] = ("bullhorn", "generic", "timesheet", "jsonl")

BOM: Final = b"\xef\xbb\xbf"
MAX_LINE: Final = 1 << 20
"""Bytes of one physical line at most: a file without line breaks is refused, not loaded."""

# The columns that tell a format from its header: two of them are enough, so that a file
# missing the third is read as what it is and told which column it lacks.
BULLHORN_MARKS: Final = frozenset({"clientBillRate", "payRate", "dateBegin"})
GENERIC_MARKS: Final = frozenset({"placement_id", "pay_rate", "start_date"})
TIMESHEET_MARKS: Final = frozenset({"assignment_id", "week", "regular_hours"})


@dataclass
class Lines:
    """The lines of a binary stream as text, with what was learned of its encoding.

    `bytes_read` grows as lines are read (a progress bar's measure of the whole)."""

    stream: BinaryIO
    bytes_read: int = 0
    line: int = 0
    bom: bool = False
    latin1_from: int | None = None

    def __iter__(self) -> Iterator[str]:
        readline = self.stream.readline
        while True:
            raw = readline(MAX_LINE)
            if not raw:
                return
            self.line += 1
            self.bytes_read += len(raw)
            if len(raw) == MAX_LINE and not raw.endswith(b"\n"):
                raise FileRefused(
                    Problem(
                        self.line,
                        "",
                        f"line is longer than {MAX_LINE} bytes: not a CSV "
                        "or JSON lines file of placements",
                    )
                )
            if self.line == 1 and raw.startswith(BOM):
                raw = raw[len(BOM) :]
                self.bom = True
            if self.latin1_from is None:
                try:
                    yield raw.decode("utf-8")
                    continue
                except UnicodeDecodeError:
                    self.latin1_from = self.line
            yield raw.decode("latin-1")

    @property
    def encoding(self) -> str:
        """The encoding as read: utf-8, utf-8 with BOM, or Latin-1 from line N."""
        if self.latin1_from is not None:
            return f"latin-1 (not UTF-8 from line {self.latin1_from})"
        return "utf-8 with BOM" if self.bom else "utf-8"

    def encoding_warnings(self) -> list[Problem]:
        """What the import says about the encoding it found (nothing for plain UTF-8)."""
        out = []
        if self.bom:
            out.append(Problem(FILE_LINE, "", "UTF-8 byte-order mark found and dropped", "warning"))
        if self.latin1_from is not None:
            out.append(
                Problem(
                    self.latin1_from,
                    "",
                    "not UTF-8: read as Latin-1 from this line on (check accented names)",
                    "warning",
                )
            )
        return out


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    """The physical line the row starts on (1 is the header)."""
    cells: dict[str, str]


def detect(first_line: str, header: list[str] | None) -> Format:
    """The format of a file from its first line (and, for CSV, its header cells)."""
    if first_line.lstrip().startswith("{"):
        return "jsonl"
    columns = set(header or ())
    if len(columns & BULLHORN_MARKS) >= 2:
        return "bullhorn"
    if len(columns & GENERIC_MARKS) >= 2:
        return "generic"
    if len(columns & TIMESHEET_MARKS) >= 2:
        return "timesheet"
    raise FileRefused(
        Problem(
            1,
            "",
            "unknown format: a Bullhorn placement export has the columns "
            f"{', '.join(sorted(BULLHORN_MARKS))}; the generic placements CSV has "
            f"{', '.join(sorted(GENERIC_MARKS))}; a timesheet has "
            f"{', '.join(sorted(TIMESHEET_MARKS))} (docs/import.md); JSON lines start with {{",
        )
    )


@dataclass
class Opened:
    """A file opened for import: its format, its header (CSV) and its records, streamed."""

    format: Format
    header: list[str]
    lines: Lines
    _rest: Iterator[str]

    def rows(self) -> Iterator[Row | Problem]:
        """The CSV rows after the header, each with its line; a row whose cells do not match
        the header is a Problem instead. Blank rows are passed over."""
        reader = csv.reader(self._rest)
        width = len(self.header)
        done = 1  # the header's line
        try:
            for cells in reader:
                start, done = done + 1, reader.line_num + 1
                if not cells or all(not c.strip() for c in cells):
                    continue
                if len(cells) != width:
                    yield Problem(
                        start,
                        "",
                        f"the row has {len(cells)} cells and the header {width}: "
                        "check its quotes and commas",
                    )
                    continue
                yield Row(start, dict(zip(self.header, cells, strict=True)))
        except csv.Error as exc:
            yield Problem(done + 1, "", f"not readable as CSV: {exc}")

    def json_lines(self) -> Iterator[tuple[int, str]]:
        """The non-blank lines of a JSON lines file, with their line numbers."""
        for text in self._rest:
            if text.strip():
                yield self.lines.line, text


def open_lines(stream: BinaryIO, format: Format | None = None) -> Opened:
    """Reads the first line of `stream` and tells its format (or checks the one named)."""
    lines = Lines(stream)
    it = iter(lines)
    first = next(it, None)
    while first is not None and not first.strip():
        first = next(it, None)
    if first is None:
        raise FileRefused(Problem(FILE_LINE, "", "the file is empty"))
    if first.lstrip().startswith("{"):
        found = detect(first, None)
        if format not in (None, "jsonl"):
            raise FileRefused(Problem(1, "", f"--format {format} given, but the file is JSON"))
        return Opened(found, [], lines, chain([first], it))
    try:
        header = [c.strip() for c in next(csv.reader([first]))]
    except csv.Error as exc:
        raise FileRefused(Problem(1, "", f"the header is not readable as CSV: {exc}")) from exc
    if format is None:
        format = detect(first, header)
    elif format == "jsonl":
        raise FileRefused(Problem(1, "", "--format jsonl given, but the file is not JSON lines"))
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise FileRefused(
            Problem(1, duplicated[0], f"the header names {', '.join(duplicated)} twice")
        )
    return Opened(format, header, lines, it)


__all__ = ["FORMATS", "Format", "Lines", "Opened", "Row", "detect", "open_lines"]
