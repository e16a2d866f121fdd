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


@dataclass(frozen=True)
class AssignmentMargin:
    facts: AssignmentFacts
    status: str
    figures: margin.Figures


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


def roll_up(margins: Iterable[AssignmentMargin]) -> RollUp:
    active = [m for m in margins if m.status == "active"]
    weekly = sum((m.figures.weekly_gross_profit for m in active), ZERO)
    billing = sum((m.figures.bill_rate * m.figures.hours_per_week for m in active), ZERO)
    return RollUp(
        active_assignments=len(active),
        weekly_gross_profit=weekly,
        weekly_billing=billing,
        markup_pct=margin.weighted_markup_pct(m.facts.rates for m in active),
        margin_pct=weekly * 100 / billing if billing else None,
        remaining_gross_profit=sum((m.figures.remaining_gross_profit for m in active), ZERO),
        at_risk_weekly_gross_profit=sum(
            (m.figures.weekly_gross_profit for m in active if m.facts.at_risk), ZERO
        ),
        loss_making_assignments=sum(1 for m in active if m.figures.margin_per_hour < 0),
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
