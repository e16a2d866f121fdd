"""The fault suite's table: one row per fault, what it cost the clients (tests/faults/conftest.py
prints it at the end of the run and writes it to var/log/fault-suite.md).

A row is plain values so that an xdist worker can send it to the controller: `make test` runs
the three-broker faults beside the local stack's, on two workers, and prints one table in the
order a single process would have run them."""

from __future__ import annotations

from dataclasses import dataclass

from tests.support.faults import Report


@dataclass(frozen=True, order=True)
class Row:
    """One fault's line of the table; `order` is its test module, then its place in the run."""

    order: tuple[str, int]
    text: str
    seconds: float


class FaultReports:
    """What a fault test appends its report to: it becomes a row of the table."""

    def __init__(self, rows: list[Row], module: str) -> None:
        self._rows = rows
        self._module = module

    def append(self, report: Report) -> None:
        self._rows.append(Row((self._module, len(self._rows)), row(report), report.seconds))


def _secs(v: float | None) -> str:
    return "never" if v is None else f"{v:.1f}"


def row(r: Report) -> str:
    c = r.cost_
    answers = " ".join(f"{k}×{n}" for k, n in sorted(c.answers.items()))
    back = "/".join(_secs(r.back[p]) for p in ("api", "writer", "projector", "risk"))
    restarts = ", ".join(f"{n}×{k}" for n, k in r.restarts.items()) or "none"
    result = "pass" if not r.failures else "FAIL: " + "; ".join(r.failures)
    return (
        f"| {r.fault} | {c.outage_s:.1f} | {answers} | {c.max_post_s:.1f} "
        f"| {c.max_verdict_s:.1f} | {c.unresolved} | {back} | {restarts} | {result} |"
    )


def table(rows: list[Row]) -> str:
    lines = [
        "| fault | outage s | POST answers | max POST s | max to verdict s | 202s never resolved "
        "| serving again after s (api/writer/projector/risk) | restarted by supervisord "
        "| result |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [r.text for r in sorted(rows)]
    total = sum(r.seconds for r in rows)
    lines.append("")
    lines.append(f"{len(rows)} fault(s) in {total:.0f} s of load and checks.")
    return "\n".join(lines)
