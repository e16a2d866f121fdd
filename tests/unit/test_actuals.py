"""Hours actually worked against the plan (projections.actuals), by hand: DESIGN's worked
example (P 30.00, B 37.50, b 20, ot_bill_multiplier 1.4, H 40, H_ot 5: 1.50 a regular hour,
−1.50 an OT hour, 52.50 a planned week)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from projections import margin
from projections.actuals import ReportedHours, assignment_actuals, monday, roll_up
from tests.support.overtime_example import RATES

D = Decimal
# Monday 2026-01-05 to Monday 2026-03-30: 12 weeks.
TERM = margin.Term(date(2026, 1, 5), date(2026, 3, 30))


def _rates(day: date) -> margin.Rates:
    return RATES


def _week(week: str, regular: str, ot: str = "0", dt: str = "0", reports: int = 1) -> ReportedHours:
    return ReportedHours(date.fromisoformat(week), D(regular), D(ot), D(dt), "timesheet", reports)


def test_a_week_of_reported_hours_and_its_correction() -> None:
    first = _week("2026-01-05", "40", "6")
    a = assignment_actuals([first], _rates, TERM, date(2026, 1, 11))
    [w] = a.weeks
    # 1.50 × 40 − 1.50 × 6 = 51.00 against a planned 52.50: −1.50.
    assert (w.actual_hours, w.actual_gross_profit, w.planned_gross_profit) == (
        D(46),
        D("51.00"),
        D("52.50"),
    )
    assert w.variance == D("-1.50")
    # The timesheet is corrected: 32 regular hours, 2 OT, and 1 DT hour (2 × 30.00 pay, 2 ×
    # 37.50 bill: 75.00 − 72.00 = 3.00): 48.00 − 3.00 + 3.00 = 48.00; −4.50 against plan.
    corrected = _week("2026-01-05", "32", "2", "1", reports=2)
    [w] = assignment_actuals([corrected], _rates, TERM, date(2026, 1, 11)).weeks
    assert (w.actual_hours, w.actual_gross_profit, w.variance) == (D(35), D("48.00"), D("-4.50"))
    assert w.reported is not None and w.reported.reports == 2


def test_to_date_counts_the_reported_weeks_only_and_as_of_hides_later_reports() -> None:
    reports = [_week("2026-01-05", "40", "5"), _week("2026-01-19", "20"), _week("2026-02-02", "40")]
    a = assignment_actuals(reports, _rates, TERM, date(2026, 1, 25))
    assert [w.week for w in a.weeks] == [date(2026, 1, 5), date(2026, 1, 12), date(2026, 1, 19)]
    assert len(a.reported_weeks) == 2  # the week of 2026-02-02 is after as_of
    # 52.50 + 30.00 actual against 2 × 52.50 planned.
    assert a.actual_gross_profit_to_date == D("82.50")
    assert a.planned_gross_profit_to_date == D("105.00")
    assert a.variance_to_date == D("-22.50")
    assert (a.actual_hours_to_date, a.planned_hours_to_date) == (D(65), D(90))


def test_the_forecast_runs_at_the_last_four_reported_weeks_else_the_plan() -> None:
    as_of = date(2026, 2, 2)  # 56 days = 8 weeks left
    plan = assignment_actuals([], _rates, TERM, as_of)
    assert plan.forecast_basis == "plan"
    assert plan.forecast_weekly_gross_profit == D("52.50")
    assert plan.forecast_remaining_gross_profit == D("420")  # 8 × 52.50
    reports = [
        _week("2026-01-05", "40", "10"),  # 45.00: older than the last four, left out
        _week("2026-01-12", "40"),  # 60.00
        _week("2026-01-19", "20"),  # 30.00
        _week("2026-01-26", "40", "5"),  # 52.50
        _week("2026-02-02", "30"),  # 45.00
    ]
    run = assignment_actuals(reports, _rates, TERM, as_of)
    assert run.forecast_basis == "run_rate"
    assert run.forecast_weekly_gross_profit == D("46.875")  # (60 + 30 + 52.50 + 45) / 4
    assert run.forecast_remaining_gross_profit == D("375")  # 8 × 46.875


def test_a_roll_up_adds_week_by_week() -> None:
    one = assignment_actuals([_week("2026-01-05", "40", "5")], _rates, TERM, date(2026, 1, 11))
    two = assignment_actuals([], _rates, TERM, date(2026, 1, 11))
    r = roll_up([one, two])
    [w] = r.weeks
    assert (w.planned_gross_profit, w.actual_gross_profit, w.variance) == (
        D("105.00"),
        D("52.50"),
        D("0.00"),
    )
    assert (w.assignments, w.assignments_reported) == (2, 1)
    assert (r.run_rate_assignments, r.plan_assignments) == (1, 1)


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=11),
            st.decimals(min_value=0, max_value=60, places=1),
            st.decimals(min_value=0, max_value=20, places=1),
        ),
        max_size=12,
    )
)
def test_actual_at_plan_has_no_variance_and_every_week_is_a_monday(
    weeks: list[tuple[int, Decimal, Decimal]],
) -> None:
    from datetime import timedelta

    reports = {
        TERM.start_date + timedelta(weeks=n): ReportedHours(
            TERM.start_date + timedelta(weeks=n), regular, ot, D(0), "import"
        )
        for n, regular, ot in weeks
    }
    a = assignment_actuals(reports.values(), _rates, TERM, TERM.expected_end_date)
    assert all(w.week == monday(w.week) for w in a.weeks)
    assert len(a.weeks) == 13
    for w in a.weeks:
        if w.reported is not None:
            expected = D("1.50") * w.reported.regular_hours - D("1.50") * w.reported.ot_hours
            assert w.actual_gross_profit == expected
    at_plan = [ReportedHours(w.week, D(40), D(5), D(0), "estimate") for w in a.weeks]
    assert assignment_actuals(at_plan, _rates, TERM, TERM.expected_end_date).variance_to_date == 0


def test_since_lists_the_recent_weeks_and_keeps_every_sum() -> None:
    reports = [_week("2026-01-05", "40", "5"), _week("2026-01-19", "20"), _week("2026-03-02", "38")]
    as_of = date(2026, 3, 15)
    whole = assignment_actuals(reports, _rates, TERM, as_of)
    recent = assignment_actuals(reports, _rates, TERM, as_of, since=date(2026, 3, 4))
    # The weeks before the week of 2026-03-04 that were reported, then every week from it.
    assert [w.week.isoformat() for w in recent.weeks] == [
        "2026-01-05", "2026-01-19", "2026-03-02", "2026-03-09"
    ]  # fmt: skip
    assert [w for w in whole.weeks if w.week in {x.week for x in recent.weeks}] == list(
        recent.weeks
    )
    for total in ("actual_hours_to_date", "planned_hours_to_date", "actual_gross_profit_to_date",
                  "planned_gross_profit_to_date", "variance_to_date"):  # fmt: skip
        assert getattr(recent, total) == getattr(whole, total)
    assert recent.forecast_remaining_gross_profit == whole.forecast_remaining_gross_profit
    assert recent.forecast_basis == whole.forecast_basis == "run_rate"
