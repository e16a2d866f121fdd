"""Reading request bodies: nesting measured without recursion, whole numbers as ints, token
lifetimes."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.api.http.body import counts_as_ints, fractions_refused, is_json, nesting_depth
from services.tokens import parse_duration

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab,:'),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=20,
)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@given(_JSON)
def test_nesting_depth_is_the_depth_of_the_parsed_value(value: object) -> None:
    assert nesting_depth(json.dumps(value).encode()) == _depth(value)


def test_nesting_depth_of_a_hostile_body_needs_no_recursion() -> None:
    assert nesting_depth(b"[" * 1_000_000) == 1_000_000
    assert nesting_depth(b'{"a": "[[[[[[", "b": [[1]]}') == 3


def test_whole_counts_become_ints_and_money_keeps_its_digits() -> None:
    got = counts_as_ints(
        {
            "non_solicit_months": Decimal("12.0"),
            "min_assignment_weeks": Decimal("5.2E+1"),
            "schema_version": Decimal("1.0"),
            "expected_stream_version": Decimal("3.00"),
            "pay_rate": Decimal("37.0"),
            "hours_per_week": Decimal("1E+999999"),
        }
    )
    assert got == {
        "non_solicit_months": 12,
        "min_assignment_weeks": 52,
        "schema_version": 1,
        "expected_stream_version": 3,
        "pay_rate": Decimal("37.0"),
        "hours_per_week": Decimal("1E+999999"),
    }
    assert all(type(got[k]) is int for k in list(got)[:4])
    assert str(got["pay_rate"]) == "37.0"
    # A count that is not whole stays what it was, and is refused by the event's validation.
    assert counts_as_ints({"non_solicit_months": Decimal("12.5")}) == {
        "non_solicit_months": Decimal("12.5")
    }


@pytest.mark.parametrize(
    ("content_type", "ok"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("application/merge-patch+json", True),
        ("text/plain", False),
        ("", False),
        ("application/jsonx", False),
    ],
)
def test_only_json_media_types(content_type: str, ok: bool) -> None:
    assert is_json(content_type) is ok


@pytest.mark.parametrize(
    ("text", "want"),
    [("90d", timedelta(days=90)), ("12h", timedelta(hours=12)), ("2w", timedelta(weeks=2)),
     ("30m", timedelta(minutes=30)), ("45s", timedelta(seconds=45))],
)  # fmt: skip
def test_token_lifetimes(text: str, want: timedelta) -> None:
    assert parse_duration(text) == want


@pytest.mark.parametrize("text", ["", "90", "d", "0d", "-1d", "1.5d", "90 days", "9999999d"])
def test_token_lifetimes_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expires-in"):
        parse_duration(text)


def test_a_json_number_with_a_fraction_is_refused_a_whole_one_or_a_string_taken() -> None:
    """Issue #21: `"pay_rate": 30.5` was accepted though the API documents strings or whole
    numbers (as JSON Schema integers)."""
    refused = fractions_refused(
        {
            "pay_rate": Decimal("30.5"),
            "bill_rate": Decimal("37.0"),
            "burden_pct": "20.5",
            "hours_per_week": 40,
            "markup_pct": Decimal("1.25E+1"),
        }
    )
    assert [e["field"] for e in refused] == ["pay_rate", "markup_pct"]
    assert '"30.50"' in refused[0]["reason"]
