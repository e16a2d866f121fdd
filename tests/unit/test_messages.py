"""The submissions and verdicts topics' messages: their shape, their wire form, the refusals."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from events import AssignmentStarted, EventValidationError, FieldError, encode_event
from events.messages import (
    REFUSALS,
    Submission,
    Submitter,
    Verdict,
    decode_submission,
    decode_verdict,
    encode_submission,
    encode_verdict,
)
from simulation.examples import EVENT_TYPE_NAMES, submission

RECORDED_AT = datetime(2024, 3, 1, 9, 0, 1, 250000, tzinfo=UTC)
AM = Submitter(role="account_manager", principal="u.jones", account_manager_id="am.jones")

# DESIGN.md, "What the service refuses", plus the two codes it is silent on.
DESIGN_REFUSALS = {
    "unknown_contract": 404,
    "contract_exists": 409,
    "contract_terminated": 409,
    "unknown_assignment": 404,
    "assignment_exists": 409,
    "assignment_ended": 409,
    "unknown_negotiation": 404,
    "negotiation_closed": 409,
    "unknown_raise_request": 404,
    "raise_request_decided": 409,
    "version_conflict": 409,
    "duplicate_event": 200,
    "event_id_reused": 409,
    "forbidden_contract": 403,
    "negotiation_exists": 409,
    "raise_request_exists": 409,
    # HoursReported (DESIGN "Overtime, hours worked and client health")
    "ot_exempt": 409,
    "week_outside_term": 409,
}


def _submission(
    type_name: str = "AssignmentStarted",
    *,
    submitter: Submitter = AM,
    recorded_at: datetime = RECORDED_AT,
    **fields: Any,
) -> Submission:
    return submission(type_name, submitter=submitter, recorded_at=recorded_at, **fields)


def _wire(submission: Submission) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(encode_submission(submission))
    return raw


def _refused_fields(data: bytes | str) -> list[FieldError]:
    with pytest.raises(EventValidationError) as refused:
        decode_submission(data)
    return refused.value.errors


def _verdict(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "submission_id": uuid.uuid4(),
        "event_id": uuid.uuid4(),
        "contract_id": "C-1001",
        "event_type": "AssignmentStarted",
        "outcome": "accepted",
        "code": None,
        "http_status": 201,
        "message": "AssignmentStarted was accepted on contract C-1001 as stream version 2.",
        "stream_version": 2,
        "decided_at": datetime(2024, 3, 1, 9, 0, 2, tzinfo=UTC),
    }
    return {**fields, **overrides}


# Refusal codes -------------------------------------------------------------------------------


def test_every_refusal_code_has_the_http_status_of_design() -> None:
    assert {code: r.http_status for code, r in REFUSALS.items()} == DESIGN_REFUSALS
    for code, refusal in REFUSALS.items():
        assert refusal.code == code
        assert refusal.summary.strip()


def test_the_refusal_table_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        REFUSALS["unknown_contract"] = REFUSALS["contract_exists"]  # type: ignore[index]


# Submissions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("type_name", EVENT_TYPE_NAMES)
def test_a_submission_of_every_event_type_survives_the_topic(type_name: str) -> None:
    submission = _submission(type_name, expected=3)
    encoded = encode_submission(submission)
    assert isinstance(encoded, bytes)
    assert decode_submission(encoded) == submission
    assert decode_submission(encoded.decode()) == submission


def test_the_event_inside_is_written_exactly_as_on_the_events_topic() -> None:
    submission = _submission("RaiseRequested")
    assert json.loads(encode_submission(submission))["event"] == json.loads(
        encode_event(submission.event)
    )


def test_decimals_cross_the_topic_exactly_as_written() -> None:
    submission = _submission("AssignmentStarted", pay_rate="30.10", bill_rate="37.5000")
    raw = _wire(submission)
    assert raw["event"]["pay_rate"] == "30.10"
    decoded = decode_submission(encode_submission(submission)).event
    assert isinstance(decoded, AssignmentStarted)
    assert str(decoded.pay_rate) == "30.10"
    assert str(decoded.bill_rate) == "37.5000"


def test_json_numbers_in_a_submission_are_read_as_decimals_not_floats() -> None:
    body = encode_submission(_submission("AssignmentStarted")).replace(
        b'"pay_rate":"30.00"', b'"pay_rate":30.10'
    )
    event = decode_submission(body).event
    assert isinstance(event, AssignmentStarted)
    assert event.pay_rate == Decimal("30.10")
    assert str(event.pay_rate) == "30.10"


@given(
    pay=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("999999"), places=4),
    markup=st.decimals(min_value=Decimal("-99.9999999999"), max_value=Decimal("1000"), places=10),
)
def test_any_rate_and_percentage_round_trip_to_the_same_digits(
    pay: Decimal, markup: Decimal
) -> None:
    started = _submission("AssignmentStarted", pay_rate=str(pay))
    proposed = _submission("MarkupProposed", markup_pct=str(markup))
    started_back = decode_submission(encode_submission(started)).event
    proposed_back = decode_submission(encode_submission(proposed)).event
    assert isinstance(started_back, AssignmentStarted)
    assert str(started_back.pay_rate) == str(pay)
    assert proposed_back == proposed.event


def test_the_event_inside_goes_through_the_upcasters() -> None:
    raw = _wire(_submission())
    del raw["event"]["schema_version"]
    # An event written before schema_version existed is version 1: the upcasters lift it to
    # AssignmentStarted's current version 2.
    assert decode_submission(json.dumps(raw)).event.schema_version == 2
    raw["event"]["schema_version"] = 99
    errors = _refused_fields(json.dumps(raw))
    assert [e["field"] for e in errors] == ["event.schema_version"]
    assert "newer than this service knows" in errors[0]["reason"]


def test_a_bad_event_is_refused_naming_its_field_under_event() -> None:
    raw = _wire(_submission())
    raw["event"]["pay_rate"] = "-3"
    raw["event"]["colour"] = "red"
    errors = _refused_fields(json.dumps(raw))
    assert {e["field"] for e in errors} == {"event.pay_rate", "event.colour"}


def test_every_problem_of_envelope_and_event_is_reported_at_once() -> None:
    raw = _wire(_submission())
    raw["event"]["hours_per_week"] = "200"
    raw["expected_stream_version"] = -1
    raw["priority"] = "high"
    del raw["submitter"]["account_manager_id"]
    errors = {e["field"]: e["reason"] for e in _refused_fields(json.dumps(raw))}
    assert set(errors) == {
        "event.hours_per_week",
        "expected_stream_version",
        "priority",
        "submitter.account_manager_id",
    }
    assert "submission has no field 'priority'" in errors["priority"]
    assert errors["submitter.account_manager_id"] == "required when role is account_manager"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event": "AssignmentStarted"}, "event"),
        ({"event": None}, "event"),
        ({"submission_id": "not-a-uuid"}, "submission_id"),
        ({"expected_stream_version": True}, "expected_stream_version"),
        ({"expected_stream_version": "3"}, "expected_stream_version"),
        ({"submitter": {"role": "auditor", "principal": "u.x"}}, "submitter.role"),
        ({"submitter": {"role": "admin", "principal": "bad id!"}}, "submitter.principal"),
    ],
)
def test_a_malformed_envelope_is_refused_naming_the_field(
    change: dict[str, Any], field: str
) -> None:
    raw = {**_wire(_submission()), **change}
    assert field in {e["field"] for e in _refused_fields(json.dumps(raw))}


def test_a_missing_event_is_refused_as_required() -> None:
    raw = _wire(_submission())
    del raw["event"]
    assert _refused_fields(json.dumps(raw)) == [FieldError(field="event", reason="required")]


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'"x"', b'{"a": 1, "a": 2}', b"\xff"])
def test_what_is_not_a_json_object_is_refused_not_crashed_on(body: bytes) -> None:
    assert _refused_fields(body)


def test_the_writer_alone_sets_the_stream_version() -> None:
    raw = _wire(_submission())
    raw["event"]["stream_version"] = 4
    errors = _refused_fields(json.dumps(raw))
    assert [e["field"] for e in errors] == ["event"]
    assert "stream_version" in errors[0]["reason"]


def test_only_an_account_manager_has_and_must_have_an_account_manager_id() -> None:
    with pytest.raises(ValidationError, match="account_manager_id"):
        Submitter(role="account_manager", principal="u.jones")
    with pytest.raises(ValidationError, match="account_manager_id"):
        Submitter(role="finance", principal="u.kim", account_manager_id="am.kim")
    assert Submitter(role="admin", principal="u.root").account_manager_id is None


def test_messages_are_frozen() -> None:
    submission = _submission()
    with pytest.raises(ValidationError):
        submission.expected_stream_version = 9  # type: ignore[misc]


# Verdicts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"outcome": "duplicate", "code": "duplicate_event", "http_status": 200},
        {
            "outcome": "refused",
            "code": "unknown_assignment",
            "http_status": 404,
            "stream_version": None,
        },
        {
            "decided_at": datetime(2024, 3, 1, 11, 0, tzinfo=timezone(timedelta(hours=2))),
        },
    ],
)
def test_a_verdict_survives_the_topic(fields: dict[str, Any]) -> None:
    verdict = Verdict(**_verdict(**fields))
    encoded = encode_verdict(verdict)
    assert decode_verdict(encoded) == verdict
    back = decode_verdict(encoded)
    assert back.decided_at.utcoffset() == verdict.decided_at.utcoffset()


def test_a_verdict_writes_its_nulls_for_readers_in_any_language() -> None:
    refused = Verdict(
        **_verdict(outcome="refused", code="version_conflict", http_status=409, stream_version=None)
    )
    raw = json.loads(encode_verdict(refused))
    assert raw["stream_version"] is None
    raw = json.loads(encode_verdict(Verdict(**_verdict())))
    assert raw["code"] is None


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"code": "contract_exists"}, "verdict_code"),
        ({"http_status": 200}, "verdict_status"),
        ({"stream_version": None}, "verdict_stream_version"),
        ({"outcome": "duplicate", "code": "duplicate_event"}, "verdict_status"),
        ({"outcome": "duplicate", "code": None, "http_status": 200}, "verdict_code"),
        ({"outcome": "refused", "code": None, "stream_version": None}, "verdict_code"),
        ({"outcome": "refused", "code": "duplicate_event", "stream_version": None}, "verdict_code"),
        (
            {"outcome": "refused", "code": "unknown_contract", "http_status": 409},
            "verdict_status",
        ),
        (
            {"outcome": "refused", "code": "unknown_contract", "http_status": 404},
            "verdict_stream_version",
        ),
        (
            {"outcome": "refused", "code": "rate_limited", "http_status": 201},
            "verdict_status",
        ),
        ({"decided_at": datetime(2024, 3, 1, 9, 0)}, "timezone_aware"),
        ({"message": ""}, "string_too_short"),
    ],
)
def test_an_incoherent_verdict_cannot_be_built(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Verdict(**_verdict(**fields))
    assert problem in {error["type"] for error in refused.value.errors()}


def test_a_refusal_code_beyond_the_table_is_allowed_with_an_error_status() -> None:
    verdict = Verdict(
        **_verdict(outcome="refused", code="rate_limited", http_status=429, stream_version=None)
    )
    assert decode_verdict(encode_verdict(verdict)) == verdict


def test_a_malformed_verdict_is_refused_naming_the_field() -> None:
    raw = json.loads(encode_verdict(Verdict(**_verdict())))
    raw["http_status"] = "201"
    raw["extra"] = 1
    with pytest.raises(EventValidationError) as refused:
        decode_verdict(json.dumps(raw))
    errors = {e["field"]: e["reason"] for e in refused.value.errors}
    assert set(errors) == {"http_status", "extra"}
    assert "verdict has no field 'extra'" in errors["extra"]
