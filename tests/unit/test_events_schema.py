"""JSON Schema of the catalogue, as `ledger schema` prints it."""

from __future__ import annotations

import json

from events import event_json_schemas
from events.fields import ID_PATTERN
from simulation.examples import EVENT_TYPE_NAMES


def test_there_is_one_schema_per_event_type() -> None:
    schemas = event_json_schemas()
    assert set(schemas) == set(EVENT_TYPE_NAMES)
    json.dumps(schemas)  # printable as it is


def test_a_schema_tells_a_producer_what_to_send() -> None:
    schema = event_json_schemas()["AssignmentStarted"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["type"]["const"] == "AssignmentStarted"
    assert schema["required"][0] == "type"
    assert "staffer_name" not in schema["required"]
    assert {"pay_rate", "bill_rate", "expected_end_date"} <= set(schema["required"])
    assert schema["properties"]["contract_id"]["pattern"] == ID_PATTERN
    for stamped in ("recorded_by", "recorded_at", "stream_version"):
        assert schema["properties"][stamped]["readOnly"] is True
        assert stamped not in schema["required"]
