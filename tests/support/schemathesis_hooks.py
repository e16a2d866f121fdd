"""Schemathesis hooks of tests/integration/test_openapi_fuzz.py (loaded via SCHEMATHESIS_HOOKS).

Three rules of the event catalogue cannot be written in JSON Schema, and the document states
them in words instead (each refused with 422): an end date is not before its start date; a
ContractAmended amends at least one term; `occurred_at` is at most a day ahead of the
service's clock (DESIGN "Shape rules"). Generated events get their two dates in order, an
amendment with no term gets a client name, a date ahead gets today's; nothing else is
changed, and every check still runs on every answer.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import schemathesis

from events.catalogue import CONTRACT_TERMS

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
    if event.get("type") == "ContractAmended" and not any(
        event.get(term) is not None for term in CONTRACT_TERMS
    ):
        event["client_name"] = "Amended Inc"
    try:
        ahead = datetime.fromisoformat(event["occurred_at"]) > datetime.now(UTC)
    except (KeyError, TypeError, ValueError):
        ahead = False  # absent or no date-time: refused for that, as generated
    if ahead:
        event["occurred_at"] = datetime.now(UTC).isoformat()
    for start, end in _DATE_PAIRS:
        a, b = _day(event.get(start)), _day(event.get(end))
        if a is not None and b is not None and b < a:
            event[start], event[end] = event[end], event[start]


def _fixed(operation: Any, body: Any) -> Any:
    if (
        operation is None
        or operation.method.upper() != "POST"
        or operation.path not in _EVENT_BODIES
    ):
        return body
    if isinstance(body, dict) and isinstance(body.get("events"), list):
        for event in body["events"]:
            _in_order(event)
    else:
        _in_order(body)
    return body


@schemathesis.hook
def map_body(context: Any, body: Any) -> Any:
    return _fixed(context.operation, body)


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: Any) -> None:
    # The coverage phase builds its cases without the strategies map_body runs on (an
    # amendment of nothing came through once the catalogue grew): the same fix, on every case.
    case.body = _fixed(case.operation, case.body)
