"""The OpenAPI document: FastAPI's, plus the request body of POST /v1/events, which the route
reads itself (for its error handling) and documents here from the one event catalogue.

A submitted event is the catalogue's event without the fields the service stamps
(`recorded_by`, `recorded_at`, `stream_version`: readOnly), with an optional
`expected_stream_version`.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from pydantic import TypeAdapter

from events.catalogue import EVENT_TYPES, STAMPED_FIELDS, Event
from events.serialization import EXPECTED_STREAM_VERSION

_REF = "#/components/schemas/{model}"
SUBMITTED = "SubmittedEvent"
BATCH = "SubmittedBatch"

SUBMISSION_BODY: dict[str, Any] = {
    "required": True,
    "description": 'One event, or `{"events": [...]}` (1 to 500 events, each decided alone).',
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"$ref": _REF.format(model=SUBMITTED)},
                    {"$ref": _REF.format(model=BATCH)},
                ]
            }
        }
    },
}


# Decimals are taken as JSON strings (or whole JSON numbers): the documented string is exactly
# the range and the decimal places the catalogue accepts. Told apart by the bounds pydantic
# documents on the number.
_FRACTION_4 = r"(?:\.[0-9]{1,4})?"
_FRACTION_10 = r"(?:\.[0-9]{1,10})?"
_POSITIVE_BELOW_1 = r"0\.(?:[1-9][0-9]{0,3}|0[1-9][0-9]{0,2}|00[1-9][0-9]?|000[1-9])"
_PCT_BELOW_100 = rf"-?(?:0|[1-9][0-9]?){_FRACTION_10}"
_DECIMALS: dict[str, tuple[str, dict[str, int]]] = {
    # kind: (pattern of the string, bounds of a whole number)
    "rate": (
        rf"^(?:{_POSITIVE_BELOW_1}|[1-9][0-9]{{0,9}}{_FRACTION_4})$",
        {"minimum": 1, "maximum": 9_999_999_999},
    ),
    "hours_per_week": (
        rf"^(?:{_POSITIVE_BELOW_1}|(?:[1-9]|[1-9][0-9]|1[0-5][0-9]|16[0-7]){_FRACTION_4}"
        r"|168(?:\.0{1,4})?)$",
        {"minimum": 1, "maximum": 168},
    ),
    "hours": (rf"^(?:0|[1-9][0-9]{{0,9}}){_FRACTION_4}$", {"minimum": 0, "maximum": 9_999_999_999}),
    # Hours of one week (HoursReported, planned OT): [0, 168], 2 decimal places.
    "week_hours": (
        r"^(?:(?:[0-9]|[1-9][0-9]|1[0-5][0-9]|16[0-7])(?:\.[0-9]{1,2})?|168(?:\.0{1,2})?)$",
        {"minimum": 0, "maximum": 168},
    ),
    # A contract's OT/DT bill multiplier: (0, 10], 4 decimal places.
    "multiplier": (
        rf"^(?:{_POSITIVE_BELOW_1}|[1-9]{_FRACTION_4}|10(?:\.0{{1,4}})?)$",
        {"minimum": 1, "maximum": 10},
    ),
    "pct": (
        rf"^(?:{_PCT_BELOW_100}|[1-9][0-9]{{2}}{_FRACTION_10}|-100(?:\.0{{1,10}})?"
        r"|1000(?:\.0{1,10})?)$",
        {"minimum": -100, "maximum": 1000},
    ),
    "fee_pct": (rf"^(?:{_PCT_BELOW_100}|-100(?:\.0{{1,10}})?)$", {"minimum": -100, "maximum": 99}),
    "markup_pct": (
        rf"^(?:{_PCT_BELOW_100}|[1-9][0-9]{{2}}{_FRACTION_10}|1000(?:\.0{{1,10}})?)$",
        {"minimum": -99, "maximum": 1000},
    ),
}


def _decimal_kind(number: dict[str, Any]) -> str | None:
    if number.get("exclusiveMinimum") == 0:
        maximum = number.get("maximum")
        return "hours_per_week" if maximum == 168 else "multiplier" if maximum == 10 else "rate"
    if number.get("minimum") == 0:
        return "week_hours" if number.get("maximum") == 168 else "hours"
    if number.get("exclusiveMaximum") == 100:
        return "fee_pct"
    if number.get("exclusiveMinimum") == -100:
        return "markup_pct"
    if number.get("minimum") == -100:
        return "pct"
    return None


def _exact_decimals(schema: Any) -> Any:
    """Each decimal's `anyOf: [number, string]` made exact: a whole number in range, or a
    string of the range and decimal places accepted."""
    if isinstance(schema, list):
        return [_exact_decimals(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    branches = schema.get("anyOf")
    if isinstance(branches, list) and len(branches) == 2:
        types = [b.get("type") for b in branches if isinstance(b, dict)]
        if types == ["number", "string"]:
            kind = _decimal_kind(branches[0])
            # A range narrowed on an annotated type shows as pydantic's own `lt` / `gt`.
            if schema.get("lt") == 100:
                kind = "fee_pct"
            elif schema.get("gt") == -100:
                kind = "markup_pct"
            if kind is not None:
                pattern, bounds = _DECIMALS[kind]
                rest = {
                    k: v
                    for k, v in schema.items()
                    if k not in ("anyOf", "lt", "gt", "multipleOf")  # the pattern says it
                }
                return {
                    **rest,
                    "anyOf": [
                        {"type": "integer", **bounds},
                        {"type": "string", "pattern": pattern},
                    ],
                }
    return {k: _exact_decimals(v) for k, v in schema.items()}


def _submitted(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = _exact_decimals(copy.deepcopy(schema))
    out["title"] = f"Submitted{name}"
    props = out["properties"]
    for field in STAMPED_FIELDS:
        props.pop(field, None)
    out["required"] = [r for r in out.get("required", []) if r not in STAMPED_FIELDS]
    props["schema_version"] = {"const": 1, "default": 1, "description": "1 today"}
    terms = getattr(EVENT_TYPES[name], "TERMS", None)
    if terms:
        # ContractAmended amends at least one term: not every term absent or null. A `not`, not
        # an `anyOf` of one-field schemas, which generated clients made ten anonymous classes
        # typed Any (issue #21); a client ignoring it gets the 422 `(event)`: amends nothing.
        out["not"] = {"properties": {term: {"type": "null"} for term in terms}}
        out["description"] = (
            f"{out.get('description', '')} Every term is optional, but at least one of "
            f"{', '.join(terms)} must be given (null or absent: that term is not amended); "
            "an amendment of nothing is refused with 422."
        ).strip()
        out["x-at-least-one-of"] = list(terms)
    props[EXPECTED_STREAM_VERSION] = {
        "type": ["integer", "null"],
        "minimum": 0,
        "description": "refuse the event (409 version_conflict) unless the contract's stream "
        "is at this version; null or absent: no such check",
    }
    return out


def submission_schemas() -> dict[str, dict[str, Any]]:
    """Component schemas: each event type as submitted, their union, and a batch."""
    union = TypeAdapter(Event).json_schema(ref_template=_REF)
    defs: dict[str, dict[str, Any]] = union.pop("$defs")
    out: dict[str, dict[str, Any]] = {}
    for name, schema in defs.items():
        out[f"Submitted{name}" if name in EVENT_TYPES else name] = (
            _submitted(name, schema) if name in EVENT_TYPES else schema
        )
    ref = {name: _REF.format(model=f"Submitted{name}") for name in sorted(EVENT_TYPES)}
    out[SUBMITTED] = {
        "oneOf": [{"$ref": r} for r in ref.values()],
        "discriminator": {"propertyName": "type", "mapping": ref},
    }
    out[BATCH] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["events"],
        "properties": {
            "events": {
                "type": "array",
                "minItems": 1,
                "maxItems": 500,
                "items": {"$ref": _REF.format(model=SUBMITTED)},
            }
        },
    }
    return out


def install(app: FastAPI) -> None:
    """FastAPI's document of the app, with the schemas of the submitted events added."""
    fastapis = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            submitted = submission_schemas()
            doc = fastapis()  # kept by FastAPI as app.openapi_schema: completed here once
            doc.setdefault("components", {}).setdefault("schemas", {}).update(submitted)
            return doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
