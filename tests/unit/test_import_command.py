"""`ledger import placements --dry-run` of the committed fixture, with no server: the report
on standard output, every refusal in the CSV report with its cells neutralised."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from imports.problems import Problem
from services import client
from services.cli import main
from services.importer.commands import write_report

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_the_dry_run_of_the_fixture_without_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LEDGER_TOKEN", raising=False)
    monkeypatch.setattr(client, "ADMIN_TOKEN_FILE", tmp_path / "no-token")
    report = tmp_path / "problems.csv"
    code = main(
        ["import", "placements", str(FIXTURES / "bullhorn_placements.csv"), "--mapping",
         str(FIXTURES / "bullhorn_mapping.yaml"), "--dry-run", "--no-progress",
         "--report", str(report)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1  # rows refused
    assert "judged against an empty ledger: no token to read the log with" in out
    assert "  AssignmentStarted         835\n" in out
    rows = list(csv.DictReader(report.open()))
    errors = [(r["line"], r["column"]) for r in rows if r["severity"] == "error"]
    assert errors == [("493", "dateBegin"), ("494", "payRate"), ("494", "clientBillRate"),
                      ("495", "clientCorporation.name"), ("496", "dateEnd"),
                      ("501", "dateEffective")]  # fmt: skip


def test_a_missing_mapping_key_stops_before_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text("clients: {Acme: {terms: {burden_pct: lots}}}\n")
    code = main(["import", "placements", str(FIXTURES / "bullhorn_placements.csv"),
                 "--mapping", str(mapping), "--dry-run", "--no-progress"])  # fmt: skip
    assert code == 2
    assert "clients.Acme.terms.burden_pct" in capsys.readouterr().err


def test_the_report_neutralises_what_a_spreadsheet_would_run(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    write_report(path, [Problem(7, '=HYPERLINK("x")', "@SUM(A1) is not a number")])
    (row,) = list(csv.DictReader(path.open()))
    assert row == {
        "severity": "error",
        "line": "7",
        "column": '\'=HYPERLINK("x")',
        "reason": "'@SUM(A1) is not a number",
    }
