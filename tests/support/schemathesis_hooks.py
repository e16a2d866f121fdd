"""Schemathesis hooks of tests/integration/test_openapi_fuzz.py (loaded via SCHEMATHESIS_HOOKS).

Some rules of the event catalogue cannot be written in JSON Schema, and the document states
them in words instead (each refused with 422): an end date is not before its start date; a
ContractAmended amends at least one term; `occurred_at` is at most a day ahead of the
service's clock (DESIGN "Shape rules"); an HoursReported week is a Monday and its hours add to
at most 168; an assignment's regular and planned OT hours add to at most 168, and an ot_exempt
one has no OT. Generated events get their two dates in order, an amendment with no term gets a
client name, a date ahead gets today's, a week its Monday, hours past 168 in all none of OT
and DT, an exempt assignment no OT; nothing else is changed, and every check still runs on
every answer. It also makes `ast.parse` one at a time (why below).
"""

from __future__ import annotations

import ast
import functools
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import schemathesis

from events.catalogue import CONTRACT_TERMS

# CPython 3.11 keeps the AST constructor's recursion depth in state its threads share, so two
# `ast.parse` at once can fail with "SystemError: AST constructor recursion depth mismatch"
# (python/cpython#106905 and the reports that link it). Hypothesis parses a lambda's source to
# name a filter, and Schemathesis's two workers are threads. Seen whole in a run of the parallel
# tier under load (a "Runtime Error" of the coverage phase), and most likely what ended a CI run
# the same way, its message cut. One parse at a time in whatever process loads these hooks.
_PARSING = threading.Lock()
_parse = ast.parse


@functools.wraps(_parse)
def _one_parse_at_a_time(*args: Any, **kwargs: Any) -> Any:
    with _PARSING:
        return _parse(*args, **kwargs)


ast.parse = _one_parse_at_a_time

_EVENT_BODIES = ("/v1/events", "/v1/events/preview")  # the same body: events as submitted
_DATE_PAIRS = (("start_date", "end_date"), ("start_date", "expected_end_date"))


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None


def _hours(value: Any) -> Decimal | None:
    # A whole JSON number may come as 2.0: the schema's "integer" takes it, and so does the API.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        hours = Decimal(str(value))
    except (ArithmeticError, ValueError):  # ValueError: an int past str()'s 4,300 digits
        return None
    # "NaN" is a string the schema allows: ordering it raises, and a hook that raises is a
    # runtime error of the whole run, not a finding about the API.
    return hours if hours.is_finite() else None


def _overtime_in_bounds(event: dict[str, Any]) -> None:
    if event.get("type") == "HoursReported":
        week = _day(event.get("week"))
        if week is not None:
            event["week"] = (week - timedelta(days=week.weekday())).isoformat()
        hours = [_hours(event.get(k, "0")) for k in ("regular_hours", "ot_hours", "dt_hours")]
        # Each within [0, 168] (the schema says so) but more than 168 together: no OT or DT.
        if all(h is not None and 0 <= h <= 168 for h in hours) and sum(h or 0 for h in hours) > 168:
            event["ot_hours"], event["dt_hours"] = "0", "0"
    if event.get("type") == "AssignmentStarted":
        regular = _hours(event.get("hours_per_week"))
        ot = _hours(event.get("planned_ot_hours_per_week", "0"))
        # Only values the schema takes: a negative case's out-of-range value stays refused.
        if regular is None or ot is None or not (0 < regular <= 168 and 0 <= ot <= 168):
            return
        if event.get("ot_exempt") is True or regular + ot > 168:
            event["planned_ot_hours_per_week"] = "0"
        if event.get("ot_exempt") is True:
            for rate in ("ot_pay_rate", "ot_bill_rate", "dt_pay_rate", "dt_bill_rate"):
                event.pop(rate, None)


def _in_order(event: Any) -> None:
    if not isinstance(event, dict):
        return
    _overtime_in_bounds(event)
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
