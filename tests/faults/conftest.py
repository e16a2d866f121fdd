"""The fault suite's report: what each fault cost the clients, printed at the end of the run
and written to var/log/fault-suite.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

REPORTS = pytest.StashKey[list[Any]]()
OUT = Path(__file__).resolve().parents[2] / "var" / "log" / "fault-suite.md"


@pytest.fixture(scope="session")
def fault_reports(request: pytest.FixtureRequest) -> list[Any]:
    return request.config.stash.setdefault(REPORTS, [])


def _secs(v: float | None) -> str:
    return "never" if v is None else f"{v:.1f}"


def table(reports: list[Any]) -> str:
    lines = [
        "| fault | outage s | POST answers | max POST s | max to verdict s | 202s never resolved "
        "| serving again after s (api/writer/projector/risk) | restarted by supervisord "
        "| result |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        c = r.cost_
        answers = " ".join(f"{k}×{n}" for k, n in sorted(c.answers.items()))
        back = "/".join(_secs(r.back[p]) for p in ("api", "writer", "projector", "risk"))
        restarts = ", ".join(f"{n}×{k}" for n, k in r.restarts.items()) or "none"
        result = "pass" if not r.failures else "FAIL: " + "; ".join(r.failures)
        lines.append(
            f"| {r.fault} | {c.outage_s:.1f} | {answers} | {c.max_post_s:.1f} "
            f"| {c.max_verdict_s:.1f} | {c.unresolved} | {back} | {restarts} | {result} |"
        )
    total = sum(r.seconds for r in reports)
    lines.append("")
    lines.append(f"{len(reports)} fault(s) in {total:.0f} s of load and checks.")
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    reports = config.stash.get(REPORTS, [])
    if not reports:
        return
    text = table(reports)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text + "\n")
    terminalreporter.section("what each fault cost a client")
    terminalreporter.write_line(text)
