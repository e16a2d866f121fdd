"""Margin figures as of a date, per assignment, and their roll-ups (contract, client, account
manager, portfolio). Pure: the caller reads the facts in force on that date and passes them in.

A roll-up is computed from exactly the assignment figures it shows, so a total can never
disagree with the rows it sums.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from projections import margin

ZERO = Decimal(0)


@dataclass(frozen=True)
class AssignmentFacts:
    """What was in force for one assignment on the day asked about."""

    contract_id: str
    assignment_id: str
    staffer_id: str
    staffer_name: str | None
    job_title: str
    start_date: date
    expected_end_date: date
    end_date: date | None
    end_reason: str | None
    rates: margin.Rates
    rates_effective: date
    conversion_fee_pct: Decimal
    conversion_fee_waived_after_hours: Decimal | None
    contract_terminated_on: date | None
    stream_version: int
    open_items: tuple[tuple[str, str], ...] = ()  # (kind, item id)

    def status(self, as_of: date) -> str:
        if as_of < self.start_date:
            return "scheduled"
        ended = [d for d in (self.end_date, self.contract_terminated_on) if d is not None]
        if ended and as_of >= min(ended):
            return "ended"
        return "active"

    @property
    def at_risk(self) -> bool:
        """An open negotiation, raise request or bypass threat concerns it."""
        return bool(self.open_items)


class RollUpFigures(NamedTuple):
    """What a roll-up takes from one assignment as of a day: whether it is active, whether an
    open item concerns it and, when active, its rates and the three figures a roll-up sums
    (all 0 when not active: a roll-up counts only the active). A tuple of plain values: a
    portfolio's are many, and the garbage collector soon stops scanning these."""

    contract_id: str
    active: bool
    at_risk: bool
    pay_rate: Decimal = ZERO
    bill_rate: Decimal = ZERO
    hours_per_week: Decimal = ZERO
    margin_per_hour: Decimal = ZERO
    weekly_gross_profit: Decimal = ZERO
    remaining_gross_profit: Decimal = ZERO


def active_figures(
    contract_id: str, at_risk: bool, rates: margin.Rates, term: margin.Term, as_of: date
) -> RollUpFigures:
    """An active assignment's roll-up figures, computed without the others of `figures` (equal
    to `assignment_margin(...).for_roll_up`: tests/unit/test_rollup.py)."""
    mph, weekly, remaining = margin.roll_up_figures(rates, term, as_of)
    return RollUpFigures(
        contract_id,
        True,
        at_risk,
        rates.pay_rate,
        rates.bill_rate,
        rates.hours_per_week,
        mph,
        weekly,
        remaining,
    )


@dataclass(frozen=True)
class AssignmentMargin:
    facts: AssignmentFacts
    status: str
    figures: margin.Figures

    @property
    def for_roll_up(self) -> RollUpFigures:
        x, f = self.facts, self.figures
        if self.status != "active":
            return RollUpFigures(x.contract_id, False, x.at_risk)
        return RollUpFigures(
            x.contract_id,
            True,
            x.at_risk,
            f.pay_rate,
            f.bill_rate,
            f.hours_per_week,
            f.margin_per_hour,
            f.weekly_gross_profit,
            f.remaining_gross_profit,
        )


def assignment_margin(facts: AssignmentFacts, as_of: date) -> AssignmentMargin:
    status = facts.status(as_of)
    # An assignment that has ended has nothing left to earn, whatever its expected end.
    end = facts.expected_end_date if status != "ended" else min(as_of, facts.expected_end_date)
    term = margin.Term(facts.start_date, end)
    return AssignmentMargin(
        facts,
        status,
        margin.figures(
            facts.rates,
            term,
            as_of,
            facts.conversion_fee_pct,
            facts.conversion_fee_waived_after_hours,
        ),
    )


@dataclass(frozen=True)
class RollUp:
    active_assignments: int
    weekly_gross_profit: Decimal
    weekly_billing: Decimal
    markup_pct: Decimal | None  # weighted by pay × hours
    margin_pct: Decimal | None  # weekly gross profit / weekly billing
    remaining_gross_profit: Decimal
    at_risk_weekly_gross_profit: Decimal
    loss_making_assignments: int


def roll_up(items: Iterable[RollUpFigures]) -> RollUp:
    """The roll-up of the active assignments among `items`. The sums run in the caller's
    decimal context, in the order of `items`."""
    active = [m for m in items if m.active]
    weekly = billing = remaining = at_risk = ZERO
    loss_making = 0
    for m in active:
        weekly += m.weekly_gross_profit
        billing += m.bill_rate * m.hours_per_week
        remaining += m.remaining_gross_profit
        if m.at_risk:
            at_risk += m.weekly_gross_profit
        if m.margin_per_hour < 0:
            loss_making += 1
    return RollUp(
        active_assignments=len(active),
        weekly_gross_profit=weekly,
        weekly_billing=billing,
        markup_pct=margin.weighted_markup_pct(active),
        margin_pct=weekly * 100 / billing if billing else None,
        remaining_gross_profit=remaining,
        at_risk_weekly_gross_profit=at_risk,
        loss_making_assignments=loss_making,
    )


def group_by(margins: Sequence[AssignmentMargin], key: str) -> dict[str, list[AssignmentMargin]]:
    groups: dict[str, list[AssignmentMargin]] = {}
    for m in margins:
        groups.setdefault(getattr(m.facts, key), []).append(m)
    return groups


def margin_status(margin_per_hour: Decimal, markup_pct: Decimal, floor_pct: Decimal | None) -> str:
    """red: every hour loses money; amber: the markup is below the contract's floor; green."""
    if margin_per_hour < 0:
        return "red"
    if floor_pct is not None and markup_pct < floor_pct:
        return "amber"
    return "green"
