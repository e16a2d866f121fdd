"""The OpenAPI document, built without servers: valid OpenAPI 3.1, and its submitted events
exactly as strict as the catalogue where JSON Schema can say it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from pydantic import TypeAdapter

from events.fields import FeePct, Hours, HoursPerWeek, MarkupPct, Multiplier, Pct, Rate, WeekHours
from projections.risk.rules import RULES, TIMER_RULES
from services.api.app import create_app
from services.api.openapi import _DECIMALS
from services.api.schemas import alert_vocabulary
from services.settings import Settings

FIELD_TYPES: dict[str, Any] = {
    "rate": Rate,
    "hours_per_week": HoursPerWeek,
    "hours": Hours,
    "pct": Pct,
    "fee_pct": FeePct,
    "markup_pct": MarkupPct,
    "week_hours": WeekHours,
    "multiplier": Multiplier,
}


def test_the_document_is_openapi_3_1_and_documents_every_error() -> None:
    doc = create_app(Settings()).openapi()
    validate(doc)
    assert "HTTPValidationError" not in str(doc)  # FastAPI's 422 body is not ours
    for path, ops in doc["paths"].items():
        for op in ops.values():
            for status, answer in op["responses"].items():
                assert answer.get("content") or status == "204", (path, status)  # 204: no body
                if status.startswith(("4", "5")) and path.startswith("/v1"):
                    schemas = str(answer["content"]["application/json"]["schema"])
                    assert "ErrorBody" in schemas or "EventResult" in schemas, (path, status)


@pytest.mark.parametrize("kind", sorted(_DECIMALS))
@settings(max_examples=200)
@given(data=st.data())
def test_every_documented_decimal_is_accepted(kind: str, data: st.DataObject) -> None:
    pattern, bounds = _DECIMALS[kind]
    adapter = TypeAdapter(FIELD_TYPES[kind])
    adapter.validate_python(data.draw(st.from_regex(pattern, fullmatch=True)))
    adapter.validate_python(data.draw(st.integers(bounds["minimum"], bounds["maximum"])))


@pytest.mark.parametrize(
    ("kind", "value"),
    [("rate", "0"), ("rate", "1.00001"), ("hours_per_week", "168.0001"), ("pct", "1000.1"),
     ("pct", "-100.5"), ("fee_pct", "100"), ("markup_pct", "-100"), ("hours", "-1")],
)  # fmt: skip
def test_the_documented_bounds_are_the_catalogues(kind: str, value: str) -> None:
    assert re.match(_DECIMALS[kind][0], value) is None
    with pytest.raises(ValueError):
        TypeAdapter(FIELD_TYPES[kind]).validate_python(value)


def test_the_alert_vocabulary_is_documented_and_lists_every_rule() -> None:
    """GET /v1/schema/alerts, which the web app's alert board and routing forms read, answers
    a typed model naming every rule the risk agent runs (RULES and TIMER_RULES) and no other."""
    doc = create_app(Settings()).openapi()
    answer = doc["paths"]["/v1/schema/alerts"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/AlertVocabulary"
    }
    fields = doc["components"]["schemas"]["AlertVocabulary"]["properties"]
    assert set(fields) == {"rules", "severities", "statuses", "channel_kinds"}
    words = alert_vocabulary()
    assert set(words.rules) == set(RULES) | set(TIMER_RULES)
    assert len(words.rules) == len(set(words.rules))
    assert words.severities == ["critical", "high", "medium", "low"]
    assert words.statuses == ["open", "acknowledged", "resolved"]
    assert "webhook" in words.channel_kinds and "email" in words.channel_kinds
