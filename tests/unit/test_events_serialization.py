"""The one serializer: encode, decode, submissions and the errors they raise."""

from __future__ import annotations

import json
import pickle
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events import (
    AssignmentStarted,
    ContractSigned,
    EventValidationError,
    FieldError,
    MarkupAgreed,
    decode_event,
    decode_json,
    encode_event,
    encode_json,
    parse_submission,
)
from events.catalogue import EVENT_TYPES, STAMPED_FIELDS
from events.fields import ID_REFUSED
from events.serialization import read_head
from simulation.examples import EVENT_TYPE_NAMES, OMIT, example

STAMPS = {
    "recorded_by": "svc.writer",
    "recorded_at": "2024-03-01T09:00:01.250000+00:00",
    "stream_version": 7,
}


def _refusal(data: Any) -> list[FieldError]:
    with pytest.raises(EventValidationError) as refused:
        decode_event(data)
    return refused.value.errors


@pytest.mark.parametrize("type_name", EVENT_TYPE_NAMES)
def test_encode_then_decode_gives_back_the_same_event(type_name: str) -> None:
    original = decode_event(example(type_name, **STAMPS))
    encoded = encode_event(original)
    assert isinstance(encoded, bytes)
    assert decode_event(encoded) == original
    assert decode_event(encoded.decode()) == original


@pytest.mark.parametrize("type_name", EVENT_TYPE_NAMES)
def test_a_submission_survives_encoding_field_for_field(type_name: str) -> None:
    submitted = example(type_name)
    written = json.loads(encode_event(decode_event(submitted)))
    # The decoded datetime is re-rendered by pydantic; every other value comes back as sent.
    assert datetime.fromisoformat(written.pop("occurred_at")) == datetime.fromisoformat(
        submitted.pop("occurred_at")
    )
    assert written == {**submitted, "schema_version": EVENT_TYPES[type_name].SCHEMA_VERSION}


def test_encoding_is_compact_keeps_decimals_as_written_and_leaves_out_none() -> None:
    event = decode_event(example("AssignmentStarted", pay_rate="30.00", staffer_name=OMIT))
    encoded = encode_event(event)
    assert b" " not in encoded.replace(b"Forklift operator", b"")
    raw = json.loads(encoded)
    assert raw["pay_rate"] == "30.00"
    assert raw["bill_rate"] == "37.50"
    assert raw["hours_per_week"] == "40"
    assert "staffer_name" not in raw
    assert "recorded_by" not in raw and "stream_version" not in raw


def test_json_numbers_are_read_as_exact_decimals_never_floats() -> None:
    body = json.dumps(example("AssignmentStarted")).replace('"30.00"', "30.10")
    event = decode_event(body.encode())
    assert isinstance(event, AssignmentStarted)
    assert event.pay_rate == Decimal("30.10")
    assert str(event.pay_rate) == "30.10"  # a float would have lost the trailing zero


def test_a_float_in_an_already_parsed_dict_is_refused() -> None:
    errors = _refusal(example("RatesAdjusted", bill_rate=38.75))
    assert errors == [
        {"field": "bill_rate", "reason": 'send decimals as strings like "37.50", not floats'}
    ]


rates = st.decimals(
    min_value=Decimal("0.0001"),
    max_value=Decimal("9999999999.9999"),
    places=4,
    allow_nan=False,
    allow_infinity=False,
)
percentages = st.decimals(
    min_value=Decimal(-100), max_value=Decimal(1000), places=6, allow_nan=False
)


@given(pay=rates, bill=rates, burden=percentages)
def test_random_rates_and_percentages_round_trip_exactly(
    pay: Decimal, bill: Decimal, burden: Decimal
) -> None:
    submitted = example(
        "AssignmentStarted", pay_rate=str(pay), bill_rate=str(bill), burden_pct=str(burden)
    )
    event = decode_event(encode_json(submitted))
    again = decode_event(encode_event(event))
    assert again == event
    assert isinstance(again, AssignmentStarted)
    assert (again.pay_rate, again.bill_rate, again.burden_pct) == (pay, bill, burden)
    raw = json.loads(encode_event(again))
    assert (raw["pay_rate"], raw["bill_rate"]) == (str(pay), str(bill))


@given(markup=percentages.filter(lambda m: m > -100))
def test_random_markups_round_trip_through_json_numbers(markup: Decimal) -> None:
    body = json.dumps(example("MarkupAgreed")).replace('"22.5"', str(markup))
    event = decode_event(body)
    assert isinstance(event, MarkupAgreed)
    assert event.markup_pct == markup
    assert decode_event(encode_event(event)) == event


@pytest.mark.parametrize(
    "body",
    [b"not json", b"{", b'{"pay_rate": NaN}', b'{"a": Infinity}', b'{"a": 1, "a": 2}', b"\xff"],
)
def test_bad_json_is_refused_for_the_whole_event(body: bytes) -> None:
    (error,) = _refusal(body)
    assert error["field"] == "(event)"
    assert error["reason"].startswith("not valid JSON")


@pytest.mark.parametrize("body", [b"[]", b'"ContractSigned"', b"null", b"42"])
def test_json_that_is_not_an_object_is_refused(body: bytes) -> None:
    assert _refusal(body) == [{"field": "(event)", "reason": "must be a JSON object"}]


def test_an_unknown_type_is_refused_naming_type_and_listing_the_known_types() -> None:
    (error,) = _refusal(example("ContractSigned", type="ContractSnigned"))
    assert error["field"] == "type"
    assert error["reason"].startswith("unknown event type 'ContractSnigned'; known types: ")
    listed = error["reason"].split("known types: ")[1].split(", ")
    assert sorted(listed) == sorted(EVENT_TYPE_NAMES)


def test_a_missing_type_is_refused_naming_type() -> None:
    (error,) = _refusal(example("ContractSigned", type=OMIT))
    assert error["field"] == "type"
    assert error["reason"].startswith(
        "required; known types: AccountManagerChanged, AssignmentEnded, "
    )


def test_every_refused_field_is_listed_with_its_reason_and_the_union_tag_is_dropped() -> None:
    submitted = example(
        "AssignmentStarted", pay_rate="-1", bill_rate=OMIT, contract_id="has space", bonus="1"
    )
    with pytest.raises(EventValidationError) as refused:
        decode_event(submitted)
    assert refused.value.errors == [
        {
            "field": "contract_id",
            "reason": ID_REFUSED,
        },
        {"field": "pay_rate", "reason": "must be greater than 0"},
        {"field": "bill_rate", "reason": "required"},
        {"field": "bonus", "reason": "unknown field: AssignmentStarted has no field 'bonus'"},
    ]
    message = str(refused.value)
    assert "pay_rate: must be greater than 0" in message
    assert "bonus: unknown field" in message
    assert isinstance(refused.value, ValueError)


def test_the_error_survives_pickling() -> None:
    error = EventValidationError([{"field": "pay_rate", "reason": "must be greater than 0"}])
    copy = pickle.loads(pickle.dumps(error))
    assert copy.errors == error.errors
    assert str(copy) == "pay_rate: must be greater than 0"


def test_a_decoded_mapping_is_not_modified() -> None:
    submitted = example("RaiseDeclined", **STAMPS, expected_stream_version=3)
    snapshot = dict(submitted)
    with pytest.raises(EventValidationError):
        parse_submission(submitted)
    decode_event(example("RaiseDeclined"))
    assert submitted == snapshot


# Submissions ---------------------------------------------------------------------------------


def test_a_submission_yields_the_event_and_its_expected_stream_version() -> None:
    submitted = example("ContractSigned", expected_stream_version=0)
    event, expected = parse_submission(submitted)
    assert isinstance(event, ContractSigned)
    assert expected == 0
    assert event.event_id == uuid.UUID(submitted["event_id"])


def test_a_submission_without_expected_stream_version_yields_none() -> None:
    event, expected = parse_submission(encode_json(example("MarkupAgreed")))
    assert isinstance(event, MarkupAgreed)
    assert expected is None


@pytest.mark.parametrize("bad", [-1, "3", True, Decimal("2.0")])
def test_expected_stream_version_must_be_a_non_negative_integer(bad: object) -> None:
    with pytest.raises(EventValidationError) as refused:
        parse_submission(example("MarkupAgreed", expected_stream_version=bad))
    assert refused.value.errors == [
        {"field": "expected_stream_version", "reason": "must be an integer >= 0"}
    ]


@pytest.mark.parametrize("field", sorted(STAMPS))
def test_a_submission_may_not_set_what_the_service_stamps(field: str) -> None:
    with pytest.raises(EventValidationError) as refused:
        parse_submission(example("ClientContactLogged", **{field: STAMPS[field]}))
    assert refused.value.errors == [
        {"field": field, "reason": "set by the service; do not send it"}
    ]


def test_a_stamped_field_sent_as_null_is_still_refused() -> None:
    with pytest.raises(EventValidationError) as refused:
        parse_submission(example("ClientContactLogged", stream_version=None))
    assert [error["field"] for error in refused.value.errors] == ["stream_version"]


def test_a_submission_reports_stamps_and_shape_errors_together() -> None:
    with pytest.raises(EventValidationError) as refused:
        parse_submission(example("RaiseApproved", recorded_by="me", new_pay_rate="0"))
    assert refused.value.errors == [
        {"field": "recorded_by", "reason": "set by the service; do not send it"},
        {"field": "new_pay_rate", "reason": "must be greater than 0"},
    ]


def test_the_log_keeps_the_stamps_the_service_set() -> None:
    event = decode_event(example("RaiseDeclined", **STAMPS))
    assert event.recorded_by == "svc.writer"
    assert event.stream_version == 7
    assert event.recorded_at == datetime(2024, 3, 1, 9, 0, 1, 250000, tzinfo=UTC)


def test_stream_version_counts_from_one() -> None:
    errors = _refusal(example("RaiseDeclined", stream_version=0))
    assert [error["field"] for error in errors] == ["stream_version"]


# Generic JSON --------------------------------------------------------------------------------


def test_encode_json_and_decode_json_keep_decimals_exact() -> None:
    payload = {
        "amount": Decimal("0.10"),
        "when": datetime(2024, 3, 1, 9, tzinfo=UTC),
        "day": date(2024, 3, 1),
        "id": uuid.UUID(int=1),
        "nested": [Decimal("1E+2"), None],
    }
    encoded = encode_json(payload)
    assert encoded == (
        b'{"amount":"0.10","when":"2024-03-01T09:00:00Z","day":"2024-03-01",'
        b'"id":"00000000-0000-0000-0000-000000000001","nested":["1E+2",null]}'
    )
    assert decode_json(b'{"x": 0.10, "y": [1.5e3], "n": 3}') == {
        "x": Decimal("0.10"),
        "y": [Decimal("1.5e3")],
        "n": 3,
    }
    assert type(decode_json("2")) is int


def test_encode_json_serializes_events_like_encode_event_with_none_kept() -> None:
    event = decode_event(example("ClientContactLogged", note=OMIT))
    assert json.loads(encode_json(event))["note"] is None
    assert "note" not in json.loads(encode_event(event))


@pytest.mark.parametrize("body", [b"NaN", b"[-Infinity]", b'{"k": 1, "k": 1}'])
def test_decode_json_refuses_non_numbers_and_repeated_keys(body: bytes) -> None:
    with pytest.raises(ValueError):
        decode_json(body)


def test_decode_json_accepts_bytearray_and_memoryview() -> None:
    data: Any = b'{"a": 1.25}'
    assert decode_json(bytearray(data)) == decode_json(memoryview(data)) == {"a": Decimal("1.25")}


def test_an_occurred_at_more_than_a_day_ahead_of_the_clock_is_refused() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    ahead = example("ClientContactLogged", occurred_at="2027-01-15T09:00:00+00:00")
    with pytest.raises(EventValidationError) as refused:
        parse_submission(ahead, now=now)
    assert refused.value.code == "occurred_in_future"
    [error] = refused.value.errors
    assert error["field"] == "occurred_at"
    assert error["reason"].startswith("occurred_in_future: 2027-01-15T09:00:00+00:00 is 38 days")
    # A day ahead is the limit (clocks and time zones differ); without a clock, no check.
    assert parse_submission({**ahead, "occurred_at": "2026-12-08T12:00:00+00:00"}, now=now)
    assert parse_submission(ahead)[0].occurred_at.year == 2027


@pytest.mark.parametrize("bad", [".", ".."])
def test_an_id_no_url_can_reach_is_refused(bad: str) -> None:
    """Issue #21: `.` and `..` were accepted, and no URL path reaches them (dot-segments)."""
    with pytest.raises(EventValidationError) as refused:
        parse_submission(example("ClientContactLogged", contract_id=bad))
    assert refused.value.errors == [{"field": "contract_id", "reason": ID_REFUSED}]
    assert parse_submission(example("ClientContactLogged", contract_id="..."))


# read_head: a logged event's head from its bytes -------------------------------------------


@pytest.mark.parametrize("type_name", EVENT_TYPE_NAMES)
@pytest.mark.parametrize("stamps", [STAMPS, {"stream_version": 3}])
def test_the_head_of_an_event_as_the_writer_logs_it_is_read_from_its_bytes(
    type_name: str, stamps: dict[str, Any]
) -> None:
    event = decode_event(example(type_name, **stamps))
    head = read_head(encode_event(event))
    assert head is not None
    assert (head.event_id, head.type, head.contract_id, head.stream_version) == (
        event.event_id.bytes,
        type_name,
        event.contract_id,
        stamps["stream_version"],
    )
    # What the content hash hashes: the event without what the service stamped.
    unstamped = event.__pydantic_serializer__.to_json(
        event, exclude_none=True, exclude=set(STAMPED_FIELDS)
    )
    assert head.content == unstamped


def _spaced(data: bytes) -> bytes:
    return json.dumps(json.loads(data)).encode()


def _reordered(data: bytes) -> bytes:
    raw = json.loads(data)
    return json.dumps(dict(reversed(raw.items())), separators=(",", ":")).encode()


def _upper_id(data: bytes) -> bytes:
    raw = json.loads(data)
    return data.replace(raw["event_id"].encode(), raw["event_id"].upper().encode())


def _version_1(data: bytes) -> bytes:
    return data.replace(b'"schema_version":2', b'"schema_version":1')


@pytest.mark.parametrize("rewrite", [_spaced, _reordered, _upper_id, _version_1])
def test_bytes_not_as_encode_event_writes_the_current_version_have_no_head(rewrite: Any) -> None:
    data = rewrite(encode_event(decode_event(example("ContractSigned", **STAMPS))))
    assert read_head(data) is None
    assert decode_event(data).type == "ContractSigned"  # the careful path reads them


def test_an_unknown_type_or_an_event_not_yet_appended_has_no_head() -> None:
    logged = encode_event(decode_event(example("ClientContactLogged", **STAMPS)))
    assert read_head(logged.replace(b"ClientContactLogged", b"ClientContactLost")) is None
    assert read_head(encode_event(decode_event(example("ClientContactLogged")))) is None
