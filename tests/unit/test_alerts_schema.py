"""The alert message (events.alerts): the alerts topic's one schema, its JSON and its ids."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from events.alerts import (
    ALERT_STATUSES,
    RULE_NAMES,
    SEVERITIES,
    Alert,
    alert_id,
    alert_subject,
    decode_alert,
    encode_alert,
)
from events.fields import ID_PATTERN

D = Decimal
TRIGGER = uuid.UUID("3f2a9c4e-0000-4000-8000-000000000001")
OTHER = uuid.UUID("3f2a9c4e-0000-4000-8000-000000000002")


def fields(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "alert_id": alert_id("LOSS_POSITION", "C-1", "A-1", [TRIGGER]),
        "rule": "LOSS_POSITION",
        "severity": "high",
        "basis": "proposed",
        "contract_id": "C-1",
        "client_name": "Zones Inc",
        "assignment_id": "A-1",
        "staffer_id": "S-42",
        "exposure": D("1080.000000000000000000000000000001"),
        "message": "Zones Inc wants Dana Reyes (A-1) raised to 32.00 within a bill rate of "
        "37.50: margin would fall to -0.90/h, a loss of 1,080.00 over the remaining 30 weeks; "
        "decline or renegotiate the bill rate.",
        "event_ids": (TRIGGER,),
        "raised_at": datetime(2024, 6, 3, 9, 0, tzinfo=UTC),
        "stream_version": 7,
    }
    data.update(overrides)
    return data


def test_the_severities_and_statuses_of_design() -> None:
    # The rule names have their one home in RuleName: test_risk_rules checks that the risk
    # agent runs exactly those, and each rule's own tests raise it by its name.
    assert set(SEVERITIES) == {"critical", "high", "medium", "low"}
    assert ALERT_STATUSES == ("open", "acknowledged", "resolved")


def test_a_new_alert_is_open() -> None:
    assert Alert(**fields()).status == "open"


def test_json_round_trip_keeps_the_exposure_exact() -> None:
    alert = Alert(**fields())
    data = encode_alert(alert)
    raw = json.loads(data)
    # Money travels as a decimal string, never a JSON number a reader could turn into a float.
    assert raw["exposure"] == "1080.000000000000000000000000000001"
    assert raw["event_ids"] == [str(TRIGGER)]
    assert raw["raised_at"] == "2024-06-03T09:00:00Z"
    assert decode_alert(data) == alert
    assert decode_alert(data.decode()) == alert


def test_json_carries_exactly_the_documented_fields() -> None:
    raw = json.loads(encode_alert(Alert(**fields())))
    assert set(raw) == {
        "alert_id",
        "rule",
        "severity",
        "basis",
        "contract_id",
        "client_name",
        "assignment_id",
        "staffer_id",
        "exposure",
        "message",
        "event_ids",
        "raised_at",
        "status",
        "stream_version",
    }


def test_a_neglect_alert_has_no_exposure_and_round_trips() -> None:
    alert = Alert(
        **fields(
            rule="RELATIONSHIP_NEGLECT",
            severity="low",
            basis="applied",
            assignment_id=None,
            staffer_id=None,
            exposure=None,
            alert_id=alert_id("RELATIONSHIP_NEGLECT", "C-1", None, [TRIGGER]),
        )
    )
    assert json.loads(encode_alert(alert))["exposure"] is None
    assert decode_alert(encode_alert(alert)) == alert


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"rule": "LOSS"}, "rule"),
        ({"severity": "urgent"}, "severity"),
        ({"basis": "maybe"}, "basis"),
        ({"status": "closed"}, "status"),
        ({"raised_at": datetime(2024, 6, 3, 9, 0)}, "raised_at"),  # naive: whose 9 o'clock?
        ({"exposure": 1080.0}, "exposure"),  # a float never enters the money path
        ({"exposure": D("NaN")}, "exposure"),
        ({"event_ids": ()}, "event_ids"),
        ({"message": ""}, "message"),
        ({"alert_id": "not-a-hash"}, "alert_id"),
        ({"contract_id": "C 1"}, "contract_id"),
        ({"stream_version": 0}, "stream_version"),
    ],
)
def test_refuses_what_is_not_an_alert(override: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        Alert(**fields(**override))
    assert {e["loc"][0] for e in err.value.errors()} == {field}


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError):
        Alert(**fields(owner="risk"))
    raw = json.loads(encode_alert(Alert(**fields())))
    raw["extra"] = 1
    with pytest.raises(ValidationError):
        decode_alert(json.dumps(raw))


def test_an_alert_is_immutable_and_changes_status_by_copy() -> None:
    alert = Alert(**fields())
    with pytest.raises(ValidationError):
        alert.status = "resolved"  # type: ignore[misc]
    acknowledged = alert.with_status("acknowledged")
    assert acknowledged.status == "acknowledged"
    assert acknowledged.alert_id == alert.alert_id
    assert alert.status == "open"


def test_subject() -> None:
    assert alert_subject("C-1") == "C-1"
    assert alert_subject("C-1", "A-1") == "C-1/A-1"
    assert Alert(**fields()).subject == "C-1/A-1"


def test_alert_id_is_the_sha256_prefix_of_rule_subject_and_trigger() -> None:
    import hashlib

    expected = hashlib.sha256(f"LOSS_POSITION|C-1/A-1|{TRIGGER}".encode()).hexdigest()[:32]
    assert alert_id("LOSS_POSITION", "C-1", "A-1", [TRIGGER]) == expected
    assert alert_id("LOSS_POSITION", "C-1", "A-1", [str(TRIGGER)]) == expected


def test_alert_id_depends_on_rule_subject_and_every_trigger() -> None:
    base = alert_id("LOSS_POSITION", "C-1", "A-1", [TRIGGER])
    assert base == alert_id("LOSS_POSITION", "C-1", "A-1", (TRIGGER,))
    others = {
        alert_id("BELOW_FLOOR", "C-1", "A-1", [TRIGGER]),
        alert_id("LOSS_POSITION", "C-2", "A-1", [TRIGGER]),
        alert_id("LOSS_POSITION", "C-1", "A-2", [TRIGGER]),
        alert_id("LOSS_POSITION", "C-1", None, [TRIGGER]),
        alert_id("LOSS_POSITION", "C-1", "A-1", [OTHER]),
        alert_id("LOSS_POSITION", "C-1", "A-1", [TRIGGER, OTHER]),
    }
    assert base not in others
    assert len(others) == 6


@given(
    rule=st.sampled_from(RULE_NAMES),
    contract=st.from_regex(ID_PATTERN, fullmatch=True),
    assignment=st.none() | st.from_regex(ID_PATTERN, fullmatch=True),
    trigger=st.lists(st.uuids(), min_size=1, max_size=4),
    exposure=st.none() | st.decimals(allow_nan=False, allow_infinity=False),
)
def test_any_alert_round_trips(
    rule: str,
    contract: str,
    assignment: str | None,
    trigger: list[uuid.UUID],
    exposure: Decimal | None,
) -> None:
    alert = Alert.model_validate(
        fields(
            alert_id=alert_id(rule, contract, assignment, trigger),
            rule=rule,
            contract_id=contract,
            assignment_id=assignment,
            event_ids=tuple(trigger),
            exposure=exposure,
        )
    )
    back = decode_alert(encode_alert(alert))
    assert back == alert
    if exposure is not None:
        assert back.exposure is not None
        assert str(back.exposure) == str(exposure)  # the same digits, not just an equal value
