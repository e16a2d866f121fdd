"""A RatesAdjusted of the log is applied by the projector from what `read_rates_adjusted` reads
of its bytes (`RatesChange`), not decoded whole: the rows, the changes and the `event_log` rows
must be exactly those of the decoded events, whatever the OT and DT rates, times and reasons."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import Event
from events.catalogue import RatesAdjusted
from events.serialization import RatesChange, decode_event, encode_event, read_rates_adjusted
from projections.read_model import ReadModel
from services.projector.store import audit_row
from tests.support.histories import histories
from tests.support.read_model import Stream, snapshot

rates = st.none() | st.decimals(
    min_value=Decimal("0.0001"), max_value=Decimal("9999"), places=4, allow_nan=False
)
overtime = st.fixed_dictionaries(
    {name: rates for name in ("ot_pay_rate", "ot_bill_rate", "dt_pay_rate", "dt_bill_rate")}
)


def _with(e: Event, changes: dict[str, Any]) -> Event:
    """The event with `changes`, validated (and through its bytes, as the log holds it)."""
    return decode_event(encode_event(type(e).model_validate(e.model_dump() | changes)))


def _read(e: Event) -> RatesChange:
    change = read_rates_adjusted(encode_event(e))
    assert change is not None
    return change


def _same_fields(change: RatesChange, e: RatesAdjusted) -> None:
    for name in RatesChange._fields:
        value = getattr(e, name)
        expected = str(value) if name == "event_id" else value
        assert getattr(change, name) == expected, name
        assert str(getattr(change, name)) == str(expected), name  # a Decimal's places too
    assert change.overtime_rates() == e.overtime_rates()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(contracts=2), st.lists(overtime, min_size=1, max_size=8))
def test_changes_apply_as_the_decoded_events(log: list[Event], extras: list[Any]) -> None:
    decoded, from_bytes = ReadModel(), ReadModel()
    adjusted = 0
    # Each event twice: a redelivery is refused alike.
    for offset, e in enumerate(e for e in log for _ in (1, 2)):
        if isinstance(e, RatesAdjusted):
            e = _with(e, extras[adjusted % len(extras)])
            adjusted += 1
        data = encode_event(e)
        change = read_rates_adjusted(data)
        assert (change is not None) == isinstance(e, RatesAdjusted)
        applied = decoded.apply(e)
        if change is None:
            assert from_bytes.apply(e) == applied
            continue
        assert isinstance(e, RatesAdjusted)
        _same_fields(change, e)
        assert from_bytes.apply(change, change.event_id) == applied
        assert audit_row(change, data, 3, offset) == audit_row(e, data, 3, offset)
    assert snapshot(from_bytes) == snapshot(decoded)
    assert from_bytes.take_changes() == decoded.take_changes()


def _adjusted(**changes: Any) -> RatesAdjusted:
    stream = Stream()
    stream.sign()
    stream.add("AssignmentStarted")
    e = stream.add("RatesAdjusted", **changes)
    assert isinstance(e, RatesAdjusted)
    return e


def test_times_reasons_and_decimals_as_decoded() -> None:
    for changes in (
        {"reason": 'a "quoted" reason \\ with a tab\there, é and ✓'},
        {"occurred_at": "2024-03-01T09:30:15.123456+05:30"},
        {"occurred_at": "2024-03-01T09:30:15-08:00", "pay_rate": "1E+1"},
        {"pay_rate": "40.5000", "bill_rate": "60", "ot_bill_rate": "90.1234"},
    ):
        e = _adjusted(**changes)
        _same_fields(_read(e), e)
    e = _adjusted(occurred_at="2024-03-01T09:30:15Z")
    assert _read(e).occurred_at == datetime(2024, 3, 1, 9, 30, 15, tzinfo=UTC)
    e = _adjusted(occurred_at="2024-03-01T09:30:15+05:30")
    assert _read(e).occurred_at.utcoffset() == timezone(timedelta(hours=5, minutes=30)).utcoffset(
        None
    )


def test_only_the_bytes_the_writer_writes_are_read() -> None:
    e = _adjusted()
    data = encode_event(e)
    assert read_rates_adjusted(data) is not None
    # Written otherwise (spaces, another order), or of an older schema version (to upcast), or
    # with a field the current version does not have: decoded instead.
    assert read_rates_adjusted(json.dumps(json.loads(data)).encode()) is None
    assert read_rates_adjusted(json.dumps(json.loads(data), sort_keys=True).encode()) is None
    older = data.replace(b'"schema_version":2', b'"schema_version":1')
    assert read_rates_adjusted(older) is None
    assert read_rates_adjusted(data[:-1] + b',"extra":"x"}') is None
    assert read_rates_adjusted(data.replace(b'"pay_rate":"', b'"pay_rate":" ')) is None
    assert read_rates_adjusted(b"") is None
    # A day or time that does not exist (a poison record): decoded, to say why.
    effective = e.effective_date.isoformat().encode()
    assert read_rates_adjusted(data.replace(effective, b"2021-02-30")) is None
    occurred = json.loads(data)["occurred_at"].encode()
    assert read_rates_adjusted(data.replace(occurred, b"2021-03-01T25:00:00Z")) is None
    assert read_rates_adjusted(encode_event(Stream().sign())) is None
