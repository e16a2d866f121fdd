"""Cells of every CSV the product writes: what a spreadsheet opens must never run as a formula.

OWASP's CSV injection guidance: a text cell that begins with `=`, `+`, `-`, `@`, a tab or a
carriage return is read by Excel, LibreOffice and Google Sheets as a formula
(`=HYPERLINK(...)` as a client name reaches finance's spreadsheet). Such a cell is written with
a leading `'`, which spreadsheets show as text and do not display. Numbers stay numbers: money
such as `-36.00` is a number, not a formula, and finance sums it. Booleans are written as JSON
writes them (`true`/`false`), so a CSV and its JSON say the same.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
_NUMBER: Final = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")


def cell(value: Any) -> str:
    """One value as the text of a CSV cell, neutralised if a spreadsheet would run it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def write_csv(rows: Iterable[Mapping[str, Any]], fields: Sequence[str]) -> str:
    """`rows` as CSV text: a header of `fields`, then each row's cells (other keys ignored)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([cell(f) for f in fields])
    for row in rows:
        w.writerow([cell(row.get(f)) for f in fields])
    return buf.getvalue()
