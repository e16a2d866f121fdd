"""Reading a JSON request body: JSON only (415), bounded in size (413, with services/api/guards)
and in nesting (422, checked on the raw bytes before any recursive parser sees them)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from itertools import accumulate
from typing import Any

from fastapi import Request

from events.serialization import decode_json
from services.api.errors import ApiError

_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def nesting_depth(data: bytes) -> int:
    """How deep arrays and objects nest in a JSON text, without parsing it (so without
    recursion): brackets inside strings do not count."""
    brackets = _BRACKETS.findall(_STRINGS.sub(b"", data))
    return max(accumulate(_DEPTH_STEP[b[0]] for b in brackets), default=0)


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def read_json(request: Request, max_depth: int) -> Any:
    content_type = request.headers.get("content-type", "")
    if not is_json(content_type):
        raise ApiError.field(
            415,
            "Content-Type",
            f"must be application/json, not {content_type or 'absent'}",
        )
    raw = await request.body()
    if nesting_depth(raw) > max_depth:
        raise ApiError.field(422, "(body)", f"JSON must not nest deeper than {max_depth} levels")
    try:
        return whole_numbers_as_ints(decode_json(raw))
    except (ValueError, json.JSONDecodeError, RecursionError) as exc:
        raise ApiError.field(422, "(body)", f"is not valid JSON: {exc}") from exc


def whole_numbers_as_ints(value: Any) -> Any:
    """JSON numbers such as `55.0` or `1e2` are whole numbers (JSON Schema counts them as
    integers): read them as ints, so a count written `55.0` is taken like `55`. Decimal fields
    take an int as the same exact value. Other numbers stay Decimals; nothing is a float."""
    if isinstance(value, Decimal):
        if value.is_finite() and value.adjusted() < 19 and value == value.to_integral_value():
            return int(value)
        return value
    if isinstance(value, dict):
        return {k: whole_numbers_as_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole_numbers_as_ints(v) for v in value]
    return value
