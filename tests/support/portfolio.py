"""Assignments with their rate and terms histories (hypothesis strategies), and the facts a
read of one day gives for them (services/reads/margin_facts.py's SQL, restated): the
reference the portfolio's figures on a day and its trend are checked against."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import strategies as st

from projections import margin
from projections.read_model import Terms, TermsRow, terms_in_force
from projections.rollup import AssignmentFacts, AssignmentMargin, RollUp
from projections.trend import RatePoint, TrendAssignment

D0 = date(2026, 1, 5)
money = st.decimals(min_value=Decimal("10"), max_value=Decimal("60"), places=2)
pct = st.decimals(min_value=Decimal("0"), max_value=Decimal("30"), places=1)
offset = st.integers(min_value=0, max_value=300)


@st.composite
def assignments(
    draw: st.DrawFn, contract_id: str, rates: st.SearchStrategy[Decimal] = money
) -> TrendAssignment:
    start = D0 + timedelta(days=draw(offset))
    end = draw(st.none() | offset.map(lambda n: start + timedelta(days=n)))
    changes = draw(st.lists(st.tuples(offset, rates, rates), min_size=1, max_size=4))
    history = tuple(
        RatePoint(start + timedelta(days=n if i else 0), i + 2, pay, bill)
        for i, (n, pay, bill) in enumerate(changes)
    )
    return TrendAssignment(
        contract_id=contract_id,
        start_date=start,
        end_date=end,
        contract_terminated_on=draw(st.none() | offset.map(lambda n: D0 + timedelta(days=n))),
        hours_per_week=draw(
            st.integers(min_value=1, max_value=60).map(Decimal)
            | st.decimals(min_value=Decimal(0), max_value=Decimal(60), places=2)
        ),
        own_burden_pct=draw(st.none() | pct),
        rates=history,
        expected_end_date=start + timedelta(days=draw(st.integers(-10, 500))),
        at_risk=draw(st.booleans()),
    )


def terms(contract_id: str, amendments: Iterable[tuple[int, Decimal, Decimal]]) -> list[TermsRow]:
    """Signed on D0 (burden 20 %, no MSP fee, floor 15 %), then each amendment (days after D0,
    burden, MSP fee)."""
    rows = [TermsRow(contract_id, D0, 1, "signed", Decimal(20), Decimal(0), Decimal(15),
                     Decimal(10), None)]  # fmt: skip
    for i, (n, burden, fee) in enumerate(amendments):
        rows.append(TermsRow(contract_id, D0 + timedelta(days=n), 10 + i, "amended", burden, fee,
                             None, None, None))  # fmt: skip
    return rows


def facts_on(a: TrendAssignment, t: Terms, day: date) -> AssignmentFacts:
    """The facts one day's read gives: the rates in force, else the first recorded; the
    contract's terms `t` in force that day; an open item when it is at risk."""
    ordered = sorted(a.rates, key=lambda p: (p.effective_date, p.stream_version))
    in_force = [p for p in ordered if p.effective_date <= day]
    r = in_force[-1] if in_force else ordered[0]
    return AssignmentFacts(
        contract_id=a.contract_id, assignment_id="A", staffer_id="S", staffer_name=None,
        job_title="x", start_date=a.start_date, expected_end_date=a.expected_end_date,
        end_date=a.end_date, end_reason=None,
        rates=margin.Rates(r.pay_rate, r.bill_rate,
                           a.own_burden_pct if a.own_burden_pct is not None else t.burden_pct,
                           t.msp_fee_pct, a.hours_per_week),
        rates_effective=r.effective_date, conversion_fee_pct=t.conversion_fee_pct,
        conversion_fee_waived_after_hours=t.conversion_fee_waived_after_hours,
        contract_terminated_on=a.contract_terminated_on, stream_version=1,
        open_items=(("negotiation", "N1"),) if a.at_risk else (),
    )  # fmt: skip


def terms_on(history: list[TermsRow], day: date) -> Terms:
    t = terms_in_force(history, day)
    assert t is not None
    return t


ZERO = Decimal(0)


def roll_up_of_margins(margins: Iterable[AssignmentMargin]) -> RollUp:
    """The roll-up as computed before `RollUpFigures` (commit 116405b), from every figure of
    each assignment: the reference the lean roll-up must equal exactly."""
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
