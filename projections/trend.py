"""The portfolio's weekly gross profit on a series of days, from each assignment's rate history
and each contract's terms history read once (not one read per day). Pure: the same formulas as
the roll-up (`margin.weekly_gross_profit` of the rates and terms in force on each day, summed
over the assignments active that day), so the last point of a trend ending on `as_of` equals
the portfolio's weekly gross profit as of that day.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from projections import margin
from projections.read_model import Terms, TermsRow, terms_in_force

ZERO = Decimal(0)


@dataclass(frozen=True)
class RatePoint:
    effective_date: date
    stream_version: int
    pay_rate: Decimal
    bill_rate: Decimal


@dataclass(frozen=True)
class TrendAssignment:
    contract_id: str
    start_date: date
    end_date: date | None
    contract_terminated_on: date | None
    hours_per_week: Decimal
    own_burden_pct: Decimal | None
    rates: tuple[RatePoint, ...]  # the rate history, any order

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


def _rates_on(history: Sequence[RatePoint], day: date) -> RatePoint:
    """The rates in force on `day` (history sorted by effective date, version); before the
    first, the first recorded (as the read of one day does)."""
    found = history[0]
    for p in history:
        if p.effective_date > day:
            break
        found = p
    return found


def weekly_trend(
    assignments: Iterable[TrendAssignment],
    terms_history: dict[str, Sequence[TermsRow]],
    days: Sequence[date],
) -> list[TrendPoint]:
    days = sorted(days)
    terms_cache: dict[tuple[str, date], Terms | None] = {}
    wgp_cache: dict[tuple[Decimal, ...], Decimal] = {}

    def terms(contract_id: str, day: date) -> Terms | None:
        rows = terms_history.get(contract_id, ())
        key = (contract_id, day if len(rows) > 1 else date.min)
        if key not in terms_cache:
            terms_cache[key] = terms_in_force(rows, day)
        return terms_cache[key]

    totals = [ZERO] * len(days)
    counts = [0] * len(days)
    for a in assignments:
        if not a.rates:
            continue
        history = sorted(a.rates, key=lambda p: (p.effective_date, p.stream_version))
        for i, day in enumerate(days):
            if not a.active_on(day):
                continue
            t = terms(a.contract_id, day)
            if t is None:
                continue
            r = _rates_on(history, day)
            burden = a.own_burden_pct if a.own_burden_pct is not None else t.burden_pct
            key = (r.pay_rate, r.bill_rate, burden, t.msp_fee_pct, a.hours_per_week)
            wgp = wgp_cache.get(key)
            if wgp is None:
                wgp = margin.weekly_gross_profit(margin.Rates(*key))
                wgp_cache[key] = wgp
            totals[i] += wgp
            counts[i] += 1
    return [TrendPoint(d, counts[i], totals[i]) for i, d in enumerate(days)]
