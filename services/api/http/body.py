"""Reading a JSON request body: JSON only (415), bounded in size (413, with http/guards.py)
and in nesting (422, checked on the raw bytes before any recursive parser sees them)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from itertools import accumulate
from typing import Any, Final

from fastapi import Request

from events.catalogue import EVENT_TYPES
from events.errors import FieldError
from events.serialization import EXPECTED_STREAM_VERSION, decode_json
from services.api.http.errors import ApiError

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
        return decode_json(raw)
    except (ValueError, json.JSONDecodeError, RecursionError) as exc:
        raise ApiError.field(422, "(body)", f"is not valid JSON: {exc}") from exc


def _integer_fields() -> frozenset[str]:
    """The fields of the catalogue whose JSON Schema type is integer (counts, versions)."""
    out = {EXPECTED_STREAM_VERSION}
    for model in EVENT_TYPES.values():
        for name, prop in model.model_json_schema()["properties"].items():
            types = {b.get("type") for b in prop.get("anyOf", [prop])}
            if "integer" in types and "number" not in types:
                out.add(name)
    return frozenset(out)


INTEGER_FIELDS: Final = _integer_fields()


def counts_as_ints(event: dict[str, Any]) -> dict[str, Any]:
    """A count written `55.0` or `5.5e1` is a whole number, which JSON Schema counts as an
    integer: the integer fields of an event take it like `55`. Every other number stays the
    Decimal it was read as (money keeps the digits it was sent with)."""
    return {
        k: int(v)
        if k in INTEGER_FIELDS
        and isinstance(v, Decimal)
        and v.is_finite()
        and v.adjusted() < 19
        and v == v.to_integral_value()
        else v
        for k, v in event.items()
    }


FRACTION_REFUSED: Final = (
    'a number with a fraction must be sent as a string like "30.50": a JSON number with a '
    "fraction is a float to most JSON libraries, so the digits a client meant are not sure"
)


def fractions_refused(event: dict[str, Any]) -> list[FieldError]:
    """The fields sent as a JSON number with a fraction (`30.5`): the API documents decimals as
    strings or whole numbers, and takes nothing it does not document."""
    return [
        FieldError(field=k, reason=FRACTION_REFUSED)
        for k, v in event.items()
        if isinstance(v, Decimal) and v.is_finite() and v != v.to_integral_value()
    ]
