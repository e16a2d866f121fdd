"""OT_MARGIN_LEAK and HOURS_SHORTFALL (projections/risk/rules/), their exposure and sentence by
hand, and in the preview: DESIGN's worked example (P 30.00, B 37.50, b 20, ot_bill_multiplier
1.4, H 40, H_ot 5: an OT hour earns −1.50 against 1.50 a regular hour)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from events.alerts import Alert
from events.catalogue import Event
from events.messages import Submission, Submitter
from events.serialization import parse_submission
from projections.risk.judge import judge
from projections.risk.state import RiskState
from simulation.examples import example
from tests.support import overtime_example as worked
from writemodel.preview import preview

D = Decimal
ADMIN = Submitter(role="admin", principal="u.admin")
NOW = datetime(2026, 4, 1, tzinfo=UTC)


def _hours(week: str, regular: str, ot: str = "0", dt: str = "0") -> dict[str, Any]:
    return example(
        "HoursReported",
        week=week,
        regular_hours=regular,
        ot_hours=ot,
        dt_hours=dt,
        occurred_at=f"{week}T18:00:00+00:00",
    )


def _stamped(raws: list[dict[str, Any]]) -> list[Event]:
    return [
        parse_submission(raw)[0].model_copy(update={"stream_version": n})
        for n, raw in enumerate(raws, start=1)
    ]


def _alerts(raws: list[dict[str, Any]]) -> list[list[Alert]]:
    """The alerts each event raises, in log order."""
    state: RiskState | None = None
    out = []
    for e in _stamped(raws):
        raised, state = judge(state, e)
        out.append(raised)
    return out


def _rule(alerts: list[Alert], rule: str) -> list[Alert]:
    return [a for a in alerts if a.rule == rule]


def test_an_assignment_whose_overtime_loses_money_leaks() -> None:
    _, started = _alerts([worked.signed(), worked.started()])
    [leak] = _rule(started, "OT_MARGIN_LEAK")
    assert (leak.severity, leak.basis, leak.assignment_id) == ("high", "applied", "A-1")
    # (1.50 − (−1.50)) × 5 OT hours × 12 weeks
    assert leak.exposure == D("180")
    assert leak.message == (
        "From 2026-01-05 Dana Reyes (A-1) at Zones Inc: an overtime hour earns -1.50 (pay "
        "45.00, bill 52.50) against 1.50 a regular hour; with 5 OT hours planned a week that "
        "is 180.00 over the remaining 12 weeks; negotiate the OT/DT bill rate or multiplier, "
        "or keep the overtime off this assignment."
    )


def test_at_the_default_multipliers_overtime_does_not_leak() -> None:
    # OT: 56.25 − 54.00 = 2.25 an hour, more than the regular 1.50.
    _, started = _alerts([worked.signed(ot_bill_multiplier="1.5"), worked.started()])
    assert _rule(started, "OT_MARGIN_LEAK") == []


def test_reported_overtime_on_a_leaking_assignment() -> None:
    *_, reported = _alerts([worked.signed(), worked.started(), _hours("2026-01-12", "40", "6")])
    [leak] = _rule(reported, "OT_MARGIN_LEAK")
    assert (leak.severity, leak.exposure) == ("medium", D("18.00"))  # 3.00 × 6 OT hours
    assert "worked 6 OT and 0 DT hours in the week of 2026-01-12" in leak.message
    # No OT worked: nothing to say.
    *_, plain = _alerts([worked.signed(), worked.started(), _hours("2026-01-12", "40")])
    assert _rule(plain, "OT_MARGIN_LEAK") == []


def test_three_short_weeks_in_a_row_raise_one_shortfall() -> None:
    weeks = ["2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26"]
    raised = _alerts(
        [
            worked.signed(ot_bill_multiplier="1.5"),
            worked.started(),
            *(_hours(w, "20") for w in weeks),
        ]
    )
    short = [_rule(r, "HOURS_SHORTFALL") for r in raised]
    assert [len(s) for s in short] == [0, 0, 0, 0, 1, 0]  # on the third short week, once
    [alert] = short[4]
    # Plan at 1.5 multipliers: 1.50 × 40 + 2.25 × 5 = 71.25 a week; 20 h earn 30.00: 41.25
    # missed a week, 123.75 in three; at risk: 10 weeks from 2026-01-19 × 71.25 = 712.50.
    assert alert.exposure == D("836.25")
    assert (alert.severity, alert.basis) == ("high", "applied")
    assert alert.message.startswith(
        "Dana Reyes (A-1) at Zones Inc has worked under 60% of the planned 45 h a week for 3 "
        "reported weeks in a row (20 h (2026-01-05), 20 h (2026-01-12), 20 h "
        "(2026-01-19))"
    )


def test_a_week_at_plan_ends_the_run_and_a_new_run_raises_again() -> None:
    short = ["2026-01-05", "2026-01-12", "2026-01-19"]
    again = ["2026-02-02", "2026-02-09", "2026-02-16"]
    raws = [
        worked.signed(ot_bill_multiplier="1.5"),
        worked.started(),
        *(_hours(w, "20") for w in short),
        _hours("2026-01-26", "40", "5"),
        *(_hours(w, "10") for w in again),
    ]
    counts = [len(_rule(r, "HOURS_SHORTFALL")) for r in _alerts(raws)]
    assert counts == [0, 0, 0, 0, 1, 0, 0, 0, 1]


def test_a_correction_above_the_threshold_is_not_short() -> None:
    raws = [
        worked.signed(ot_bill_multiplier="1.5"),
        worked.started(),
        _hours("2026-01-05", "20"),
        _hours("2026-01-12", "20"),
        _hours("2026-01-12", "40"),  # corrected: a full week
        _hours("2026-01-19", "20"),
    ]
    assert all(not _rule(r, "HOURS_SHORTFALL") for r in _alerts(raws))


def test_the_preview_raises_them_too() -> None:
    log = _stamped([worked.signed(), worked.started()])
    sub = Submission(
        submission_id=uuid.uuid4(),
        submitter=ADMIN,
        event=parse_submission(_hours("2026-01-12", "40", "6"))[0],
    )
    [p] = preview(log, [sub], NOW)
    assert p.verdict.outcome == "accepted"
    assert [a.rule for a in p.alerts] == ["OT_MARGIN_LEAK"]
