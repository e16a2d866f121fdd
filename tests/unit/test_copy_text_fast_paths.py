"""The projector's faster ways of writing COPY's text write exactly what the plain ways write:
a date's and a datetime's text as `str` writes it, whatever the offset or the microseconds, and a
batch's `event_log` bodies escaped as each body escaped alone would be."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from events.serialization import encode_event
from projections.read_model import ReadModel
from services.projector import store
from services.projector.copy_text import (
    TEXT_ESCAPES,
    copy_text,
    date_text,
    event_log_text,
    timestamp_text,
)
from tests.support.histories import histories
from tests.support.read_model import Stream

offsets: st.SearchStrategy[tzinfo] = st.integers(
    min_value=-(23 * 3600 + 59 * 60), max_value=23 * 3600 + 59 * 60
).map(lambda s: timezone(timedelta(seconds=s)))
zones: st.SearchStrategy[tzinfo] = st.sampled_from(
    [UTC, ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York")]
)
first, last = datetime(1, 1, 2), datetime(9999, 12, 30)
times = st.datetimes(first, last, timezones=offsets | zones) | st.datetimes(first, last)


@given(st.lists(times | st.dates(), max_size=20))
def test_dates_and_times_as_str_writes_them(values: list[date]) -> None:
    # Twice: a text made, then a text kept.
    for _ in (1, 2):
        for value in values:
            if isinstance(value, datetime):
                assert timestamp_text(value) == str(value)
            else:
                assert date_text(value) == str(value)


def test_a_pydantic_time_of_the_log_as_str_writes_it() -> None:
    signed = Stream().sign()  # occurred_at decoded by pydantic: its own tzinfo
    assert type(signed.occurred_at.tzinfo) is not type(UTC)
    whole = signed.occurred_at.replace(microsecond=0)
    assert timestamp_text(whole) == str(whole) == timestamp_text(whole)
    assert timestamp_text(signed.occurred_at) == str(signed.occurred_at)


@given(histories(contracts=2))
def test_the_rows_of_a_history_as_the_plain_text(log: list[Any]) -> None:
    model = ReadModel()
    for e in log:
        model.apply(e)
    batch = store.Batch.of(model.take_changes(), {})
    for _, columns, rows in store.copied(batch):
        assert copy_text(rows, columns) == copy_text(rows)


def test_columns_name_their_dates_and_times() -> None:
    rows = [(date(2024, 2, 29), datetime(2024, 3, 1, 9, 30, tzinfo=UTC), None, "x")]
    columns = ["effective_date", "occurred_at", "end_date", "event_type"]
    assert copy_text(rows, columns) == b"2024-02-29\t2024-03-01 09:30:00+00:00\t\\N\tx\n"


def _one_by_one(rows: list[bytes]) -> bytes:
    """What `event_log_text` makes, each body looked at alone."""
    out = []
    for i, piece in enumerate(rows):
        if i % 3 == 1 and any(c in piece for c in (b"\\", b"\t", b"\n", b"\r")):
            piece = piece.decode().translate(TEXT_ESCAPES).encode()
        out.append(piece)
    return b"".join(out)


notes = st.text(alphabet=st.sampled_from('ab \t\n\r\\"é'), max_size=12)


@given(st.lists(notes, min_size=1, max_size=6))
def test_event_log_bodies_escaped_as_one_by_one(texts: list[str]) -> None:
    stream = Stream()
    stream.sign()
    rows: list[bytes] = []
    for offset, note in enumerate(texts):
        contact = stream.add("ClientContactLogged", note=f"x{note}")
        rows += store.audit_row(contact, encode_event(contact), 0, offset)
    text = event_log_text(rows)
    assert text == _one_by_one(rows)
    assert text.count(b"\n") == len(texts) and text.count(b"\t") == 8 * len(texts)
