from __future__ import annotations

import json

import pytest

from events.catalogue import EVENT_TYPES
from services.cli import main
from services.client import refusal_text, result_line
from services.tokens import check_account_manager_id


def test_schema_prints_one_json_schema_per_event_type(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schemas = json.loads(capsys.readouterr().out)
    assert set(schemas) == set(EVENT_TYPES)
    signed = schemas["ContractSigned"]
    assert signed["additionalProperties"] is False
    assert {"contract_id", "client_id", "markup_floor_pct", "burden_pct"} <= set(signed["required"])


def _refused(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    # Refused before any server is asked: these run with no Kafka or PostgreSQL at all.
    assert main(argv) == 2
    return capsys.readouterr().err


def test_an_empty_expiry_is_refused_not_read_as_never(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue #21: `--expires-in ''` made a token that never expires (failed open)."""
    err = _refused(capsys, ["token", "create", "--role", "finance", "--expires-in", ""])
    assert "--expires-in ''" in err and "90d" in err


@pytest.mark.parametrize("url", ["file:///etc/passwd", "not a url", "ftp://x.example/", "https://"])
def test_a_webhook_the_deliverer_cannot_post_to_is_refused(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _refused(capsys, ["webhooks", "add", url])
    assert "http:// or https://" in err or "not a URL" in err


@pytest.mark.parametrize("am", ["admin:abc123", "finance:x", "a b", "", "..", "x" * 65])
def test_an_account_manager_id_that_is_no_id_or_reads_as_another_principal(am: str) -> None:
    with pytest.raises(ValueError, match="--account-manager"):
        check_account_manager_id(am)


def test_an_account_manager_id_may_hold_a_colon_after_something_else() -> None:
    check_account_manager_id("am:dana.reyes")
    check_account_manager_id("am-c236fa4d49")


def test_a_refused_event_is_printed_without_a_version_it_never_had() -> None:
    """Issue #21: `ledger submit` printed `vNone` for a refused event."""
    refused = {"status": "refused", "type": "RatesAdjusted", "contract_id": "C-1",
               "stream_version": None, "code": "unknown_assignment",
               "message": "Assignment A-9 is not on contract C-1."}  # fmt: skip
    line = result_line(refused)
    assert "vNone" not in line and line.endswith(
        "unknown_assignment: Assignment A-9 is not on contract C-1."
    )
    accepted = {
        "status": "accepted",
        "type": "RatesAdjusted",
        "contract_id": "C-1",
        "stream_version": 4,
    }
    assert result_line(accepted).endswith("C-1 v4")


def test_a_whole_request_refused_is_printed_in_words_not_json() -> None:
    body = {"errors": [{"field": "(token)", "reason": "contract C-1 is not managed by you"}],
            "message": "(token): contract C-1 is not managed by you"}  # fmt: skip
    text = refusal_text(403, body, "{...}")
    assert text.splitlines() == [
        "refused (HTTP 403): (token): contract C-1 is not managed by you",
        "  (token): contract C-1 is not managed by you",
    ]
    assert refusal_text(502, None, "<html>bad gateway</html>") == (
        "refused (HTTP 502): <html>bad gateway</html>"
    )
