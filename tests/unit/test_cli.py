from __future__ import annotations

import json

import pytest

from events.catalogue import EVENT_TYPES
from services.cli import main


def test_schema_prints_one_json_schema_per_event_type(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schemas = json.loads(capsys.readouterr().out)
    assert set(schemas) == set(EVENT_TYPES)
    signed = schemas["ContractSigned"]
    assert signed["additionalProperties"] is False
    assert {"contract_id", "client_id", "markup_floor_pct", "burden_pct"} <= set(signed["required"])
