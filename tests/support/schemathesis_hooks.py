"""Schemathesis hooks of tests/integration/test_openapi_fuzz.py (loaded via SCHEMATHESIS_HOOKS).

One rule of the event catalogue relates two fields and so cannot be written in JSON Schema:
an end date is not before its start date (DESIGN "Shape rules"; refused with 422). Generated
events get their two dates in order; nothing else is changed, and every check still runs on
every answer.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import schemathesis

_EVENT_BODIES = ("/v1/events", "/v1/events/preview")  # the same body: events as submitted
_DATE_PAIRS = (("start_date", "end_date"), ("start_date", "expected_end_date"))


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None


def _in_order(event: Any) -> None:
    if not isinstance(event, dict):
        return
    for start, end in _DATE_PAIRS:
        a, b = _day(event.get(start)), _day(event.get(end))
        if a is not None and b is not None and b < a:
            event[start], event[end] = event[end], event[start]


@schemathesis.hook
def map_body(context: Any, body: Any) -> Any:
    op = context.operation
    if op is None or op.method.upper() != "POST" or op.path not in _EVENT_BODIES:
        return body
    if isinstance(body, dict) and isinstance(body.get("events"), list):
        for event in body["events"]:
            _in_order(event)
    else:
        _in_order(body)
    return body
