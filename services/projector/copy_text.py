"""PostgreSQL's COPY text format, as the projector writes a batch's rows in it.

COPY is fed text, built here, rather than asyncpg's binary COPY, which encodes each numeric
through `Decimal.as_tuple()`, ~2 µs a value: a batch holds hundreds of thousands of them, all on
the projector's one Python thread. `str(Decimal)` is exact and ~10 times cheaper, and PostgreSQL
parses the text on its own core.

Dates and times are `str`'s too, but made faster: CPython's `str` of a date is ~0.2 µs and of
an aware datetime ~0.7 µs (its UTC offset asked through `datetime.utcoffset`, slow with
pydantic's tzinfo, and formatted each time), against ~0.07 for a Decimal, and a margin impact
holds three dates and a datetime. A history has a few thousand distinct days, so a date's text
is kept, and a datetime's is put together from the texts kept of its day, its second of the
day and its UTC offset.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from types import NoneType, UnionType
from typing import Any

from projections.rows import AssignmentRow, ContractRow, HoursRow, ImpactRow, RateRow, TermsRow

# PostgreSQL's COPY text format: tab-separated, \N for NULL, backslash escapes in text.
TEXT_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(TEXT_ESCAPES)
    return str(value)


def _kinds(rows: Iterable[type]) -> dict[str, type]:
    """The columns of the rows' tables that hold a date or a datetime (None allowed), by name:
    a name is one kind of value in every table that has it."""
    kinds: dict[str, type] = {}
    for row in rows:
        for name, hint in typing.get_type_hints(row).items():
            args = set(hint.__args__) - {NoneType} if isinstance(hint, UnionType) else {hint}
            kind = next(iter(args)) if len(args) == 1 else None
            if kind not in (date, datetime):
                continue
            if kinds.setdefault(name, kind) is not kind:
                raise TypeError(f"column {name} holds a date in one table, a datetime in another")
    return kinds


_KINDS = _kinds((ContractRow, TermsRow, AssignmentRow, RateRow, ImpactRow, HoursRow))
_DATES: dict[date, str] = {}  # a date: its text
_DAYS: dict[int, str] = {}  # a day (its ordinal): its text
_CLOCKS: dict[int, str] = {}  # a second of the day: its text (at most 86,400)
_OFFSETS: dict[timedelta, str] = {}  # a UTC offset: its text
_MOST_DAYS = 100_000  # kept (a history's days are a few thousand)


@functools.cache
def _temporal(columns: tuple[str, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The places of the date and of the datetime columns among `columns`."""
    dates = tuple(i for i, c in enumerate(columns) if _KINDS.get(c) is date)
    times = tuple(i for i, c in enumerate(columns) if _KINDS.get(c) is datetime)
    return dates, times


def date_text(day: date) -> str:
    """`str(day)`, kept."""
    text = _DATES.get(day)
    if text is None:
        if len(_DATES) >= _MOST_DAYS:
            _DATES.clear()
        text = _DATES[day] = str(day)
    return text


def timestamp_text(at: datetime) -> str:
    """`str(at)`, from the texts kept of its day, its second and its UTC offset when it is an
    aware datetime of whole seconds."""
    tz = at.tzinfo
    if tz is None or at.microsecond:
        return str(at)
    offset = tz.utcoffset(at)  # the tzinfo's own, ~4 times faster than `at.utcoffset()`
    offset_text = _OFFSETS.get(offset) if offset is not None else None
    if offset_text is None:
        text = str(at)
        if offset is not None and len(text) == 25:  # 'YYYY-MM-DD HH:MM:SS+HH:MM'
            _OFFSETS[offset] = text[19:]
        return text
    ordinal = at.toordinal()
    day = _DAYS.get(ordinal)
    if day is None:
        if len(_DAYS) >= _MOST_DAYS:
            _DAYS.clear()
        day = _DAYS[ordinal] = str(date.fromordinal(ordinal))
    second = at.hour * 3600 + at.minute * 60 + at.second
    clock = _CLOCKS.get(second)
    if clock is None:
        clock = _CLOCKS[second] = f"{at.hour:02}:{at.minute:02}:{at.second:02}"
    return f"{day} {clock}{offset_text}"


def copy_text(rows: Iterable[Sequence[Any]], columns: Sequence[str] = ()) -> bytes:
    """Rows in COPY's text format. Every value is written as `str(value)` (exact for Decimal,
    int, date, aware datetime, UUID), text escaped, None as NULL; given the rows' `columns`,
    those of a date or a datetime (by the rows' dataclasses) through `date_text` and
    `timestamp_text`: the same text, made faster.

    Fast path: a row is joined with `str` in C and kept when the line shows that no value needed
    more: no "None" (a NULL), no backslash, newline or carriage return, and exactly one tab
    between values (so no value holds one). Only the values of str can hold those, and only str
    and None need more than `str`. A row that only shows "None", once per None value, gets them
    replaced by NULLs in the line; any other row is formatted value by value.
    """
    dates, times = _temporal(tuple(columns))
    days = _DATES
    lines = []
    for row in rows:
        if dates or times:
            values = list(row)
            for i in dates:
                value = values[i]
                if value is not None:
                    values[i] = days.get(value) or date_text(value)
            for i in times:
                value = values[i]
                if value is not None:
                    values[i] = timestamp_text(value)
            row = values
        line = "\t".join(map(str, row))
        if "\\" in line or "\n" in line or "\r" in line or line.count("\t") != len(row) - 1:
            line = "\t".join(map(_text_value, row))
        elif "None" in line:  # no value needs escaping: only a NULL may need more than `str`
            if line.count("None") == row.count(None):
                # Each NULL shows as one "None" between tabs (no "None" spans two values: a tab
                # ends each), and no text holds another: those are the NULLs, replaced in C.
                line = line.replace("None", "\\N")
            else:
                line = "\t".join(["\\N" if v is None else str(v) for v in row])
        lines.append(line)
    lines.append("")
    return "\n".join(lines).encode()


def event_log_text(rows: list[bytes]) -> bytes:
    """The rows of `event_log` (`store.audit_row`'s pieces, three a row) as COPY's text:
    joined, with each body that holds a backslash, tab, newline or carriage return escaped. The
    bodies are looked at joined, four scans of a batch's bytes in C, and one by one only when
    one of them needs escaping (hardly ever: JSON holds no tab, newline or carriage return, and
    a backslash only in a text that needed one)."""
    bodies = b"".join(rows[1::3])
    if b"\\" in bodies or b"\t" in bodies or b"\n" in bodies or b"\r" in bodies:
        rows = list(rows)
        for i in range(1, len(rows), 3):
            body = rows[i]
            if b"\\" in body or b"\t" in body or b"\n" in body or b"\r" in body:
                rows[i] = body.decode().translate(TEXT_ESCAPES).encode()
    return b"".join(rows)


__all__ = ["TEXT_ESCAPES", "copy_text", "date_text", "event_log_text", "timestamp_text"]
