"""JSON Schema of the catalogue, for `ledger schema` and for anyone writing a producer."""

from __future__ import annotations

from typing import Any

from events.catalogue import EVENT_TYPES


def event_json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every event type, keyed by type name."""
    return {name: model.model_json_schema() for name, model in sorted(EVENT_TYPES.items())}
