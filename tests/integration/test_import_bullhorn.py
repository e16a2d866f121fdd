"""`ledger import placements` of the committed Bullhorn-shaped fixture, against a writer,
projector, risk agent and API of the test's own: the dry run appends nothing, the import goes
through POST /v1/events, a rerun appends nothing, and a handful of placements' figures are
the hand-computed ones (simulation/bullhorn.py GOLDEN)."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.db import connection
from tests.support import imports
from tests.support.imports import counts, located
from tests.support.services import ROOT, Services, Tokens

FIXTURE = ROOT / "tests" / "fixtures" / "bullhorn_placements.csv"
MAPPING = ROOT / "tests" / "fixtures" / "bullhorn_mapping.yaml"
AS_OF = "2026-12-01"

# What the fixture gives (its generator is deterministic; the dry run and the import must
# agree with each other and with these).
EXPECTED_EVENTS = {
    "AssignmentEnded": 307,
    "AssignmentStarted": 835,
    "ContractSigned": 20,
    "RatesAdjusted": 159,
}
REFUSED_AT = [
    (493, "dateBegin"),
    (494, "payRate"),
    (494, "clientBillRate"),
    (495, "clientCorporation.name"),
    (496, "dateEnd"),
    (501, "dateEffective"),
]


def ledger_import(svc: Services, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    return imports.ledger_import(svc, token, FIXTURE, MAPPING, *args)


@pytest.fixture(scope="module")
def dry_run(services: Services, api_tokens: Tokens) -> subprocess.CompletedProcess[str]:
    return ledger_import(services, api_tokens.admin, "--dry-run")


@pytest.fixture(scope="module")
def first_import(
    dry_run: subprocess.CompletedProcess[str], services: Services, api_tokens: Tokens
) -> subprocess.CompletedProcess[str]:
    # After the dry run (it depends on it), so that the dry run sees an empty log.
    return ledger_import(services, api_tokens.admin)


def test_the_dry_run_reports_and_appends_nothing(
    dry_run: subprocess.CompletedProcess[str], services: Services, api_tokens: Tokens
) -> None:
    out = dry_run.stdout
    assert dry_run.returncode == 1, dry_run.stderr  # some rows are refused
    assert "DRY RUN: nothing was appended" in out
    assert counts(out, "events that would be appended:") == EXPECTED_EVENTS | {
        "already in the log": 0
    }
    assert located(out) == REFUSED_AT
    assert "line 498: duplicate of line 497: skipped" in out
    assert "loss-making assignments" in out and "C-01/G4 (cand-G4): -4.00 an hour" in out
    assert re.search(r"LOSS_POSITION \(critical\)\s+\d+", out)
    with httpx.Client(base_url=services.url, timeout=30) as http:
        auth = {"Authorization": f"Bearer {api_tokens.admin}"}
        answer = http.get("/v1/events", params={"contract_id": "C-01"}, headers=auth)
        assert answer.status_code == 404  # no event of the contract was appended


def test_the_import_appends_what_the_dry_run_said(
    dry_run: subprocess.CompletedProcess[str], first_import: subprocess.CompletedProcess[str]
) -> None:
    out = first_import.stdout
    assert first_import.returncode == 1, first_import.stderr  # the refused rows
    appended = counts(out, "events appended:")
    assert appended.pop("total") == sum(EXPECTED_EVENTS.values())
    assert appended == EXPECTED_EVENTS
    assert located(out) == REFUSED_AT
    assert "events refused" not in out  # the writer refused nothing the planner passed


def test_a_rerun_appends_nothing(
    first_import: subprocess.CompletedProcess[str], services: Services, api_tokens: Tokens
) -> None:
    again = ledger_import(services, api_tokens.admin)
    appended = counts(again.stdout, "events appended:")
    assert appended == {"total": 0}, again.stdout[:2000]
    total = sum(EXPECTED_EVENTS.values())
    assert f"already in the log (nothing appended): {total:,}" in again.stdout


def test_a_dry_run_after_the_import_finds_it_in_the_log(
    first_import: subprocess.CompletedProcess[str], services: Services, api_tokens: Tokens
) -> None:
    again = ledger_import(services, api_tokens.admin, "--dry-run")
    total = sum(EXPECTED_EVENTS.values())
    assert counts(again.stdout, "events that would be appended:") == {
        "already in the log": total
    }, again.stdout[:3000]
    assert "events the writer would refuse" not in again.stdout


def _figures(http: httpx.Client, token: str, assignment_id: str) -> dict[str, Any]:
    """The assignment's margin as of AS_OF, once the projector has it."""
    deadline = time.monotonic() + 60
    while True:
        r = http.get(
            f"/v1/margins/assignments/{assignment_id}",
            params={"as_of": AS_OF},
            headers={"Authorization": f"Bearer {token}"},
        )
        if r.status_code == 200 or time.monotonic() > deadline:
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            return body
        time.sleep(0.2)


@pytest.mark.parametrize(
    ("assignment_id", "status", "bill_rate", "margin_per_hour", "weekly_gross_profit"),
    [
        ("G1", "active", "45.00", "9.00", "360.00"),  # 45 − 30 × 1.20; × 40 hours
        ("G2", "active", "42.00", "9.60", "384.00"),  # its later rate row: 42 − 27 × 1.20
        ("G4", "active", "44.00", "-4.00", "-160.00"),  # 44 − 40 × 1.20: loss-making
        ("G5", "active", "30.00", "6.00", "180.00"),  # 20 + 50 %; 30 − 24; 6 h × 5 days
    ],
)
def test_hand_computed_figures_of_imported_placements(
    first_import: subprocess.CompletedProcess[str],
    services: Services,
    api_tokens: Tokens,
    assignment_id: str,
    status: str,
    bill_rate: str,
    margin_per_hour: str,
    weekly_gross_profit: str,
) -> None:
    with httpx.Client(base_url=services.url, timeout=30) as http:
        f = _figures(http, api_tokens.finance, assignment_id)
    got = {k: f.get(k) for k in ("status", "bill_rate", "margin_per_hour", "weekly_gross_profit")}
    assert got == {
        "status": status,
        "bill_rate": bill_rate,
        "margin_per_hour": margin_per_hour,
        "weekly_gross_profit": weekly_gross_profit,
    }


def test_an_ended_placement_is_ended(
    first_import: subprocess.CompletedProcess[str], services: Services, api_tokens: Tokens
) -> None:
    with httpx.Client(base_url=services.url, timeout=30) as http:
        f = _figures(http, api_tokens.finance, "G3")
    assert (f["status"], f["end_date"], f["end_reason"]) == ("ended", "2026-09-30", "completed")


def test_a_formula_like_name_is_kept_as_text(
    first_import: subprocess.CompletedProcess[str], services: Services, api_tokens: Tokens
) -> None:
    with httpx.Client(base_url=services.url, timeout=30) as http:
        f = _figures(http, api_tokens.finance, "B6")
        assert f["staffer_name"] == '=HYPERLINK("http://x","y") Doe'
        csv = http.get(
            "/v1/margins/assignments/B6",
            params={"as_of": AS_OF, "format": "csv"},
            headers={"Authorization": f"Bearer {api_tokens.finance}"},
        )
    assert csv.status_code == 200, csv.text
    assert "'=HYPERLINK" in csv.text  # neutralised in the CSV the product writes


def test_a_finance_token_cannot_import(
    first_import: subprocess.CompletedProcess[str], services: Services, api_tokens: Tokens
) -> None:
    done = ledger_import(services, api_tokens.finance)
    assert done.returncode == 2
    assert "import stopped: HTTP 403" in done.stderr


def test_an_account_manager_cannot_import_other_managers_contracts(
    first_import: subprocess.CompletedProcess[str], services: Services, api_tokens: Tokens
) -> None:
    done = ledger_import(services, api_tokens.am)
    assert done.returncode == 1
    assert counts(done.stdout, "events appended:") == {"total": 0}
    assert "ContractSigned refused (forbidden_contract)" in done.stdout


async def test_an_import_killed_half_way_finishes_when_run_again(
    first_import: subprocess.CompletedProcess[str],
    services: Services,
    api_tokens: Tokens,
    tmp_path: Path,
) -> None:
    # The same file under another source and other contract ids: a book of its own here.
    mapping = tmp_path / "mapping.yaml"
    text = MAPPING.read_text().replace("contract_id: C-", "contract_id: K-")
    mapping.write_text(text.replace("source: bullhorn-fixture", "source: killed"))
    # One lane of 20-event batches: slow enough to be killed half-way.
    args = [sys.executable, "-m", "services.cli", "import", "placements", str(FIXTURE),
            "--mapping", str(mapping), "--no-progress", "--lanes", "1",
            "--batch", "20"]  # fmt: skip
    env = {**services.env(), "LEDGER_API_URL": services.url, "LEDGER_TOKEN": api_tokens.admin}
    total = sum(EXPECTED_EVENTS.values())

    async def logged() -> int:
        async with connection(services.stack.dsn) as conn:
            n: int = await conn.fetchval(
                f"SELECT count(*) FROM {services.schema}.event_log WHERE contract_id LIKE 'K-%'"
            )
            return n

    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while await logged() < 100 and time.monotonic() < deadline and proc.poll() is None:
        await asyncio.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL and "events appended" not in out  # killed
    assert 0 < await logged() < total

    again = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    appended = counts(again.stdout, "events appended:")
    found = re.search(r"already in the log \(nothing appended\): ([\d,]+)", again.stdout)
    assert found is not None, again.stdout
    already = int(found.group(1).replace(",", ""))
    assert 0 < appended["total"] < total
    assert appended["total"] + already == total
    deadline = time.monotonic() + 60
    while await logged() < total and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert await logged() == total  # each event once
