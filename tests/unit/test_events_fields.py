"""The field types on their own: ids, rates, percentages, hours."""

from __future__ import annotations

import re
from decimal import Context, Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from events import HoursPerWeek, Id, Pct, Rate
from events.fields import ID_PATTERN

ids: TypeAdapter[str] = TypeAdapter(Id)
rates: TypeAdapter[Decimal] = TypeAdapter(Rate)
pcts: TypeAdapter[Decimal] = TypeAdapter(Pct)
weekly_hours: TypeAdapter[Decimal] = TypeAdapter(HoursPerWeek)


@given(st.from_regex(ID_PATTERN, fullmatch=True))
def test_ids_matching_the_pattern_are_accepted(value: str) -> None:
    assert ids.validate_python(value) == value


@given(st.text(max_size=80).filter(lambda s: re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", s) is None))
def test_ids_outside_the_pattern_are_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        ids.validate_python(value)


@pytest.mark.parametrize("value", ["", "a" * 65, "C 1", "C/1", "C-1\n", "Ç-1", 12])
def test_id_examples_outside_the_pattern(value: Any) -> None:
    with pytest.raises(ValidationError):
        ids.validate_python(value)


@pytest.mark.parametrize("value", ["a" * 64, "C-1", "am.jones", "urn:x:1", "A_B"])
def test_id_examples_inside_the_pattern(value: str) -> None:
    assert ids.validate_python(value) == value


@pytest.mark.parametrize("value", ["37.50", 37, Decimal("37.5000"), "1E+2", "0.0001"])
def test_rates_accept_integers_strings_and_decimals(value: object) -> None:
    assert rates.validate_python(value) == Decimal(str(value))


@pytest.mark.parametrize("value", [37.5, 0.0001, float("nan"), float("inf")])
def test_rates_refuse_floats_whatever_their_value(value: float) -> None:
    with pytest.raises(ValidationError, match="not floats"):
        rates.validate_python(value)


@pytest.mark.parametrize(
    "value", ["0", "-0.0001", "0.00001", "NaN", "sNaN", "-Infinity", "abc", ""]
)
def test_rates_refuse_non_positive_too_precise_and_non_numbers(value: str) -> None:
    with pytest.raises(ValidationError):
        rates.validate_python(value)


def test_rates_are_bounded_in_size() -> None:
    assert rates.validate_python("9999999999.9999") == Decimal("9999999999.9999")
    with pytest.raises(ValidationError):
        rates.validate_python("1E+20")


@given(
    st.decimals(
        min_value=Decimal("0.00001"), max_value=Decimal(1000), allow_nan=False, allow_infinity=False
    )
)
def test_a_rate_is_accepted_exactly_when_it_has_at_most_4_places(value: Decimal) -> None:
    # normalize() under the default 28-digit context would round a long value to few places.
    places = -value.normalize(Context(prec=1000)).as_tuple().exponent  # type: ignore[operator]
    if places <= 4:
        assert rates.validate_python(str(value)) == value
    else:
        with pytest.raises(ValidationError, match=r"decimal places|digits in total"):
            rates.validate_python(str(value))


@given(st.decimals(min_value=Decimal(-200), max_value=Decimal(1200), places=2, allow_nan=False))
def test_a_percentage_is_accepted_exactly_inside_minus_100_to_1000(value: Decimal) -> None:
    if Decimal(-100) <= value <= Decimal(1000):
        assert pcts.validate_python(str(value)) == value
    else:
        with pytest.raises(ValidationError):
            pcts.validate_python(str(value))


@pytest.mark.parametrize(
    ("value", "ok"), [("0", False), ("0.25", True), ("168", True), ("168.5", False)]
)
def test_hours_per_week(value: str, ok: bool) -> None:
    if ok:
        assert weekly_hours.validate_python(value) == Decimal(value)
    else:
        with pytest.raises(ValidationError):
            weekly_hours.validate_python(value)
