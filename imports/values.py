"""Cell values read as the catalogue's types, refused with a reason a person can act on.

Dates come as ISO 8601 (`2016-08-17`) or as Bullhorn and spreadsheets write them
(`8/17/2016 0:00`, `8/17/16`); money and percentages as plain decimals (`37.50`, a leading `$`
and thousands separators allowed), never through a float.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Final

_US_DATE: Final = re.compile(
    r"(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{2}|\d{4})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
)
_ISO_DATE: Final = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[ T][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?")
_NUMBER: Final = re.compile(r"-?\d+(?:\.\d+)?")
# Thousands separators only in groups of three: "30,00" (a decimal comma) is refused, not read
# as 3000.
_GROUPED: Final = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_TRUE: Final = frozenset({"1", "true", "yes", "y", "t"})
_FALSE: Final = frozenset({"0", "false", "no", "n", "f"})


class BadValue(ValueError):
    """A cell that is not what its column holds; the message is the reason."""


def parse_date(text: str) -> date:
    """A date written as ISO 8601 or month/day/year (two-digit years as Python's %y reads them:
    69–99 are 1900s, 00–68 2000s), with or without a time of day, which is dropped."""
    s = text.strip()
    m = _ISO_DATE.fullmatch(s)
    try:
        if m:
            return date.fromisoformat(m.group(1))
        m = _US_DATE.fullmatch(s)
        if m:
            year = m.group("y")
            y = int(year) if len(year) == 4 else datetime.strptime(year, "%y").year
            return date(y, int(m.group("m")), int(m.group("d")))
    except ValueError as exc:
        raise BadValue(f"{s!r} is not a date on the calendar ({exc})") from exc
    raise BadValue(f"{s!r} is not a date: write 2016-08-17 or 8/17/2016")


def parse_decimal(text: str) -> Decimal:
    """A plain decimal: `37.50`, `$1,037.50`; never scientific notation, NaN or infinity."""
    s = text.strip()
    if s.startswith("$"):
        s = s[1:]
    elif s.startswith("-$"):
        s = "-" + s[2:]
    if _GROUPED.fullmatch(s):
        s = s.replace(",", "")
    if not _NUMBER.fullmatch(s):
        raise BadValue(f"{text.strip()!r} is not a number: write it like 37.50")
    try:
        return Decimal(s)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only decimals
        raise BadValue(f"{text.strip()!r} is not a number") from exc


def parse_flag(text: str) -> bool:
    s = text.strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise BadValue(f"{text.strip()!r} is not yes or no: write 1 or 0, true or false")


__all__ = ["BadValue", "parse_date", "parse_decimal", "parse_flag"]
