"""The fault suite's report: what each fault cost the clients, printed at the end of the run
and written to var/log/fault-suite.md (the table: tests/support/fault_report.py); and how
`make test` runs it on two xdist workers.

The three-broker faults (test_cluster_faults.py) run on a cluster and stack of their own, so
one worker runs them beside the other faults, which kill the local stack's processes and servers
and so run one at a time, all on the other worker. That is xdist's `--dist loadgroup`, but its
`xdist_group` marks are lost under pytest 9.2 (xdist 3.8 renames `item._nodeid`, which pytest
no longer reads: every test became a group of its own), so the groups are made here, by module,
whenever the suite runs with `--dist loadgroup`. Each worker sends its rows to the controller,
which prints the one table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from tests.support.fault_report import FaultReports, Row, table

CLUSTER_MODULE = "test_cluster_faults.py"


class FaultGroups(LoadScopeScheduling):  # type: ignore[misc]  # xdist has no type hints
    """Two work units: the three-broker faults, and every other fault of the suite (a module
    added to tests/faults joins the local stack's, the safe side)."""

    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        return "cluster" if module.endswith("/" + CLUSTER_MODULE) else "local-stack"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> FaultGroups | None:
    return FaultGroups(config, log) if config.getvalue("dist") == "loadgroup" else None


ROWS = pytest.StashKey[list[Row]]()
OUT = Path(__file__).resolve().parents[2] / "var" / "log" / "fault-suite.md"


@pytest.fixture
def fault_reports(request: pytest.FixtureRequest) -> FaultReports:
    return FaultReports(request.config.stash.setdefault(ROWS, []), request.node.path.name)


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
