"""The catalogue of DESIGN.md: the event types, their fields and their shape rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from events import (
    EVENT_TYPES,
    RELATIONSHIP_EVENT_TYPES,
    AssignmentStarted,
    ContractAmended,
    Event,
    EventValidationError,
    FieldError,
    RaiseApproved,
    decode_event,
    event_json_schemas,
)
from simulation.examples import EVENT_TYPE_NAMES, OMIT, example

DESIGN_EVENT_TYPES = {
    "ContractSigned",
    "ContractAmended",
    "AccountManagerChanged",  # issue #25: a contract handed over to another account manager
    "ContractTerminated",
    "AssignmentStarted",
    "RatesAdjusted",
    "AssignmentEnded",
    "MarkupNegotiationOpened",
    "MarkupProposed",
    "MarkupAgreed",
    "MarkupNegotiationClosed",
    "RaiseRequested",
    "RaiseApproved",
    "RaiseDeclined",
    "BypassThreatReported",
    "ClientComplaintLogged",
    "ClientContactLogged",
    "HoursReported",
}

_OVERTIME = ("ot_pay_rate", "ot_bill_rate", "dt_pay_rate", "dt_bill_rate")
RATE_FIELDS = {
    "AssignmentStarted": ("pay_rate", "bill_rate", *_OVERTIME),
    "RatesAdjusted": ("pay_rate", "bill_rate", *_OVERTIME),
    "RaiseRequested": ("requested_pay_rate", "client_max_bill_rate"),
    "RaiseApproved": ("new_pay_rate", "new_bill_rate", *(f"new_{r}" for r in _OVERTIME)),
}

DATE_PAIRS = {
    "ContractSigned": ("start_date", "end_date"),
    "ContractAmended": ("start_date", "end_date"),
    "AssignmentStarted": ("start_date", "expected_end_date"),
}


def _refusal(data: dict[str, Any]) -> list[FieldError]:
    with pytest.raises(EventValidationError) as refused:
        decode_event(data)
    return refused.value.errors


def _reasons(errors: list[FieldError], field: str) -> list[str]:
    return [error["reason"] for error in errors if error["field"] == field]


def _decimal_fields(type_name: str) -> list[str]:
    # A decimal field is one whose JSON schema accepts a number: integers are "integer".
    def accepts_number(schema: dict[str, Any]) -> bool:
        if schema.get("type") == "number":
            return True
        return any(accepts_number(option) for option in schema.get("anyOf", []))

    properties = event_json_schemas()[type_name]["properties"]
    return [name for name, schema in properties.items() if accepts_number(schema)]


DECIMAL_FIELDS = [(name, field) for name in EVENT_TYPE_NAMES for field in _decimal_fields(name)]


def test_the_union_holds_exactly_the_event_types_of_design() -> None:
    assert set(EVENT_TYPES) == DESIGN_EVENT_TYPES
    assert set(EVENT_TYPE_NAMES) == DESIGN_EVENT_TYPES
    union_members = get_args(get_args(Event)[0])
    assert {member.__name__ for member in union_members} == DESIGN_EVENT_TYPES


def test_each_model_is_named_after_its_type_and_registered_under_it() -> None:
    for name, model in EVENT_TYPES.items():
        assert model.__name__ == name
        assert model.model_fields["type"].default == name


def test_the_relationship_events_are_those_allowed_after_termination() -> None:
    assert {"BypassThreatReported", "ClientComplaintLogged", "ClientContactLogged"} == (
        RELATIONSHIP_EVENT_TYPES
    )
    assert not EVENT_TYPES["ContractTerminated"].RELATIONSHIP_EVENT


@pytest.mark.parametrize("type_name", EVENT_TYPE_NAMES)
def test_a_valid_example_of_each_type_is_accepted(type_name: str) -> None:
    event = decode_event(example(type_name))
    assert type(event).__name__ == type_name
    assert event.schema_version == type(event).SCHEMA_VERSION
    assert event.recorded_by is None and event.stream_version is None


@pytest.mark.parametrize("type_name", EVENT_TYPE_NAMES)
def test_an_unknown_field_is_refused_naming_it(type_name: str) -> None:
    errors = _refusal(example(type_name, discount_code="X"))
    assert errors == [
        {
            "field": "discount_code",
            "reason": f"unknown field: {type_name} has no field 'discount_code'",
        }
    ]


@pytest.mark.parametrize("type_name", EVENT_TYPE_NAMES)
def test_events_are_frozen(type_name: str) -> None:
    event = decode_event(example(type_name))
    with pytest.raises(ValidationError):
        event.contract_id = "C-2"  # type: ignore[misc]


def test_the_rate_fields_under_test_are_all_the_rate_fields() -> None:
    found = {
        name: tuple(field for field in _decimal_fields(name) if field.endswith("_rate"))
        for name in EVENT_TYPE_NAMES
    }
    assert {name: fields for name, fields in found.items() if fields} == RATE_FIELDS


@pytest.mark.parametrize(
    ("type_name", "field"),
    [(name, field) for name, fields in RATE_FIELDS.items() for field in fields],
)
@pytest.mark.parametrize("rate", ["0", "0.0000", "-0.01", "-37.50"])
def test_a_rate_of_zero_or_less_is_refused_naming_the_field(
    type_name: str, field: str, rate: str
) -> None:
    assert _reasons(_refusal(example(type_name, **{field: rate})), field) == [
        "must be greater than 0"
    ]


@pytest.mark.parametrize(
    ("type_name", "field"),
    [(name, field) for name, fields in RATE_FIELDS.items() for field in fields],
)
def test_a_rate_with_five_decimal_places_is_refused(type_name: str, field: str) -> None:
    reasons = _reasons(_refusal(example(type_name, **{field: "37.12345"})), field)
    assert reasons == ["must have no more than 4 decimal places"]
    accepted = decode_event(example(type_name, **{field: "37.1234"}))
    assert getattr(accepted, field) == Decimal("37.1234")


@pytest.mark.parametrize(("type_name", "field"), DECIMAL_FIELDS)
def test_a_float_is_refused_for_every_decimal_field(type_name: str, field: str) -> None:
    reasons = _reasons(_refusal(example(type_name, **{field: 12.5})), field)
    assert reasons == ['send decimals as strings like "37.50", not floats']


@pytest.mark.parametrize(("type_name", "field"), DECIMAL_FIELDS)
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", Decimal("NaN"), True])
def test_nan_infinity_and_booleans_are_refused_for_every_decimal_field(
    type_name: str, field: str, value: object
) -> None:
    assert _reasons(_refusal(example(type_name, **{field: value})), field)


def test_every_decimal_field_of_design_is_covered() -> None:
    assert {field for _, field in DECIMAL_FIELDS} == {
        "markup_floor_pct",
        "burden_pct",
        "msp_fee_pct",
        "conversion_fee_pct",
        "conversion_fee_waived_after_hours",
        "pay_rate",
        "bill_rate",
        "hours_per_week",
        "markup_pct",
        "requested_pay_rate",
        "client_max_bill_rate",
        "new_pay_rate",
        "new_bill_rate",
        # Overtime (schema version 2; HoursReported)
        *_OVERTIME,
        *(f"new_{r}" for r in _OVERTIME),
        "ot_bill_multiplier",
        "dt_bill_multiplier",
        "planned_ot_hours_per_week",
        "ot_markup_pct",
        "regular_hours",
        "ot_hours",
        "dt_hours",
    }


@pytest.mark.parametrize(("type_name", "fields"), DATE_PAIRS.items())
def test_an_end_date_before_the_start_date_is_refused_naming_the_end_date(
    type_name: str, fields: tuple[str, str]
) -> None:
    start, end = fields
    errors = _refusal(example(type_name, **{start: "2024-05-02", end: "2024-05-01"}))
    assert errors == [
        {"field": end, "reason": f"{end} 2024-05-01 is before {start} 2024-05-02"},
    ]


@pytest.mark.parametrize(("type_name", "fields"), DATE_PAIRS.items())
def test_an_end_date_on_the_start_date_is_accepted(type_name: str, fields: tuple[str, str]) -> None:
    start, end = fields
    event = decode_event(example(type_name, **{start: "2024-05-02", end: "2024-05-02"}))
    assert getattr(event, end) == getattr(event, start)


def test_an_invalid_start_date_is_reported_once_and_the_end_date_not_at_all() -> None:
    errors = _refusal(example("ContractSigned", start_date="someday", end_date="2024-01-01"))
    assert [error["field"] for error in errors] == ["start_date"]


def test_a_bill_rate_below_the_pay_rate_is_accepted() -> None:
    started = decode_event(example("AssignmentStarted", pay_rate="32.00", bill_rate="30.00"))
    assert isinstance(started, AssignmentStarted)
    assert started.bill_rate < started.pay_rate
    approved = decode_event(example("RaiseApproved", new_pay_rate="40", new_bill_rate="39.99"))
    assert isinstance(approved, RaiseApproved)
    assert approved.new_bill_rate == Decimal("39.99")


@pytest.mark.parametrize("hours", ["0", "-1", "168.5", "168.0001"])
def test_hours_per_week_outside_zero_to_168_are_refused(hours: str) -> None:
    errors = _refusal(example("AssignmentStarted", hours_per_week=hours))
    assert [error["field"] for error in errors] == ["hours_per_week"]


@pytest.mark.parametrize("hours", ["168", "0.5", 40])
def test_hours_per_week_inside_zero_to_168_are_accepted(hours: str | int) -> None:
    event = decode_event(example("AssignmentStarted", hours_per_week=hours))
    assert isinstance(event, AssignmentStarted)
    assert event.hours_per_week == Decimal(hours)


PCT_FIELDS = [
    ("ContractSigned", "markup_floor_pct"),
    ("ContractSigned", "burden_pct"),
    ("ContractSigned", "msp_fee_pct"),
    ("ContractSigned", "conversion_fee_pct"),
    ("ContractAmended", "burden_pct"),
    ("AssignmentStarted", "burden_pct"),
    ("MarkupProposed", "markup_pct"),
    ("MarkupAgreed", "markup_pct"),
]


@pytest.mark.parametrize(("type_name", "field"), PCT_FIELDS)
def test_percentages_outside_minus_100_to_1000_are_refused(type_name: str, field: str) -> None:
    assert _reasons(_refusal(example(type_name, **{field: "-100.01"})), field) == [
        "must be greater than or equal to -100"
    ]
    assert _reasons(_refusal(example(type_name, **{field: "1000.01"})), field) == [
        "must be less than or equal to 1000"
    ]


# Narrower than DESIGN's [-100, 1000] where the formulas have no answer at the bound.
NARROWER = {"msp_fee_pct": ("-100", "99.99"), "markup_pct": ("-99.99", "1000")}


@pytest.mark.parametrize(("type_name", "field"), PCT_FIELDS)
def test_percentages_at_the_bounds_are_accepted(type_name: str, field: str) -> None:
    for value in (*NARROWER.get(field, ("-100", "1000")), "0", "17.1875"):
        assert getattr(decode_event(example(type_name, **{field: value})), field) == Decimal(value)


def test_an_msp_fee_of_100_pct_and_a_markup_of_minus_100_pct_are_refused() -> None:
    assert _reasons(_refusal(example("ContractSigned", msp_fee_pct="100")), "msp_fee_pct") == [
        "must be less than 100"
    ]
    assert _reasons(_refusal(example("MarkupAgreed", markup_pct="-100")), "markup_pct") == [
        "must be greater than -100"
    ]


@pytest.mark.parametrize("type_name", ["BypassThreatReported", "ClientComplaintLogged"])
def test_a_description_is_at_most_4000_characters_and_not_blank(type_name: str) -> None:
    assert decode_event(example(type_name, description="x" * 4000))
    assert _reasons(_refusal(example(type_name, description="x" * 4001)), "description") == [
        "must have at most 4000 characters"
    ]
    assert _reasons(_refusal(example(type_name, description=" \n ")), "description") == [
        "must not be empty or only whitespace"
    ]


@pytest.mark.parametrize(
    ("type_name", "field"),
    [
        ("ContractTerminated", "reason"),
        ("RatesAdjusted", "reason"),
        ("RaiseDeclined", "reason"),
        ("MarkupProposed", "note"),
        ("ClientContactLogged", "note"),
        ("AssignmentStarted", "job_title"),
        ("ContractSigned", "client_name"),
    ],
)
def test_short_texts_are_bounded_and_not_empty(type_name: str, field: str) -> None:
    assert _reasons(_refusal(example(type_name, **{field: "y" * 1001})), field)
    assert _reasons(_refusal(example(type_name, **{field: ""})), field)


@pytest.mark.parametrize(
    ("type_name", "field"),
    [
        ("ContractSigned", "min_assignment_weeks"),
        ("ContractSigned", "non_solicit_months"),
        ("ContractAmended", "min_assignment_weeks"),
    ],
)
def test_counts_must_be_json_integers(type_name: str, field: str) -> None:
    for value in ("12", True, Decimal("12.0"), 12.0):
        assert _reasons(_refusal(example(type_name, **{field: value})), field)


def test_count_bounds() -> None:
    assert _reasons(
        _refusal(example("ContractSigned", min_assignment_weeks=0)), "min_assignment_weeks"
    )
    assert _reasons(
        _refusal(example("ContractSigned", non_solicit_months=-1)), "non_solicit_months"
    )
    assert decode_event(example("ContractSigned", non_solicit_months=0))
    hours = "conversion_fee_waived_after_hours"
    assert _reasons(_refusal(example("ContractSigned", **{hours: "-1"})), hours)
    assert decode_event(example("ContractSigned", **{hours: "0"}))


def _enumerated_fields() -> list[tuple[str, str, list[str]]]:
    """(event type, field, DESIGN's values) of every field whose JSON schema enumerates them."""
    return [
        (type_name, field, prop["enum"])
        for type_name, schema in sorted(event_json_schemas().items())
        for field, prop in schema["properties"].items()
        if "enum" in prop
    ]


ENUMERATED = _enumerated_fields()


def test_the_enumerations_of_design() -> None:
    # Read from the schemas, so that none is forgotten; these are DESIGN's, at the least.
    assert {f"{t}.{f}" for t, f, _ in ENUMERATED} >= {
        "AssignmentEnded.reason",
        "BypassThreatReported.kind",
        "ClientComplaintLogged.about",
        "ClientContactLogged.channel",
        "ClientContactLogged.direction",
        "MarkupNegotiationClosed.outcome",
        "MarkupNegotiationOpened.initiated_by",
        "MarkupProposed.proposed_by",
        "RaiseRequested.requested_by",
    }


@pytest.mark.parametrize(("type_name", "field", "values"), ENUMERATED)
def test_enumerations_accept_their_values_and_refuse_others(
    type_name: str, field: str, values: list[str]
) -> None:
    for value in values:
        assert getattr(decode_event(example(type_name, **{field: value})), field) == value
    (reason,) = _reasons(_refusal(example(type_name, **{field: "outside_design"})), field)
    assert reason.startswith("must be ")


@pytest.mark.parametrize("field", ["legal_threat"])
def test_booleans_are_strict(field: str) -> None:
    for value in ("no", 0, "false"):
        assert _reasons(_refusal(example("ClientComplaintLogged", **{field: value})), field)
    assert decode_event(example("ClientComplaintLogged", legal_threat=True))


@pytest.mark.parametrize(
    ("type_name", "field"),
    [
        ("ContractSigned", "end_date"),
        ("ContractSigned", "msp_fee_pct"),
        ("ContractSigned", "min_assignment_weeks"),
        ("ContractSigned", "conversion_fee_waived_after_hours"),
        ("AssignmentStarted", "staffer_name"),
        ("AssignmentStarted", "burden_pct"),
        ("MarkupNegotiationOpened", "assignment_id"),
        ("MarkupProposed", "note"),
        ("MarkupNegotiationClosed", "note"),
        ("RaiseRequested", "client_max_bill_rate"),
        ("BypassThreatReported", "assignment_id"),
        ("BypassThreatReported", "staffer_id"),
        ("ClientContactLogged", "note"),
    ],
)
def test_optional_fields_of_design_may_be_left_out(type_name: str, field: str) -> None:
    assert getattr(decode_event(example(type_name, **{field: OMIT})), field) is None


@pytest.mark.parametrize(
    ("type_name", "field"),
    [
        ("ContractSigned", "client_id"),
        ("ContractSigned", "burden_pct"),
        ("ContractSigned", "non_solicit_months"),
        ("AssignmentStarted", "expected_end_date"),
        ("ClientComplaintLogged", "legal_threat"),
        ("ContractAmended", "effective_date"),
        ("RaiseRequested", "requested_by"),
    ],
)
def test_required_fields_are_reported_missing(type_name: str, field: str) -> None:
    assert _reasons(_refusal(example(type_name, **{field: OMIT})), field) == ["required"]


def test_contract_amended_needs_at_least_one_term() -> None:
    bare = {k: v for k, v in example("ContractAmended").items() if k not in ContractAmended.TERMS}
    errors = _refusal(bare)
    assert [error["field"] for error in errors] == ["(event)"]
    assert errors[0]["reason"].startswith("amends nothing: give at least one of client_name,")


def test_contract_amended_accepts_a_single_term_and_lists_what_it_amends() -> None:
    bare = {k: v for k, v in example("ContractAmended").items() if k not in ContractAmended.TERMS}
    event = decode_event({**bare, "markup_floor_pct": "15"})
    assert isinstance(event, ContractAmended)
    assert event.amended_terms() == {"markup_floor_pct": Decimal("15")}


def test_contract_amended_cannot_change_the_ids() -> None:
    for id_field in ("client_id", "account_manager_id"):
        assert _reasons(_refusal(example("ContractAmended", **{id_field: "X"})), id_field)


def test_contract_amended_without_both_dates_does_not_compare_them() -> None:
    event = decode_event(example("ContractAmended", start_date=OMIT, end_date="2000-01-01"))
    assert isinstance(event, ContractAmended)


def test_occurred_at_must_carry_a_timezone() -> None:
    errors = _refusal(example("ClientContactLogged", occurred_at="2024-03-01T09:00:00"))
    assert errors == [{"field": "occurred_at", "reason": "must have timezone info"}]


def test_schema_version_must_be_the_current_one_on_a_model() -> None:
    with pytest.raises(ValidationError, match="must be 1 once upcast; got 2"):
        EVENT_TYPES["RaiseDeclined"].model_validate(example("RaiseDeclined", schema_version=2))
