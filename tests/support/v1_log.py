"""The fixture log written by the v1 code, and the figures it projects to.

Run once on main at 9b1d491, before any schema version 2 existed:

    .venv/bin/python -m tests.support.v1_log write

It writes a seeded valid history of every event type (simulation/histories.py) as JSON lines
(`tests/fixtures/v1_log.jsonl`, each event as the v1 serializer encoded it) and the figures the
code of the day projected from it (`tests/fixtures/v1_figures.json`): per assignment, its rate
history and every figure of DESIGN's table as of a few dates; per margin impact, before, after
and delta; and every alert the rules raised. Later code must project the same log to the same
figures (tests/unit/test_v1_log.py): v1 events are upcast on read, never rewritten.

`figures(events)` is what both the writing and the test compute, so it only reads what every
version has: the v1 figures of the read model, the margin module and the rules.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from events.catalogue import EventBase
from events.serialization import decode_event, encode_event
from projections import margin
from projections.read_model import ReadModel, terms_in_force
from projections.risk.judge import judge
from projections.risk.state import RiskState
from simulation.histories import history

FIXTURES: Final = Path(__file__).resolve().parent.parent / "fixtures"
LOG: Final = FIXTURES / "v1_log.jsonl"
FIGURES: Final = FIXTURES / "v1_figures.json"
SEED: Final = 20261207
CONTRACTS: Final = 12
EVENTS: Final = 60

# The v1 figures: what the test compares (a later Figures may hold more, e.g. overtime).
V1_FIGURES: Final = (
    "pay_rate",
    "bill_rate",
    "burden_pct",
    "msp_fee_pct",
    "hours_per_week",
    "markup_pct",
    "spread",
    "burdened_cost",
    "margin_per_hour",
    "margin_pct",
    "weekly_gross_profit",
    "break_even_markup_pct",
    "remaining_weeks",
    "remaining_gross_profit",
    "hours_worked",
    "conversion_fee_due",
)
V1_IMPACT_FIGURES: Final = (
    "pay_rate",
    "bill_rate",
    "markup_pct",
    "margin_per_hour",
    "weekly_gross_profit",
    "remaining_gross_profit",
)


def read_log(path: Path = LOG) -> list[EventBase]:
    """The fixture log, each line decoded (and upcast) by today's serializer."""
    return [decode_event(line) for line in path.read_bytes().splitlines() if line.strip()]


def _pick(obj: object, names: Iterable[str]) -> dict[str, str]:
    return {name: str(getattr(obj, name)) for name in names}


def figures(events: Iterable[EventBase]) -> dict[str, Any]:
    """What the log projects to: the figures a user of the read side and the alerts see."""
    events = list(events)
    model = ReadModel()
    risk: dict[str, RiskState | None] = {}
    alerts: list[dict[str, Any]] = []
    for e in events:
        model.apply(e)
        raised, risk[e.contract_id] = judge(risk.get(e.contract_id), e)
        for a in raised:
            alerts.append(
                {
                    "alert_id": a.alert_id,
                    "rule": a.rule,
                    "severity": a.severity,
                    "basis": a.basis,
                    "assignment_id": a.assignment_id,
                    "exposure": str(a.exposure) if a.exposure is not None else None,
                    "message": a.message,
                }
            )
    assignments: dict[str, Any] = {}
    for (cid, aid), row in sorted(model.assignments.items()):
        contract = model.contracts[cid]
        history_rows = model.rate_history[(cid, aid)]
        term = margin.Term(row.start_date, row.expected_end_date)
        as_of_figures = {}
        for as_of in (
            row.start_date,
            row.start_date + timedelta(days=45),
            row.expected_end_date - timedelta(days=3),
        ):
            in_force = history_rows[0]
            for r in history_rows:
                if r.effective_date <= as_of:
                    in_force = r
            terms = terms_in_force(model.terms_history[cid], as_of)
            assert terms is not None
            rates = margin.Rates(
                pay_rate=in_force.pay_rate,
                bill_rate=in_force.bill_rate,
                burden_pct=row.burden_pct if row.burden_pct is not None else terms.burden_pct,
                msp_fee_pct=terms.msp_fee_pct,
                hours_per_week=row.hours_per_week,
            )
            f = margin.figures(
                rates,
                term,
                as_of,
                terms.conversion_fee_pct,
                terms.conversion_fee_waived_after_hours,
            )
            as_of_figures[as_of.isoformat()] = _pick(f, V1_FIGURES)
        assignments[f"{cid}/{aid}"] = {
            "status": row.status,
            "client_name": contract.client_name,
            "pay_rate": str(row.pay_rate),
            "bill_rate": str(row.bill_rate),
            "rates": [
                [str(r.effective_date), str(r.pay_rate), str(r.bill_rate)] for r in history_rows
            ],
            "figures": as_of_figures,
        }
    impacts = []
    for imp in model.changes.impacts:
        i = imp.impact
        impacts.append(
            {
                "event_id": imp.event_id,
                "assignment_id": imp.assignment_id,
                "basis": imp.basis,
                "before": _pick(i.before, V1_IMPACT_FIGURES),
                "after": _pick(i.after, V1_IMPACT_FIGURES),
                "delta": _pick(i.delta, V1_IMPACT_FIGURES),
            }
        )
    return {
        "events": len(events),
        "by_type": _count(e.type for e in events),
        "assignments": assignments,
        "impacts": impacts,
        "alerts": alerts,
    }


def _count(types: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in types:
        out[t] = out.get(t, 0) + 1
    return dict(sorted(out.items()))


def write() -> None:
    events = history(random.Random(SEED), CONTRACTS, EVENTS)
    FIXTURES.mkdir(exist_ok=True)
    LOG.write_bytes(b"".join(encode_event(e) + b"\n" for e in events))
    FIGURES.write_text(json.dumps(figures(read_log()), indent=1, sort_keys=True) + "\n")


__all__ = ["FIGURES", "LOG", "figures", "read_log", "write"]

if __name__ == "__main__" and sys.argv[1:] == ["write"]:
    write()
