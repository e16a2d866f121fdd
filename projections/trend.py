"""The portfolio from each assignment's rate history and each contract's terms history, read
once (not one read per day): its weekly gross profit on a series of days (`weekly_trend`), and
every assignment's roll-up figures on one day (`portfolio_on`). Pure: the same formulas as the
roll-up of one day's facts (`margin.weekly_gross_profit` of the rates and terms in force on each
day, summed over the assignments active that day), so the last point of a trend ending on
`as_of` equals the portfolio's weekly gross profit as of that day, and `portfolio_on` equals
`rollup.assignment_margin` of the facts a read of that day gives (tests/unit/test_rollup.py).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import pairwise
from typing import NamedTuple

from projections import margin
from projections.read_model import Terms, TermsRow, terms_in_force
from projections.rollup import RollUpFigures, active_figures

ZERO = Decimal(0)


# The histories of a whole portfolio are tens of thousands of these, read together and kept
# while the read models are unchanged: tuples of plain values, cheap to build, which the
# cyclic garbage collector stops scanning after its first look.


class RatePoint(NamedTuple):
    effective_date: date
    stream_version: int
    pay_rate: Decimal
    bill_rate: Decimal
    ot_pay_rate: Decimal | None = None  # as given; None: derived (the weekly figures need no DT)
    ot_bill_rate: Decimal | None = None


class TrendAssignment(NamedTuple):
    contract_id: str
    start_date: date
    end_date: date | None
    contract_terminated_on: date | None
    hours_per_week: Decimal
    own_burden_pct: Decimal | None
    rates: tuple[RatePoint, ...]  # the rate history, any order
    expected_end_date: date
    at_risk: bool  # an open negotiation, raise request or bypass threat concerns it
    planned_ot_hours_per_week: Decimal = ZERO
    ot_exempt: bool = False

    def active_on(self, day: date) -> bool:
        """As AssignmentFacts.status: started, and not ended or terminated by then."""
        if day < self.start_date:
            return False
        ended = [d for d in (self.end_date, self.contract_terminated_on) if d is not None]
        return not (ended and day >= min(ended))


@dataclass(frozen=True)
class TrendPoint:
    day: date
    active_assignments: int
    weekly_gross_profit: Decimal


def _order(p: RatePoint) -> tuple[date, int]:
    return (p.effective_date, p.stream_version)


def _sorted(history: tuple[RatePoint, ...]) -> Sequence[RatePoint]:
    return history if len(history) < 2 else sorted(history, key=_order)


def _rates_on(history: Sequence[RatePoint], day: date) -> RatePoint:
    """The rates in force on `day` (history sorted by effective date, version); before the
    first, the first recorded (as the read of one day does)."""
    found = history[0]
    for p in history:
        if p.effective_date > day:
            break
        found = p
    return found


def _priced(a: TrendAssignment, r: RatePoint, terms: Terms) -> margin.Rates:
    burden = a.own_burden_pct if a.own_burden_pct is not None else terms.burden_pct
    if not a.planned_ot_hours_per_week:  # the plain week: what every roll-up of v1 computed
        return margin.Rates(r.pay_rate, r.bill_rate, burden, terms.msp_fee_pct, a.hours_per_week)
    return margin.Rates(
        r.pay_rate,
        r.bill_rate,
        burden,
        terms.msp_fee_pct,
        a.hours_per_week,
        ot_pay_rate=r.ot_pay_rate,
        ot_bill_rate=r.ot_bill_rate,
        ot_bill_multiplier=terms.ot_bill_multiplier,
        dt_bill_multiplier=terms.dt_bill_multiplier,
        planned_ot_hours_per_week=a.planned_ot_hours_per_week,
        ot_exempt=a.ot_exempt,
    )


def weekly_trend(
    assignments: Iterable[TrendAssignment],
    terms_history: Mapping[str, Sequence[TermsRow]],
    days: Sequence[date],
) -> list[TrendPoint]:
    """Each assignment's weekly gross profit is constant between the dates its rates or its
    contract's terms change, so it is computed once per such stretch and added to every day of
    the stretch (a difference array), not once per day."""
    days = sorted(days)
    n = len(days)
    wgp_diff = [ZERO] * (n + 1)
    count_diff = [0] * (n + 1)
    wgp_cache: dict[tuple[object, ...], Decimal] = {}
    terms_cache: dict[tuple[str, int], Terms | None] = {}  # by contract and first day
    amended: dict[str, list[date]] = {
        cid: sorted({t.effective_date for t in rows if t.kind != "signed"})
        for cid, rows in terms_history.items()
    }
    for a in assignments:
        rows = terms_history.get(a.contract_id)
        if not a.rates or not rows:
            continue
        first = bisect_left(days, a.start_date)  # the days it is active: [first, last)
        ended = [d for d in (a.end_date, a.contract_terminated_on) if d is not None]
        last = bisect_left(days, min(ended)) if ended else n
        if first >= last:
            continue
        count_diff[first] += 1
        count_diff[last] -= 1
        history = _sorted(a.rates)
        changes = {p.effective_date for p in history} | set(amended.get(a.contract_id, ()))
        cuts = sorted({first, last, *(bisect_left(days, d) for d in changes)})
        for lo, hi in pairwise(cuts):
            if lo < first or hi > last or lo >= hi:
                continue
            day = days[lo]
            if (a.contract_id, lo) in terms_cache:
                t = terms_cache[a.contract_id, lo]
            else:
                t = terms_cache[a.contract_id, lo] = terms_in_force(rows, day)
            if t is None:
                continue
            r = _rates_on(history, day)
            burden = a.own_burden_pct if a.own_burden_pct is not None else t.burden_pct
            key: tuple[object, ...] = (r.pay_rate, r.bill_rate, burden, t.msp_fee_pct)
            key += (a.hours_per_week,)
            if a.planned_ot_hours_per_week:
                key += (r.ot_pay_rate, r.ot_bill_rate, t.ot_bill_multiplier)
                key += (a.planned_ot_hours_per_week, a.ot_exempt)
            wgp = wgp_cache.get(key)
            if wgp is None:
                wgp = margin.weekly_gross_profit(_priced(a, r, t))
                wgp_cache[key] = wgp
            wgp_diff[lo] += wgp
            wgp_diff[hi] -= wgp
    points = []
    total, active = ZERO, 0
    for i, d in enumerate(days):
        total += wgp_diff[i]
        active += count_diff[i]
        points.append(TrendPoint(d, active, total))
    return points


def figures_on(a: TrendAssignment, terms: Terms, day: date) -> RollUpFigures:
    """The assignment's roll-up figures on `day` under the contract's terms in force that day:
    those of `assignment_margin` for the facts a read of that day gives
    (tests/unit/test_rollup.py)."""
    if not a.active_on(day):
        return RollUpFigures(a.contract_id, False, a.at_risk)
    rates = _priced(a, _rates_on(_sorted(a.rates), day), terms)
    term = margin.Term(a.start_date, a.expected_end_date)
    return active_figures(a.contract_id, a.at_risk, rates, term, day)


def portfolio_on(
    assignments: Iterable[TrendAssignment],
    terms_history: Mapping[str, Sequence[TermsRow]],
    current: Mapping[str, Terms],
    day: date,
) -> list[RollUpFigures]:
    """Every assignment's roll-up figures on `day`, in the order given. `current`: a contract's
    terms as last amended, for one without a terms history (never: its signing is one)."""
    in_force: dict[str, Terms] = {}
    out = []
    for a in assignments:
        t = in_force.get(a.contract_id)
        if t is None:
            rows = terms_history.get(a.contract_id)
            t = (terms_in_force(rows, day) if rows else None) or current[a.contract_id]
            in_force[a.contract_id] = t
        out.append(figures_on(a, t, day))
    return out
