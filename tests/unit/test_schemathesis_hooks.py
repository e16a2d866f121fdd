"""The fuzzer's hooks (tests/support/schemathesis_hooks.py) run on every case Schemathesis builds,
and one that raises ends the whole run as a "Runtime Error" that names no request. Whatever
JSON an event body holds, they change it or leave it, never raise."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.schemathesis_hooks import _fixed

_EVENT_TYPES = st.sampled_from(
    ["HoursReported", "AssignmentStarted", "ContractAmended", "ContractSigned", "x"]
)
_FIELDS = (
    "week", "regular_hours", "ot_hours", "dt_hours", "hours_per_week",
    "planned_ot_hours_per_week", "ot_exempt", "ot_pay_rate", "occurred_at",
    "start_date", "end_date", "expected_end_date", "client_name",
)  # fmt: skip
_ODD = st.sampled_from(
    ["NaN", "-nan", "sNaN", "Infinity", "-inf", "1e999999", "2026-02-30", "0001-01-01", ""]
)
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
_JSON = st.recursive(
    _SCALARS | _ODD,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
# Every field may be there, with an odd value as often as any other.
_EVENTS = st.fixed_dictionaries(
    {"type": _EVENT_TYPES}, optional={field: _ODD | _ODD | _SCALARS | _JSON for field in _FIELDS}
)
_POST_EVENTS = SimpleNamespace(method="post", path="/v1/events")


@settings(max_examples=400)
@given(body=_EVENTS | st.fixed_dictionaries({"events": st.lists(_EVENTS, max_size=3)}) | _JSON)
def test_the_hooks_never_raise_on_a_body(body: Any) -> None:
    assert _fixed(_POST_EVENTS, body) is body  # edited in place, or left alone


def test_an_hours_value_that_is_no_number_is_left_for_the_api_to_refuse() -> None:
    for odd in ("NaN", "sNaN", "Infinity", 10**5000):
        event = {"type": "HoursReported", "week": "2026-12-09", "regular_hours": odd}
        _fixed(_POST_EVENTS, event)
        assert event == {"type": "HoursReported", "week": "2026-12-07", "regular_hours": odd}
