"""The fault suite's report: what each fault cost the clients, printed at the end of the run
and written to var/log/fault-suite.md (the table: tests/support/fault_report.py); and, under
`--dist loadgroup` (`make test`), its two xdist workers: the three-broker faults on one, the
local stack's faults one at a time on the other (tests/support/fault_groups.py). Each worker
sends its rows to the controller, which prints the one table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.fault_groups import FaultGroups
from tests.support.fault_report import FaultReports, Row, table

ROWS = pytest.StashKey[list[Row]]()
OUT = Path(__file__).resolve().parents[2] / "var" / "log" / "fault-suite.md"


@pytest.fixture
def fault_reports(request: pytest.FixtureRequest) -> FaultReports:
    return FaultReports(request.config.stash.setdefault(ROWS, []), request.node.path.name)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> FaultGroups | None:
    return FaultGroups(config, log) if config.getvalue("dist") == "loadgroup" else None


def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker sends its rows to the controller, as plain values."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        rows = session.config.stash.get(ROWS, [])
        workeroutput["fault_rows"] = [[*r.order, r.text, r.seconds] for r in rows]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """The controller gathers each worker's rows as it finishes."""
    rows = node.config.stash.setdefault(ROWS, [])
    for module, i, text, seconds in getattr(node, "workeroutput", {}).get("fault_rows", []):
        rows.append(Row((module, i), text, seconds))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return  # a worker: the controller prints every worker's rows
    rows = config.stash.get(ROWS, [])
    if not rows:
        return
    text = table(rows)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text + "\n")
    terminalreporter.section("what each fault cost a client")
    terminalreporter.write_line(text)
