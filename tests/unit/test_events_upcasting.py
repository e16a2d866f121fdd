"""Upcasting old schema versions on read."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from events import (
    CURRENT_SCHEMA_VERSION,
    UPCASTERS,
    AssignmentStarted,
    ContractSigned,
    EventValidationError,
    RatesAdjusted,
    SchemaVersionError,
    Upcasters,
    decode_event,
    parse_submission,
)
from simulation.examples import EVENT_TYPE_NAMES, example

VERSION_2 = {
    "ContractSigned",
    "ContractAmended",
    "AssignmentStarted",
    "RatesAdjusted",
    "RaiseApproved",
    "MarkupAgreed",
}


def test_the_overtime_types_are_at_version_two_and_the_others_at_one() -> None:
    assert CURRENT_SCHEMA_VERSION == 1
    for type_name in EVENT_TYPE_NAMES:
        assert UPCASTERS.current_version(type_name) == (2 if type_name in VERSION_2 else 1)


@pytest.mark.parametrize(
    ("model", "read_as"),
    [
        # The contract bills OT and DT at the default multipliers.
        (ContractSigned, {"ot_bill_multiplier": Decimal("1.5"), "dt_bill_multiplier": Decimal(2)}),
        # The assignment plans no overtime, is not exempt and its rates give no OT rate.
        (
            AssignmentStarted,
            {
                "planned_ot_hours_per_week": Decimal(0),
                "ot_exempt": False,
                "ot_pay_rate": None,
                "ot_bill_rate": None,
            },
        ),
    ],
)
def test_a_v1_event_reads_with_the_defaults_of_the_v2_fields(
    model: type[ContractSigned | AssignmentStarted], read_as: dict[str, Any]
) -> None:
    raw = example(model.__name__, schema_version=1)
    for field in read_as:
        raw.pop(field, None)  # written before they existed
    event = decode_event(raw)
    assert isinstance(event, model)
    assert event.schema_version == 2
    assert {field: getattr(event, field) for field in read_as} == read_as


@pytest.mark.parametrize(
    "type_name", ["ContractAmended", "RatesAdjusted", "RaiseApproved", "MarkupAgreed"]
)
def test_the_other_v1_types_read_as_they_were(type_name: str) -> None:
    raw = example(type_name, schema_version=1)
    event = decode_event(raw)
    assert event.schema_version == 2
    assert decode_event({**raw, "schema_version": 2}) == event


def test_a_v1_event_cannot_carry_a_field_of_v2() -> None:
    raw = example("RatesAdjusted", schema_version=1, ot_pay_rate="45.00")
    # Lifted to v2 it is a valid v2 event: an upcaster adds, it never removes what was sent.
    event = decode_event(raw)
    assert isinstance(event, RatesAdjusted)
    assert event.ot_pay_rate == Decimal("45.00")


def test_a_registered_upcaster_lifts_a_raw_event_from_v1_to_v2() -> None:
    upcasters = Upcasters({"RatesAdjusted": 2})

    @upcasters.register("RatesAdjusted", from_version=1)
    def rename_reason(raw: dict[str, Any]) -> dict[str, Any]:
        raw["why"] = raw.pop("reason")
        return raw

    original = {"type": "RatesAdjusted", "schema_version": 1, "reason": "annual review"}
    lifted = upcasters.upcast(original)
    assert lifted == {"type": "RatesAdjusted", "schema_version": 2, "why": "annual review"}
    assert original == {"type": "RatesAdjusted", "schema_version": 1, "reason": "annual review"}
    assert upcasters.upcast(lifted) == lifted


def test_upcasters_chain_in_order_and_a_missing_version_means_v1() -> None:
    upcasters = Upcasters({"MarkupProposed": 3})
    seen: list[int] = []

    @upcasters.register("MarkupProposed", from_version=2)
    def second(raw: dict[str, Any]) -> dict[str, Any]:
        seen.append(raw["schema_version"])
        return {**raw, "trail": [*raw["trail"], "v2->v3"]}

    @upcasters.register("MarkupProposed", from_version=1)
    def first(raw: dict[str, Any]) -> dict[str, Any]:
        seen.append(raw.get("schema_version", 1))
        return {**raw, "trail": ["v1->v2"]}

    lifted = upcasters.upcast({"type": "MarkupProposed"})
    assert lifted == {"type": "MarkupProposed", "schema_version": 3, "trail": ["v1->v2", "v2->v3"]}
    assert seen == [1, 2]
    assert upcasters.upcast({"type": "MarkupProposed", "schema_version": 2, "trail": []}) == {
        "type": "MarkupProposed",
        "schema_version": 3,
        "trail": ["v2->v3"],
    }


def test_decode_event_upcasts_with_the_registry_it_is_given() -> None:
    upcasters = Upcasters({"RatesAdjusted": 1, "RaiseDeclined": 1})
    raw = example("RatesAdjusted")
    event = decode_event(raw, upcasters=upcasters)
    assert isinstance(event, RatesAdjusted)


def test_a_version_newer_than_known_is_refused() -> None:
    with pytest.raises(SchemaVersionError) as refused:
        decode_event(example("RatesAdjusted", schema_version=3))
    assert refused.value.errors == [
        {
            "field": "schema_version",
            "reason": "RatesAdjusted v3 is newer than this service knows (v2); "
            "upgrade the service before it reads this event",
        }
    ]
    assert isinstance(refused.value, EventValidationError)


def test_an_old_version_without_an_upcaster_path_is_refused() -> None:
    upcasters = Upcasters({"RatesAdjusted": 3})

    @upcasters.register("RatesAdjusted", from_version=2)
    def never_reached(raw: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("v1 has no way to v2")

    with pytest.raises(SchemaVersionError, match="no upcaster lifts RatesAdjusted from v1 to v2"):
        upcasters.upcast({"type": "RatesAdjusted", "schema_version": 1})


@pytest.mark.parametrize("version", [0, -3, "1", True, None, 1.0])
def test_a_schema_version_that_is_not_a_positive_integer_is_refused(version: object) -> None:
    with pytest.raises(SchemaVersionError) as refused:
        UPCASTERS.upcast({"type": "RaiseDeclined", "schema_version": version})
    assert [error["field"] for error in refused.value.errors] == ["schema_version"]


def test_a_submission_with_a_future_version_is_refused_with_its_other_errors() -> None:
    with pytest.raises(EventValidationError) as refused:
        parse_submission(example("RaiseDeclined", schema_version=9, stream_version=1))
    assert [error["field"] for error in refused.value.errors] == [
        "stream_version",
        "schema_version",
    ]


def test_an_unknown_type_passes_through_for_validation_to_refuse() -> None:
    raw = {"type": "Nonsense", "schema_version": 99}
    assert UPCASTERS.upcast(raw) == raw
    with pytest.raises(EventValidationError) as refused:
        decode_event(raw)
    assert [error["field"] for error in refused.value.errors] == ["type"]


@pytest.mark.parametrize(
    ("event_type", "from_version", "message"),
    [
        ("Nonsense", 1, "unknown event type 'Nonsense'"),
        ("RatesAdjusted", 2, r"must lift from a version in \[1, 1\], not 2"),
        ("RatesAdjusted", 0, r"must lift from a version in \[1, 1\], not 0"),
    ],
)
def test_register_refuses_impossible_upcasters(
    event_type: str, from_version: int, message: str
) -> None:
    upcasters = Upcasters({"RatesAdjusted": 2})
    with pytest.raises(ValueError, match=message):
        upcasters.register(event_type, from_version)


def test_an_upcaster_is_registered_once() -> None:
    upcasters = Upcasters({"RatesAdjusted": 2})
    upcasters.register("RatesAdjusted", 1)(lambda raw: raw)
    with pytest.raises(ValueError, match="already registered"):
        upcasters.register("RatesAdjusted", 1)


def test_an_upcaster_must_return_a_dict() -> None:
    upcasters = Upcasters({"RatesAdjusted": 2})
    upcasters.register("RatesAdjusted", 1)(lambda raw: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="did not return a dict"):
        upcasters.upcast({"type": "RatesAdjusted"})


def test_the_default_registry_is_left_untouched_by_these_tests() -> None:
    raw = example("MarkupProposed")
    assert UPCASTERS.upcast(raw) == raw
