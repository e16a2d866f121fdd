"""`ledger import placements` of a timesheet CSV (tests/fixtures/timesheet.csv) after its
placements, against a writer, projector, risk agent and API of the test's own: the dry run
judges the reports against the log and appends nothing, the import appends one HoursReported
a row through POST /v1/events, a rerun appends nothing, and each assignment's actual hours and
gross profit are the hand-computed ones."""

from __future__ import annotations

import base64
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import imports
from tests.support.imports import counts, located
from tests.support.services import ROOT, Services, Tokens

FIXTURES = ROOT / "tests" / "fixtures"
PLACEMENTS = FIXTURES / "timesheet_placements.csv"
SHEET = FIXTURES / "timesheet.csv"
MAPPING = FIXTURES / "timesheet_mapping.yaml"
AS_OF = "2026-12-01"

REPORTS = 6  # lines 2-6 and 10 (line 6 corrects line 5's week)
REFUSED_ROWS = [(8, "week"), (9, "regular_hours")]  # a Wednesday; "abc"
REFUSED_BY_WRITER = [(7, "ot_hours")]  # OT hours on T3, which is ot_exempt


def ledger_import(
    svc: Services, token: str, path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return imports.ledger_import(svc, token, path, MAPPING, *args, timeout_s=300)


@pytest.fixture(scope="module")
def placed(services: Services, api_tokens: Tokens) -> subprocess.CompletedProcess[str]:
    done = ledger_import(services, api_tokens.admin, PLACEMENTS)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def dry_run(
    placed: subprocess.CompletedProcess[str], services: Services, api_tokens: Tokens
) -> subprocess.CompletedProcess[str]:
    return ledger_import(services, api_tokens.admin, SHEET, "--dry-run")


@pytest.fixture(scope="module")
def first_import(
    dry_run: subprocess.CompletedProcess[str], services: Services, api_tokens: Tokens
) -> subprocess.CompletedProcess[str]:
    return ledger_import(services, api_tokens.admin, SHEET)


def _hours(http: httpx.Client, token: str, path: str) -> dict[str, Any]:
    """The hours answer at `path` as of AS_OF, once the projector has every report."""
    deadline = time.monotonic() + 60
    while True:
        r = http.get(path, params={"as_of": AS_OF}, headers={"Authorization": f"Bearer {token}"})
        body: dict[str, Any] = r.json()
        reported = sum(1 for w in body.get("weeks", []) if w.get("actual_hours") is not None)
        if (r.status_code == 200 and reported >= 2) or time.monotonic() > deadline:
            assert r.status_code == 200, r.text
            return body
        time.sleep(0.2)


def test_the_dry_run_judges_the_reports_against_the_log_and_appends_nothing(
    dry_run: subprocess.CompletedProcess[str], services: Services, api_tokens: Tokens
) -> None:
    out = dry_run.stdout
    assert dry_run.returncode == 1, dry_run.stderr  # the refused rows
    assert "DRY RUN: nothing was appended" in out
    assert counts(out, "events that would be appended:") == {
        "HoursReported": REPORTS,
        "already in the log": 0,
    }
    assert located(out) == REFUSED_ROWS + REFUSED_BY_WRITER
    assert "HoursReported refused (ot_exempt)" in out
    assert "must be the Monday the week starts; 2026-11-04 is a Wednesday" in out
    with httpx.Client(base_url=services.url, timeout=30) as http:
        auth = {"Authorization": f"Bearer {api_tokens.admin}"}
        log = http.get("/v1/events", params={"contract_id": "TS-1"}, headers=auth).json()
    assert "HoursReported" not in {e["type"] for e in log["events"]}


def test_the_import_appends_a_report_a_row_and_refuses_the_bad_ones(
    first_import: subprocess.CompletedProcess[str],
) -> None:
    out = first_import.stdout
    assert first_import.returncode == 1, first_import.stderr
    assert counts(out, "events appended:") == {"HoursReported": REPORTS, "total": REPORTS}
    assert located(out) == REFUSED_ROWS + REFUSED_BY_WRITER


def test_a_rerun_appends_nothing(
    first_import: subprocess.CompletedProcess[str], services: Services, api_tokens: Tokens
) -> None:
    again = ledger_import(services, api_tokens.admin, SHEET)
    assert counts(again.stdout, "events appended:") == {"total": 0}, again.stdout
    assert f"already in the log (nothing appended): {REPORTS}" in again.stdout


@pytest.mark.parametrize(
    ("assignment_id", "hours", "actual", "planned", "variance"),
    [
        # T1: 9.00 a regular hour (45 − 30 × 1.20), 13.50 an OT hour (67.50 − 45 × 1.20),
        # 18.00 a DT hour (90 − 60 × 1.20): 40 × 9 + 5 × 13.50 = 427.50, then
        # 38 × 9 + 2 × 18 = 378.00; planned 2 × 360.00.
        ("T1", "85.00", "805.50", "720.00", "85.50"),
        # T2: 6.00 a regular hour (30 − 20 × 1.20): 40 × 6 = 240.00, then 24 × 6 = 144.00 (the
        # correction of line 6 replaces line 5's 20 hours); planned 2 × 240.00.
        ("T2", "64.00", "384.00", "480.00", "-96.00"),
    ],
)
def test_actual_hours_and_gross_profit_are_the_hand_computed_ones(
    first_import: subprocess.CompletedProcess[str],
    services: Services,
    api_tokens: Tokens,
    assignment_id: str,
    hours: str,
    actual: str,
    planned: str,
    variance: str,
) -> None:
    with httpx.Client(base_url=services.url, timeout=30) as http:
        body = _hours(http, api_tokens.finance, f"/v1/margins/assignments/{assignment_id}/hours")
    got = (
        body["actual_hours_to_date"],
        body["actual_gross_profit_to_date"],
        body["planned_gross_profit_to_date"],
        body["variance_to_date"],
    )
    assert tuple(str(x) for x in got) == (hours, actual, planned, variance)
    reported = [w for w in body["weeks"] if w["actual_hours"] is not None]
    assert [w["source"] for w in reported] == ["import", "import"]
    assert [w["corrected"] for w in reported] == [False, assignment_id == "T2"]


def test_the_contract_adds_its_assignments_reports(
    first_import: subprocess.CompletedProcess[str], services: Services, api_tokens: Tokens
) -> None:
    with httpx.Client(base_url=services.url, timeout=30) as http:
        body = _hours(http, api_tokens.finance, "/v1/margins/contracts/TS-1/hours")
    # T1 805.50 + T2 384.00 + T3 40 × 12.00 (60 − 40 × 1.20) = 1,669.50; planned 720 + 480
    # + 480 = 1,680.00.
    assert (body["actual_gross_profit_to_date"], body["planned_gross_profit_to_date"]) == (
        "1669.50",
        "1680.00",
    )
    assert body["variance_to_date"] == "-10.50"


def test_the_import_pages_dry_run_tells_a_timesheet_and_finds_it_in_the_log(
    first_import: subprocess.CompletedProcess[str], services: Services, api_tokens: Tokens
) -> None:
    """The Import page's API (POST /v1/imports): the upload is told a timesheet from its
    header, and its dry run, reading the log, finds every report already there."""
    body = {
        "file_name": SHEET.name,
        "content_base64": base64.b64encode(SHEET.read_bytes()).decode(),
        "mapping": MAPPING.read_text(),
    }
    with httpx.Client(base_url=services.url, timeout=30) as http:
        auth = {"Authorization": f"Bearer {api_tokens.admin}"}
        created = http.post("/v1/imports", json=body, headers=auth)
        assert created.status_code == 202, created.text
        import_id = created.json()["import_id"]
        deadline = time.monotonic() + 60
        while True:
            state = http.get(f"/v1/imports/{import_id}", headers=auth).json()
            if state["stage"] != "checking" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert (state["stage"], state["format"]) == ("checked", "timesheet"), state
    dry = state["dry_run"]
    assert (dry["appended"], dry["duplicates"]) == ({}, REPORTS)
    assert [(p["line"], p["column"]) for p in dry["errors"]] == REFUSED_ROWS
    assert [(p["line"], p["column"]) for p in dry["refused"]] == REFUSED_BY_WRITER
