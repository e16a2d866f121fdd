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
from fastapi.openapi.utils import get_openapi
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


def _submitted(schema: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(schema)
    props = out["properties"]
    for name in STAMPED_FIELDS:
        props.pop(name, None)
    out["required"] = [r for r in out.get("required", []) if r not in STAMPED_FIELDS]
    props[EXPECTED_STREAM_VERSION] = {
        "type": "integer",
        "minimum": 0,
        "description": "refuse the event (409 version_conflict) unless the contract's stream "
        "is at this version",
    }
    return out


def submission_schemas() -> dict[str, dict[str, Any]]:
    """Component schemas: each event type as submitted, their union, and a batch."""
    union = TypeAdapter(Event).json_schema(ref_template=_REF)
    defs: dict[str, dict[str, Any]] = union.pop("$defs")
    out: dict[str, dict[str, Any]] = {}
    for name, schema in defs.items():
        out[f"Submitted{name}" if name in EVENT_TYPES else name] = (
            _submitted(schema) if name in EVENT_TYPES else schema
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
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
            )
            doc.setdefault("components", {}).setdefault("schemas", {}).update(submission_schemas())
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
