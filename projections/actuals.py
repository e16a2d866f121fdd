"""Hours actually worked against the plan, per week, and the run-rate forecast (DESIGN
"Overtime, hours worked and client health"). Pure: the caller reads the reported weeks and
gives the rates in force on any day; `as_of` is always passed in.

Per assignment, every week of its term that has begun by `as_of` (weeks start on Monday):
  planned gross profit = weekly_gross_profit of the rates in force on the week's Monday (the
                         planned week, regular plus planned OT);
  actual gross profit  = Σ hours × margin per hour of that kind, at the same rates
                         (`margin.hour_margin`), for a week reported by `as_of`;
  variance             = actual − planned, for a reported week.
To date: the sums over the reported weeks only (a week not reported yet is unknown, not zero).
Forecast of the remaining term: the mean actual gross profit of the last 4 reported weeks (the
run rate) where there are reports, else the plan, × the remaining weeks; `forecast_basis` says
which. A roll-up (contract, client, account manager, portfolio) adds its assignments week by
week (`roll_up`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Final, Literal

from projections import margin

ForecastBasis = Literal["run_rate", "plan"]
RUN_RATE_WEEKS: Final = 4
_ZERO: Final = Decimal(0)
_WEEK: Final = timedelta(days=7)
_X: Final = margin.EXACT_CONTEXT
_DIV: Final = margin.DIVIDE_CONTEXT


def monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


@dataclass(frozen=True, slots=True)
class ReportedHours:
    """One week as last reported; `reports` > 1: corrected."""

    week: date
    regular_hours: Decimal
    ot_hours: Decimal
    dt_hours: Decimal
    source: str
    reports: int = 1

    @property
    def hours(self) -> Decimal:
        return _X.add(_X.add(self.regular_hours, self.ot_hours), self.dt_hours)


@dataclass(frozen=True, slots=True)
class WeekFigures:
    week: date
    planned_hours: Decimal
    planned_gross_profit: Decimal
    reported: ReportedHours | None = None
    actual_gross_profit: Decimal | None = None

    @property
    def actual_hours(self) -> Decimal | None:
        return None if self.reported is None else self.reported.hours

    @property
    def variance(self) -> Decimal | None:
        return _variance(self.actual_gross_profit, self.planned_gross_profit)


def _variance(actual: Decimal | None, planned: Decimal) -> Decimal | None:
    """actual − planned, where the actual is reported (None: unknown)."""
    return None if actual is None else _X.subtract(actual, planned)


@dataclass(frozen=True, slots=True)
class ToDate:
    """Sums over the reported weeks only, an assignment's or a roll-up's: the planned ones are
    what the actual ones are held against."""

    actual_hours_to_date: Decimal
    planned_hours_to_date: Decimal
    actual_gross_profit_to_date: Decimal
    planned_gross_profit_to_date: Decimal

    @property
    def variance_to_date(self) -> Decimal:
        return _X.subtract(self.actual_gross_profit_to_date, self.planned_gross_profit_to_date)


def _to_date(weeks: Iterable[WeekFigures]) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """The sums of `ToDate`, in its order, over those of `weeks` reported."""
    reported = [w for w in weeks if w.reported is not None]
    return (
        _sum(w.actual_hours for w in reported),
        _sum(w.planned_hours for w in reported),
        _sum(w.actual_gross_profit for w in reported),
        _sum(w.planned_gross_profit for w in reported),
    )


@dataclass(frozen=True, slots=True)
class Actuals(ToDate):
    weeks: tuple[WeekFigures, ...]  # by week
    forecast_basis: ForecastBasis
    forecast_weekly_gross_profit: Decimal
    forecast_remaining_gross_profit: Decimal

    @property
    def reported_weeks(self) -> tuple[WeekFigures, ...]:
        return tuple(w for w in self.weeks if w.reported is not None)


def _sum(values: Iterable[Decimal | None]) -> Decimal:
    total = _ZERO
    for v in values:
        if v is not None:
            total = _X.add(total, v)
    return total


def assignment_actuals(
    reports: Iterable[ReportedHours],
    rates_on: Callable[[date], margin.Rates],
    term: margin.Term,
    as_of: date,
    since: date | None = None,
) -> Actuals:
    """An assignment's weeks to `as_of` and its forecast. `rates_on(day)`: the rates in force
    on the day, priced with the terms in force then; `term`: its start to its expected end (or
    to its end once ended). `since`: the weeks listed are those from the week of `since` on
    and every reported week before it (the to-date sums and the forecast are the same: they
    read reported weeks only); default every week of the term."""
    by_week = {r.week: r for r in reports if r.week <= as_of}
    start = monday(term.start_date)
    first = start if since is None else max(start, monday(since))
    last = min(as_of, term.expected_end_date)
    listed = sorted(w for w in by_week if start <= w < first)
    week = first
    while week <= last:
        listed.append(week)
        week += _WEEK
    weeks: list[WeekFigures] = []
    planned: dict[int, tuple[margin.Rates, Decimal, Decimal]] = {}  # by the rates' identity
    for week in listed:
        r = rates_on(max(week, term.start_date))
        known = planned.get(id(r))
        if known is None or known[0] is not r:
            known = planned[id(r)] = (
                r,
                margin.planned_hours_per_week(r),
                margin.weekly_gross_profit(r),
            )
        reported = by_week.get(week)
        weeks.append(
            WeekFigures(
                week=week,
                planned_hours=known[1],
                planned_gross_profit=known[2],
                reported=reported,
                actual_gross_profit=(
                    None
                    if reported is None
                    else margin.hour_margin(
                        r, reported.regular_hours, reported.ot_hours, reported.dt_hours
                    )
                ),
            )
        )
    recent = [w.actual_gross_profit for w in weeks if w.actual_gross_profit is not None]
    recent = recent[-RUN_RATE_WEEKS:]
    basis: ForecastBasis
    if recent:
        basis = "run_rate"
        weekly = _DIV.divide(_sum(recent), Decimal(len(recent)))
    else:
        basis = "plan"
        weekly = margin.weekly_gross_profit(rates_on(max(as_of, term.start_date)))
    days = margin.remaining_days(term, as_of)
    remaining = _DIV.divide(_X.multiply(weekly, days), Decimal(7))
    return Actuals(*_to_date(weeks), tuple(weeks), basis, weekly, remaining)


@dataclass(frozen=True, slots=True)
class RolledWeek:
    week: date
    planned_hours: Decimal
    planned_gross_profit: Decimal
    actual_hours: Decimal | None  # of the assignments that reported the week
    actual_gross_profit: Decimal | None
    planned_gross_profit_reported: Decimal  # of the assignments that reported the week
    assignments: int
    assignments_reported: int

    @property
    def variance(self) -> Decimal | None:
        return _variance(self.actual_gross_profit, self.planned_gross_profit_reported)


@dataclass(frozen=True, slots=True)
class RollUp(ToDate):
    weeks: tuple[RolledWeek, ...]
    forecast_remaining_gross_profit: Decimal
    run_rate_assignments: int
    plan_assignments: int


def roll_up(items: Sequence[Actuals]) -> RollUp:
    """Many assignments' actuals added week by week; to-date sums over the reported weeks."""
    by_week: dict[date, list[WeekFigures]] = {}
    for a in items:
        for w in a.weeks:
            by_week.setdefault(w.week, []).append(w)
    weeks = []
    for week in sorted(by_week):
        ws = by_week[week]
        reported = [w for w in ws if w.reported is not None]
        weeks.append(
            RolledWeek(
                week=week,
                planned_hours=_sum(w.planned_hours for w in ws),
                planned_gross_profit=_sum(w.planned_gross_profit for w in ws),
                actual_hours=_sum(w.actual_hours for w in reported) if reported else None,
                actual_gross_profit=(
                    _sum(w.actual_gross_profit for w in reported) if reported else None
                ),
                planned_gross_profit_reported=_sum(w.planned_gross_profit for w in reported),
                assignments=len(ws),
                assignments_reported=len(reported),
            )
        )
    return RollUp(
        *_to_date(w for a in items for w in a.weeks),
        weeks=tuple(weeks),
        forecast_remaining_gross_profit=_sum(a.forecast_remaining_gross_profit for a in items),
        run_rate_assignments=sum(a.forecast_basis == "run_rate" for a in items),
        plan_assignments=sum(a.forecast_basis == "plan" for a in items),
    )
