# Long: every formula of DESIGN's margin and overtime sections: one definition each.
"""Margin math: every figure of DESIGN.md "Money and margin: the formulas" and of "Overtime,
hours worked and client health", as pure functions.

Overtime (OT) and double time (DT): each kind of hour has its own pay and bill rate, given or
derived from a multiplier of the regular one (pay 1.5× and 2×; bill the contract's
`ot_bill_multiplier` and `dt_bill_multiplier`), burden on its pay and the MSP fee on its bill,
so that its margin per hour is `margin_per_hour` of its own rates (`ot_rates`, `dt_rates`).
The planned week is H regular hours plus `planned_ot_hours_per_week` OT hours (0 by default,
when the OT part of a sum is left out, so that a plan without OT gives exactly the figures of
before OT existed, down to the Decimal's exponent). An `ot_exempt` assignment has no OT or DT:
its OT and DT figures are None.

Plain data in, `Decimal` out: no I/O, no clock (`as_of` is always passed in), never a float.
Percentages are in percent units (`Decimal("25")` means 25 %).

Exactness. Addition, subtraction and multiplication run in `_EXACT`, a private context with
1000 significant digits that *traps* `Inexact`: they are exact, and if an input were ever so
extreme that they could not be, the call raises instead of rounding silently. Division by 100 is
done as multiplication by 0.01, which is exact. The only divisions that may not terminate
(by P, by B, by 7 days, by 100 − f, by Σ P·H) run in `_DIVIDE`, 34 significant digits
(IEEE decimal128), and each formula is rearranged so that it divides ONCE, as its last step: e.g.
remaining gross profit is `margin_per_hour × H × days / 7`, never `weekly × rounded weeks`.
Neither context depends on the caller's thread-local decimal context.

The only rounding DESIGN asks for inside the domain is MarkupAgreed's bill rate
(`bill_rate_for_markup`, cents half-up); `round_money` / `round_pct` are for the API edge only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import MISSING, dataclass, fields
from datetime import date, datetime
from decimal import (
    MAX_EMAX,
    MIN_EMIN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DecimalException,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Final, Protocol

__all__ = [
    "DEFAULT_DT_BILL_MULTIPLIER",
    "DEFAULT_OT_BILL_MULTIPLIER",
    "DIVIDE_CONTEXT",
    "DT_PAY_MULTIPLIER",
    "EXACT_CONTEXT",
    "OT_PAY_MULTIPLIER",
    "Figures",
    "Impact",
    "ImpactFigures",
    "PayBillHours",
    "Rates",
    "Term",
    "agreed_ot_rates",
    "bill_rate_for_markup",
    "break_even_markup_pct",
    "burdened_cost",
    "conversion_fee_due",
    "dt_rates",
    "figures",
    "hour_margin",
    "hours_worked",
    "impact",
    "margin_pct",
    "margin_per_dt_hour",
    "margin_per_hour",
    "margin_per_ot_hour",
    "markup_pct",
    "ot_rates",
    "planned_hours_per_week",
    "remaining_days",
    "remaining_gross_profit",
    "remaining_weeks",
    "roll_up_figures",
    "round_money",
    "round_pct",
    "spread",
    "weekly_gross_profit",
    "weighted_markup_pct",
]


def _context(prec: int, rounding: str, *traps: type[DecimalException]) -> Context:
    """Exponents unbounded; an invalid operation, a division by zero and an overflow always
    raise, and so does each of `traps`."""
    every: list[type[DecimalException]] = [InvalidOperation, DivisionByZero, Overflow, *traps]
    return Context(prec=prec, rounding=rounding, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=every)


# Exact arithmetic: + − × never round here; if one ever had to, Inexact is raised instead.
_EXACT: Final = _context(1000, ROUND_HALF_EVEN, Inexact)
# The one place a non-terminating quotient is cut: 34 significant digits, once per formula.
_DIVIDE: Final = _context(34, ROUND_HALF_EVEN)
# Rounding for display and for MarkupAgreed's bill rate: rounding is the point, so no Inexact trap.
_ROUND: Final = _context(1000, ROUND_HALF_UP)

# Shared with the risk rules, which compute exposures under the same discipline.
EXACT_CONTEXT: Final = _EXACT
DIVIDE_CONTEXT: Final = _DIVIDE

_HUNDREDTH: Final = Decimal("0.01")
_ZERO: Final = Decimal(0)
_ONE: Final = Decimal(1)
_HUNDRED: Final = Decimal(100)
_DAYS_PER_WEEK: Final = Decimal(7)
OT_PAY_MULTIPLIER: Final = Decimal("1.5")
DT_PAY_MULTIPLIER: Final = Decimal(2)
# A contract's bill multipliers when it names none: equal to the pay multipliers (DESIGN).
DEFAULT_OT_BILL_MULTIPLIER: Final = OT_PAY_MULTIPLIER
DEFAULT_DT_BILL_MULTIPLIER: Final = DT_PAY_MULTIPLIER
_WEEKS_PER_YEAR: Final = Decimal(52)


def _decimal(name: str, value: object) -> Decimal:
    """A finite Decimal, or TypeError/ValueError: a float must never reach the money path."""
    if type(value) is Decimal and value.is_finite():
        return value
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    d = Decimal(value)
    if not d.is_finite():
        raise ValueError(f"{name} must be a finite number, not {d}")
    return d


def _date(name: str, value: object) -> date:
    # datetime is a subclass of date, and subtracting one from a date raises deep inside.
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"{name} must be a date, not {type(value).__name__}")
    return value


# ---------------------------------------------------------------------------------------------
# Rates: the per-hour figures
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rates:
    """What an assignment costs and earns per hour, and the terms that price it."""

    pay_rate: Decimal
    bill_rate: Decimal
    burden_pct: Decimal  # the assignment's own, else the contract's (the caller resolves)
    msp_fee_pct: Decimal = Decimal(0)  # the contract's; 0 when absent
    hours_per_week: Decimal = Decimal(40)
    # Overtime and double time. A rate left None is derived: pay by OT_PAY_MULTIPLIER /
    # DT_PAY_MULTIPLIER, bill by the contract's multiplier below (`ot_rates`, `dt_rates`).
    ot_pay_rate: Decimal | None = None
    ot_bill_rate: Decimal | None = None
    dt_pay_rate: Decimal | None = None
    dt_bill_rate: Decimal | None = None
    ot_bill_multiplier: Decimal = DEFAULT_OT_BILL_MULTIPLIER  # the contract's
    dt_bill_multiplier: Decimal = DEFAULT_DT_BILL_MULTIPLIER
    planned_ot_hours_per_week: Decimal = Decimal(0)
    ot_exempt: bool = False  # no OT and no DT: its OT/DT figures are None

    def __post_init__(self) -> None:
        for name in _RATES_FIELDS:
            # ints are accepted and stored as Decimal; floats are refused.
            value = getattr(self, name)
            if value is None and name in _OPTIONAL_RATES:
                continue
            if type(value) is not Decimal or not value.is_finite():
                object.__setattr__(self, name, _decimal(name, value))
        if self.pay_rate <= 0:
            raise ValueError(
                f"pay_rate must be > 0 (markup is relative to it), not {self.pay_rate}"
            )
        if self.hours_per_week < 0:
            raise ValueError(f"hours_per_week must be >= 0, not {self.hours_per_week}")
        if self.planned_ot_hours_per_week < 0:
            raise ValueError(
                f"planned_ot_hours_per_week must be >= 0, not {self.planned_ot_hours_per_week}"
            )
        if not isinstance(self.ot_exempt, bool):
            raise TypeError(f"ot_exempt must be a bool, not {type(self.ot_exempt).__name__}")

    @classmethod
    def of_checked(cls, **values: object) -> Rates:
        """`Rates(**values)` for values that passed these checks already (finite Decimals of
        validated events or states, or arithmetic on checked rates): the same rates, without
        checking each field again (the risk agent prices rates several times an event)."""
        rates = object.__new__(cls)
        rates.__dict__.update(_RATES_DEFAULTS, **values)
        return rates


_OPTIONAL_RATES: Final = frozenset({"ot_pay_rate", "ot_bill_rate", "dt_pay_rate", "dt_bill_rate"})
_RATES_FIELDS: Final = tuple(f.name for f in fields(Rates) if f.name != "ot_exempt")
_RATES_DEFAULTS: Final = {f.name: f.default for f in fields(Rates) if f.default is not MISSING}


def _kind_rates(
    r: Rates,
    pay: Decimal | None,
    bill: Decimal | None,
    pay_multiplier: Decimal,
    bill_multiplier: Decimal,
    hours: Decimal,
) -> Rates | None:
    if r.ot_exempt:
        return None
    kind_pay, kind_bill = kind_pay_bill(
        r.pay_rate, r.bill_rate, pay, bill, pay_multiplier, bill_multiplier
    )
    # Built from `r`'s fields, checked when `r` was (a given OT/DT rate, or a positive rate
    # times a positive multiplier: every check of `Rates` holds).
    return Rates.of_checked(
        pay_rate=kind_pay,
        bill_rate=kind_bill,
        burden_pct=r.burden_pct,
        msp_fee_pct=r.msp_fee_pct,
        hours_per_week=hours,
    )


def kind_pay_bill(
    pay_rate: Decimal,
    bill_rate: Decimal,
    pay: Decimal | None,
    bill: Decimal | None,
    pay_multiplier: Decimal,
    bill_multiplier: Decimal,
) -> tuple[Decimal, Decimal]:
    """An OT or DT hour's pay and bill rates: those given, else the regular rates times the
    multipliers (exact). The formula of `ot_rates` and `dt_rates`, without building Rates: a
    replay records the OT rates of two sides per margin impact."""
    x = _EXACT
    return (
        pay if pay is not None else x.multiply(pay_multiplier, pay_rate),
        bill if bill is not None else x.multiply(bill_multiplier, bill_rate),
    )


def ot_rates(r: Rates) -> Rates | None:
    """The overtime hour as rates of its own (P_ot, B_ot, the same burden and MSP fee, the
    planned OT hours as its week): every per-hour figure of an OT hour is that figure of these
    rates. None for an ot_exempt assignment."""
    return _kind_rates(
        r,
        r.ot_pay_rate,
        r.ot_bill_rate,
        OT_PAY_MULTIPLIER,
        r.ot_bill_multiplier,
        r.planned_ot_hours_per_week,
    )


def ot_pay_bill(
    pay_rate: Decimal,
    bill_rate: Decimal,
    ot_pay_rate: Decimal | None,
    ot_bill_rate: Decimal | None,
    ot_bill_multiplier: Decimal,
    ot_exempt: bool,
) -> tuple[Decimal, Decimal] | None:
    """(P_ot, B_ot) of `ot_rates` from the rates and terms themselves; None when ot_exempt."""
    if ot_exempt:
        return None
    return kind_pay_bill(
        pay_rate, bill_rate, ot_pay_rate, ot_bill_rate, OT_PAY_MULTIPLIER, ot_bill_multiplier
    )


def dt_rates(r: Rates) -> Rates | None:
    """The double-time hour as rates of its own (no DT is planned: 0 hours a week). None for an
    ot_exempt assignment."""
    return _kind_rates(
        r, r.dt_pay_rate, r.dt_bill_rate, DT_PAY_MULTIPLIER, r.dt_bill_multiplier, _ZERO
    )


def markup_pct(r: Rates) -> Decimal:
    """(B / P − 1) × 100, computed as (B − P) × 100 / P: one division."""
    x = _EXACT
    return _DIVIDE.divide(x.multiply(x.subtract(r.bill_rate, r.pay_rate), _HUNDRED), r.pay_rate)


def spread(r: Rates) -> Decimal:
    """B − P: what account managers call gross profit per hour."""
    with localcontext(_EXACT):
        return r.bill_rate - r.pay_rate


# The figures a roll-up sums over thousands of assignments call the contexts' methods
# (`_EXACT.multiply(a, b)` is `a * b` under `localcontext(_EXACT)`, without copying a context).


def burdened_cost(r: Rates) -> Decimal:
    """P × (1 + b/100)."""
    x = _EXACT
    return x.multiply(r.pay_rate, x.add(_ONE, x.multiply(r.burden_pct, _HUNDREDTH)))


def margin_per_hour(r: Rates) -> Decimal:
    """B − burdened_cost − B × f/100: gross margin per hour, exact."""
    x = _EXACT
    fee = x.multiply(x.multiply(r.bill_rate, r.msp_fee_pct), _HUNDREDTH)
    return x.subtract(x.subtract(r.bill_rate, burdened_cost(r)), fee)


def margin_pct(r: Rates) -> Decimal:
    """margin_per_hour / B × 100, computed as margin_per_hour × 100 / B: one division.

    Undefined for a bill rate of 0 (ValueError): DESIGN gives no value for it.
    """
    if r.bill_rate == 0:
        raise ValueError("margin_pct is undefined for a bill rate of 0")
    with localcontext(_EXACT):
        numerator = margin_per_hour(r) * _HUNDRED
    with localcontext(_DIVIDE):
        return numerator / r.bill_rate


def agreed_ot_rates(r: Rates, ot_markup_pct: Decimal) -> tuple[Decimal, Decimal] | None:
    """An OT markup agreed on rates `r`: (OT pay as in force, given or derived; OT bill = that
    pay × (1 + ot_markup_pct/100), in cents like MarkupAgreed's bill rate). None when
    ot_exempt."""
    ot = ot_rates(r)
    if ot is None:
        return None
    return ot.pay_rate, bill_rate_for_markup(ot.pay_rate, ot_markup_pct)


def margin_per_ot_hour(r: Rates) -> Decimal | None:
    """B_ot − P_ot × (1 + b/100) − B_ot × f/100; None when ot_exempt."""
    ot = ot_rates(r)
    return None if ot is None else margin_per_hour(ot)


def margin_per_dt_hour(r: Rates) -> Decimal | None:
    """B_dt − P_dt × (1 + b/100) − B_dt × f/100; None when ot_exempt."""
    dt = dt_rates(r)
    return None if dt is None else margin_per_hour(dt)


def weekly_gross_profit(r: Rates, per_hour: Decimal | None = None) -> Decimal:
    """margin_per_hour × H + margin_per_ot_hour × H_ot, exact (the OT part only when OT is
    planned); `per_hour`: `margin_per_hour(r)`, when the caller has it already."""
    return _weekly(margin_per_hour(r) if per_hour is None else per_hour, r)


def _weekly(mph: Decimal, r: Rates) -> Decimal:
    regular = _EXACT.multiply(mph, r.hours_per_week)
    if not r.planned_ot_hours_per_week or r.ot_exempt:
        return regular
    ot = ot_rates(r)
    assert ot is not None  # not exempt
    return _EXACT.add(regular, _EXACT.multiply(margin_per_hour(ot), ot.hours_per_week))


def planned_hours_per_week(r: Rates) -> Decimal:
    """H + H_ot: every hour of the planned week (H alone when no OT is planned)."""
    if not r.planned_ot_hours_per_week or r.ot_exempt:
        return r.hours_per_week
    return _EXACT.add(r.hours_per_week, r.planned_ot_hours_per_week)


def hour_margin(r: Rates, regular: Decimal, ot: Decimal, dt: Decimal) -> Decimal:
    """Gross profit of hours worked: Σ hours × margin per hour of that kind (DESIGN "Overtime,
    hours worked"), exact. ValueError for OT or DT hours of an ot_exempt assignment."""
    x = _EXACT
    total = x.multiply(margin_per_hour(r), regular)
    for hours, kind in ((ot, ot_rates(r)), (dt, dt_rates(r))):
        if not hours:
            continue
        if kind is None:
            raise ValueError("an ot_exempt assignment works no OT or DT hours")
        total = x.add(total, x.multiply(margin_per_hour(kind), hours))
    return total


def break_even_markup_pct(burden_pct: Decimal, msp_fee_pct: Decimal = Decimal(0)) -> Decimal:
    """(1 + b/100) / (1 − f/100) × 100 − 100: below it every hour loses money.

    Computed as 100 × (b + f) / (100 − f), one division, so it is exactly `b` when f is 0.
    An MSP fee of 100 % or more leaves no break-even (the fee eats the whole bill rate or more):
    ValueError.
    """
    b = _decimal("burden_pct", burden_pct)
    f = _decimal("msp_fee_pct", msp_fee_pct)
    if f >= _HUNDRED:
        raise ValueError(f"no break-even markup: an MSP fee of {f} % takes the whole bill rate")
    with localcontext(_EXACT):
        numerator = _HUNDRED * (b + f)
        denominator = _HUNDRED - f
    with localcontext(_DIVIDE):
        return numerator / denominator


def bill_rate_for_markup(pay_rate: Decimal, markup_pct: Decimal) -> Decimal:
    """MarkupAgreed's bill rate: pay × (1 + markup/100), rounded to cents half-up.

    The only rounding DESIGN asks for inside the domain. The product is exact before rounding, so
    the result is rounded once. Half-up is Decimal's ROUND_HALF_UP: ties go away from zero.
    """
    p = _decimal("pay_rate", pay_rate)
    m = _decimal("markup_pct", markup_pct)
    x = _EXACT
    return round_money(x.multiply(p, x.add(_ONE, x.multiply(m, _HUNDREDTH))))


class PayBillHours(Protocol):
    """What a weighted markup weighs: Rates, or a roll-up's figures of an assignment."""

    @property
    def pay_rate(self) -> Decimal: ...
    @property
    def bill_rate(self) -> Decimal: ...
    @property
    def hours_per_week(self) -> Decimal: ...


def weighted_markup_pct(items: Iterable[PayBillHours]) -> Decimal | None:
    """Markup weighted by pay × hours, for roll-ups: Σ (B − P)·H / Σ P·H × 100.

    None when there is nothing to weigh: no items, or every item at 0 hours a week.
    """
    with localcontext(_EXACT):
        spread_hours = _ZERO
        pay_hours = _ZERO
        for r in items:
            spread_hours += (r.bill_rate - r.pay_rate) * r.hours_per_week
            pay_hours += r.pay_rate * r.hours_per_week
        if pay_hours == 0:
            return None
        numerator = spread_hours * _HUNDRED
    with localcontext(_DIVIDE):
        return numerator / pay_hours


# ---------------------------------------------------------------------------------------------
# Term: the figures that depend on dates
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """The assignment's dates.

    An expected end before the start is tolerated as a term of zero length (nothing remains and
    nothing is worked), so that a replayed log never makes the projector fail.
    """

    start_date: date
    expected_end_date: date

    def __post_init__(self) -> None:
        _date("start_date", self.start_date)
        _date("expected_end_date", self.expected_end_date)


def remaining_days(t: Term, as_of: date) -> int:
    """max(0, (expected_end_date − max(as_of, start_date)).days): whole calendar days."""
    as_of = _date("as_of", as_of)
    return max(0, (t.expected_end_date - max(as_of, t.start_date)).days)


def _days_worked(t: Term, as_of: date) -> int:
    """Calendar days from start_date to as_of, 0 before the start, capped at expected_end_date."""
    as_of = _date("as_of", as_of)
    until = min(as_of, t.expected_end_date)
    return max(0, (until - t.start_date).days)


def remaining_weeks(t: Term, as_of: date) -> Decimal:
    """remaining_days / 7 (34 significant digits when it does not terminate)."""
    with localcontext(_DIVIDE):
        return Decimal(remaining_days(t, as_of)) / _DAYS_PER_WEEK


def remaining_gross_profit(r: Rates, t: Term, as_of: date) -> Decimal:
    """weekly_gross_profit × remaining_weeks, computed as margin × H × days / 7.

    Divided once, at the end, so no rounded week count is ever multiplied by money.
    """
    return _remaining(weekly_gross_profit(r), remaining_days(t, as_of))


def _remaining(weekly: Decimal, days: int) -> Decimal:
    return _DIVIDE.divide(_EXACT.multiply(weekly, days), _DAYS_PER_WEEK)


def roll_up_figures(r: Rates, t: Term, as_of: date) -> tuple[Decimal, Decimal, Decimal]:
    """(margin_per_hour, weekly_gross_profit, remaining_gross_profit) of `r` over `t` as of
    `as_of`, each exactly as its own function gives it, the margin computed once: what a
    roll-up sums, for thousands of assignments at a time."""
    mph = margin_per_hour(r)
    weekly = _weekly(mph, r)
    return mph, weekly, _remaining(weekly, remaining_days(t, as_of))


def hours_worked(r: Rates, t: Term, as_of: date) -> Decimal:
    """(H + H_ot) × weeks between start_date and as_of, computed as hours × days / 7: the
    planned hours, OT included (an OT hour is an hour worked, toward a conversion waiver too).

    Weeks are fractional (calendar days / 7, like remaining_weeks). 0 before the start; capped
    at expected_end_date (DESIGN is silent; an assignment is not worked past its expected end,
    and hours_worked + H × remaining_weeks is then the whole term).
    """
    with localcontext(_EXACT):
        numerator = planned_hours_per_week(r) * _days_worked(t, as_of)
    with localcontext(_DIVIDE):
        return numerator / _DAYS_PER_WEEK


def conversion_fee_due(
    r: Rates,
    t: Term,
    as_of: date,
    conversion_fee_pct: Decimal,
    waived_after_hours: Decimal | None,
) -> Decimal:
    """conversion_fee_pct/100 × P × H × 52, or 0 once hours_worked ≥ waived_after_hours.

    No waiver (None): the fee is always due. The waiver is tested against the very
    `hours_worked` this module reports, so the two figures never contradict each other (for any
    waiver of fewer than ~30 significant digits this is the same as the exact comparison).
    """
    fee_pct = _decimal("conversion_fee_pct", conversion_fee_pct)
    if waived_after_hours is not None:
        waiver = _decimal("waived_after_hours", waived_after_hours)
        if hours_worked(r, t, as_of) >= waiver:
            return _ZERO
    with localcontext(_EXACT):
        return fee_pct * _HUNDREDTH * r.pay_rate * r.hours_per_week * _WEEKS_PER_YEAR


# ---------------------------------------------------------------------------------------------
# Every figure at once, and the impact of a change
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """Every figure of DESIGN's table for one assignment as of a date (exact, unrounded)."""

    pay_rate: Decimal
    bill_rate: Decimal
    burden_pct: Decimal
    msp_fee_pct: Decimal
    hours_per_week: Decimal
    markup_pct: Decimal
    spread: Decimal
    burdened_cost: Decimal
    margin_per_hour: Decimal
    margin_pct: Decimal
    weekly_gross_profit: Decimal
    break_even_markup_pct: Decimal
    remaining_weeks: Decimal
    remaining_gross_profit: Decimal
    hours_worked: Decimal
    conversion_fee_due: Decimal
    # Overtime and double time (None when ot_exempt).
    planned_ot_hours_per_week: Decimal = Decimal(0)
    ot_exempt: bool = False
    ot_pay_rate: Decimal | None = None
    ot_bill_rate: Decimal | None = None
    ot_markup_pct: Decimal | None = None
    ot_burdened_cost: Decimal | None = None
    margin_per_ot_hour: Decimal | None = None
    dt_pay_rate: Decimal | None = None
    dt_bill_rate: Decimal | None = None
    dt_markup_pct: Decimal | None = None
    dt_burdened_cost: Decimal | None = None
    margin_per_dt_hour: Decimal | None = None


def figures(
    r: Rates,
    t: Term,
    as_of: date,
    conversion_fee_pct: Decimal = Decimal(0),
    waived_after_hours: Decimal | None = None,
) -> Figures:
    """Every figure of the formula table for rates `r` over term `t`, as of `as_of`."""
    return Figures(
        pay_rate=r.pay_rate,
        bill_rate=r.bill_rate,
        burden_pct=r.burden_pct,
        msp_fee_pct=r.msp_fee_pct,
        hours_per_week=r.hours_per_week,
        markup_pct=markup_pct(r),
        spread=spread(r),
        burdened_cost=burdened_cost(r),
        margin_per_hour=margin_per_hour(r),
        margin_pct=margin_pct(r),
        weekly_gross_profit=weekly_gross_profit(r),
        break_even_markup_pct=break_even_markup_pct(r.burden_pct, r.msp_fee_pct),
        remaining_weeks=remaining_weeks(t, as_of),
        remaining_gross_profit=remaining_gross_profit(r, t, as_of),
        hours_worked=hours_worked(r, t, as_of),
        conversion_fee_due=conversion_fee_due(r, t, as_of, conversion_fee_pct, waived_after_hours),
        planned_ot_hours_per_week=r.planned_ot_hours_per_week,
        ot_exempt=r.ot_exempt,
        **_kind_figures("ot", ot_rates(r)),
        **_kind_figures("dt", dt_rates(r)),
    )


def _kind_figures(kind: str, k: Rates | None) -> dict[str, Decimal | None]:
    if k is None:
        return {}
    return {
        f"{kind}_pay_rate": k.pay_rate,
        f"{kind}_bill_rate": k.bill_rate,
        f"{kind}_markup_pct": markup_pct(k),
        f"{kind}_burdened_cost": burdened_cost(k),
        f"margin_per_{kind}_hour": margin_per_hour(k),
    }


@dataclass(frozen=True)
class ImpactFigures:
    """The figures a margin impact reports (before, after, or their delta)."""

    pay_rate: Decimal
    bill_rate: Decimal
    markup_pct: Decimal
    margin_per_hour: Decimal
    weekly_gross_profit: Decimal
    remaining_gross_profit: Decimal
    margin_per_ot_hour: Decimal | None = None  # None when ot_exempt (delta: on either side)


@dataclass(frozen=True)
class Impact:
    """A change's margin impact: before, after, and delta = after − before, figure by figure."""

    before: ImpactFigures
    after: ImpactFigures
    delta: ImpactFigures


def _impact_figures(r: Rates, t: Term, counted_from: date) -> ImpactFigures:
    return ImpactFigures(
        pay_rate=r.pay_rate,
        bill_rate=r.bill_rate,
        markup_pct=markup_pct(r),
        margin_per_hour=margin_per_hour(r),
        weekly_gross_profit=weekly_gross_profit(r),
        remaining_gross_profit=remaining_gross_profit(r, t, counted_from),
        margin_per_ot_hour=margin_per_ot_hour(r),
    )


def impact(before: Rates, after: Rates, t: Term, counted_from: date) -> Impact:
    """The margin impact of changing `before` into `after`.

    Both remaining gross profits are counted from the same `counted_from` (the change's
    effective_date; for a proposal, the day it was made) to the expected end, so the delta is
    the remaining-term impact of the change alone. Deltas are exact differences of the two sides.
    """
    b = _impact_figures(before, t, counted_from)
    a = _impact_figures(after, t, counted_from)
    with localcontext(_EXACT):
        delta = ImpactFigures(
            pay_rate=a.pay_rate - b.pay_rate,
            bill_rate=a.bill_rate - b.bill_rate,
            markup_pct=a.markup_pct - b.markup_pct,
            margin_per_hour=a.margin_per_hour - b.margin_per_hour,
            weekly_gross_profit=a.weekly_gross_profit - b.weekly_gross_profit,
            remaining_gross_profit=a.remaining_gross_profit - b.remaining_gross_profit,
            margin_per_ot_hour=(
                None
                if a.margin_per_ot_hour is None or b.margin_per_ot_hour is None
                else a.margin_per_ot_hour - b.margin_per_ot_hour
            ),
        )
    return Impact(before=b, after=a, delta=delta)


# ---------------------------------------------------------------------------------------------
# Rounding for the API edge
# ---------------------------------------------------------------------------------------------


def _round(x: Decimal, places: Decimal) -> Decimal:
    rounded = _ROUND.quantize(_decimal("x", x), places)
    # A small loss rounds to 0.00, never "-0.00" (x + 0 is +0 for ±0 under HALF_UP).
    return _ROUND.add(rounded, _ZERO)


def round_money(x: Decimal) -> Decimal:
    """Cents, ROUND_HALF_UP (ties away from zero: 0.005 → 0.01, −0.005 → −0.01).

    For the API edge only: stored values stay exact.
    """
    return _round(x, _HUNDREDTH)


def round_pct(x: Decimal) -> Decimal:
    """Two decimal places, ROUND_HALF_UP (ties away from zero). For the API edge only."""
    return _round(x, _HUNDREDTH)
