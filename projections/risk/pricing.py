"""An assignment's rates as the risk rules price them: its rates in force under the contract's
terms (or another pay and bill), and the weekly gross profit of those in force, remembered.

Judging one event prices the same assignments several times (the fold's weekly gross profit
before and after, the rules' rates before and after a change), and building and checking a
`margin.Rates` with its margin math was a tenth of the step. So the rates in force of an
(assignment, terms) pair, both immutable and shared by every state after the event that made
them, are remembered by identity: the latest `REMEMBERED`, the oldest forgotten first (about
1 KB each). A contract's next event finds its assignments priced when fewer than that many
were priced meanwhile; a miss prices them again, to the same figures.
"""

from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from projections import margin

if TYPE_CHECKING:  # the state's types; projections.risk.state imports this module
    from projections.risk.state import AssignmentState, ContractTerms

__all__ = ["REMEMBERED", "in_force", "margin_per_hour", "rates", "weekly_gross_profit"]

REMEMBERED: Final = 8192


def rates(
    terms: ContractTerms, a: AssignmentState, pay_rate: Decimal | None, bill_rate: Decimal | None
) -> margin.Rates:
    """`a`'s rates in force (or the pay and bill given) priced with `terms`. Another pay or bill
    than in force: its OT and DT rates are derived from them."""
    given = pay_rate is None and bill_rate is None
    # The state's fields are checked (validated events, or the codec's validation), and so
    # are the pay and bill given (an event's, or a bill priced from a checked pay).
    return margin.Rates.of_checked(
        pay_rate=a.pay_rate if pay_rate is None else pay_rate,
        bill_rate=a.bill_rate if bill_rate is None else bill_rate,
        burden_pct=a.burden_pct if a.burden_pct is not None else terms.burden_pct,
        msp_fee_pct=terms.msp_fee_pct,
        hours_per_week=a.hours_per_week,
        ot_pay_rate=a.ot_pay_rate if given else None,
        ot_bill_rate=a.ot_bill_rate if given else None,
        dt_pay_rate=a.dt_pay_rate if given else None,
        dt_bill_rate=a.dt_bill_rate if given else None,
        ot_bill_multiplier=terms.ot_bill_multiplier,
        dt_bill_multiplier=terms.dt_bill_multiplier,
        planned_ot_hours_per_week=a.planned_ot_hours_per_week,
        ot_exempt=a.ot_exempt,
    )


class _Priced:
    """An assignment's rates in force under some terms, and their margin per hour and weekly
    gross profit once asked; holding both keys, so that their ids stay theirs while this is
    remembered."""

    __slots__ = ("a", "per_hour", "rates", "terms", "weekly")

    def __init__(self, terms: ContractTerms, a: AssignmentState) -> None:
        self.terms = terms
        self.a = a
        self.rates = rates(terms, a, None, None)
        self.per_hour: Decimal | None = None
        self.weekly: Decimal | None = None

    def margin_per_hour(self) -> Decimal:
        if self.per_hour is None:
            self.per_hour = margin.margin_per_hour(self.rates)
        return self.per_hour


_PRICED: OrderedDict[tuple[int, int], _Priced] = OrderedDict()
# The same, by the id of their rates: the rules ask the margin of the rates in force they were
# given (an applied change's rates after, and before it).
_BY_RATES: dict[int, _Priced] = {}


def _priced(terms: ContractTerms, a: AssignmentState) -> _Priced:
    key = (id(terms), id(a))
    found = _PRICED.get(key)
    if found is not None and found.terms is terms and found.a is a:
        return found
    if found is None and len(_PRICED) >= REMEMBERED:
        _, oldest = _PRICED.popitem(last=False)
        del _BY_RATES[id(oldest.rates)]
    elif found is not None:
        del _BY_RATES[id(found.rates)]
    found = _PRICED[key] = _Priced(terms, a)
    _BY_RATES[id(found.rates)] = found
    return found


def in_force(terms: ContractTerms, a: AssignmentState) -> margin.Rates:
    """`rates(terms, a, None, None)`, remembered."""
    return _priced(terms, a).rates


def weekly_gross_profit(terms: ContractTerms, a: AssignmentState) -> Decimal:
    """`margin.weekly_gross_profit` of `a`'s rates in force under `terms`, remembered."""
    priced = _priced(terms, a)
    if priced.weekly is None:
        priced.weekly = margin.weekly_gross_profit(priced.rates, priced.margin_per_hour())
    return priced.weekly


def margin_per_hour(r: margin.Rates) -> Decimal:
    """`margin.margin_per_hour(r)`, remembered when `r` are rates in force priced here."""
    priced = _BY_RATES.get(id(r))
    if priced is not None and priced.rates is r:
        return priced.margin_per_hour()
    return margin.margin_per_hour(r)
