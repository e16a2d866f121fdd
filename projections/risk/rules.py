"""The contract-risk rules of DESIGN.md "Contract-risk rules", one pure function per rule.

An event rule is `(state_before, event, now) -> list[Alert]`: `state_before` is the contract's
`RiskState` BEFORE the event is applied (a rule that needs the after-state calls `evolve`).
Alerts raised by an event carry event time (`raised_at` = the event's `occurred_at`), so `now`
is not read by event rules and a replay raises identical alerts. The timer rule
(RELATIONSHIP_NEGLECT) is `(state, now) -> list[Alert]`, judged at `now`: the timer's clock in
event time (e.g. the latest event time seen), never the wall clock read here.

Every amount is exact (`Decimal`, never a float); messages round money to cents with
`margin.round_money`. Each rule's choices where DESIGN is silent are in its docstring.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import (
    Decimal,
    localcontext,
)
from typing import Final
from uuid import UUID

from events.alerts import Alert, Basis, RuleName, Severity, alert_id
from events.catalogue import (
    AssignmentEnded,
    AssignmentStarted,
    BypassKind,
    BypassThreatReported,
    ClientComplaintLogged,
    ClientContactLogged,
    ContractAmended,
    EventBase,
    MarkupAgreed,
    MarkupProposed,
    RaiseApproved,
    RaiseRequested,
    RatesAdjusted,
)
from projections import margin
from projections.risk.state import EROSION_MEMORY, AssignmentState, RiskState, evolve

__all__ = [
    "BYPASS_END_REASONS",
    "EARLY_END_REASONS",
    "EROSION_CUTS_WINDOW",
    "EROSION_POINTS",
    "EROSION_POINTS_WINDOW",
    "NEGLECT_AFTER",
    "RULES",
    "TIMER_RULES",
    "Rule",
    "TimerRule",
    "below_floor",
    "bypass_threat",
    "commitment_shortfall",
    "evaluate",
    "evaluate_log",
    "evaluate_timers",
    "loss_position",
    "margin_erosion",
    "non_solicit_until",
    "raise_absorbed",
    "relationship_neglect",
    "relationship_strain",
]

Rule = Callable[[RiskState, EventBase, datetime], list[Alert]]
TimerRule = Callable[[RiskState, datetime], list[Alert]]

EROSION_CUTS_WINDOW: Final = timedelta(days=90)
EROSION_POINTS_WINDOW: Final = EROSION_MEMORY  # the cuts the state remembers
EROSION_POINTS: Final = Decimal(5)
NEGLECT_AFTER: Final = timedelta(days=30)

BYPASS_END_REASONS: Final = frozenset({"moved_to_other_agency", "converted_to_client_hire"})
EARLY_END_REASONS: Final = frozenset(
    {"ended_early_by_client", "moved_to_other_agency", "converted_to_client_hire"}
)

# The same two contexts as projections.margin: + − × exact (Inexact trapped), and one division,
# last, at 34 significant digits.
_EXACT: Final = margin.EXACT_CONTEXT
_DIVIDE: Final = margin.DIVIDE_CONTEXT
_ZERO: Final = Decimal(0)
_HUNDREDTH: Final = Decimal("0.01")
_ONE: Final = Decimal(1)
_SEVEN: Final = Decimal(7)
_WEEKS_PER_YEAR: Final = Decimal(52)


# ---------------------------------------------------------------------------------------------
# Formatting and building alerts
# ---------------------------------------------------------------------------------------------


def _money(x: Decimal) -> str:
    """Cents, half-up, with thousands separators: 1,080.00."""
    return f"{margin.round_money(x):,}"


def _pct(x: Decimal) -> str:
    return f"{margin.round_pct(x):,}%"


def _weeks(days: int) -> str:
    """A number of days as weeks for a message: "30 weeks", "1 week", "30.4 weeks"."""
    if days % 7 == 0:
        n = days // 7
        return f"{n} week" if n == 1 else f"{n} weeks"
    with localcontext(_DIVIDE):
        weeks = Decimal(days) / _SEVEN
    return f"{weeks.quantize(Decimal('0.1'))} weeks"


def _s(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _names(assignments: Sequence[AssignmentState]) -> str:
    if len(assignments) == 1:
        return assignments[0].who
    return f"{len(assignments)} staffers ({', '.join(a.who for a in assignments)})"


def _alert(
    rule: RuleName,
    severity: Severity,
    basis: Basis,
    s: RiskState,
    trigger: Sequence[EventBase],
    message: str,
    exposure: Decimal | None,
    assignment: AssignmentState | None = None,
    staffer_id: str | None = None,
) -> Alert:
    """An alert raised by `trigger` (the last of which is the event that made the rule fire)."""
    event_ids = tuple(e.event_id for e in trigger)
    return _build(
        rule,
        severity,
        basis,
        s,
        event_ids,
        trigger[-1].occurred_at,
        trigger[-1].stream_version,
        message,
        exposure,
        assignment,
        staffer_id,
    )


def _build(
    rule: RuleName,
    severity: Severity,
    basis: Basis,
    s: RiskState,
    event_ids: tuple[UUID, ...],
    raised_at: datetime,
    stream_version: int | None,
    message: str,
    exposure: Decimal | None,
    assignment: AssignmentState | None = None,
    staffer_id: str | None = None,
) -> Alert:
    assignment_id = assignment.assignment_id if assignment is not None else None
    if staffer_id is None and assignment is not None:
        staffer_id = assignment.staffer_id
    return Alert(
        alert_id=alert_id(rule, s.contract_id, assignment_id, event_ids),
        rule=rule,
        severity=severity,
        basis=basis,
        contract_id=s.contract_id,
        client_name=s.client_name,
        assignment_id=assignment_id,
        staffer_id=staffer_id,
        exposure=exposure,
        message=message,
        event_ids=event_ids,
        raised_at=raised_at,
        stream_version=stream_version,
    )


# ---------------------------------------------------------------------------------------------
# Exact money over a term
# ---------------------------------------------------------------------------------------------


def _per_hour_over_days(per_hour: Decimal, hours_per_week: Decimal, days: int) -> Decimal:
    """per_hour × H × days / 7, divided once, last (like margin.remaining_gross_profit)."""
    with localcontext(_EXACT):
        numerator = per_hour * hours_per_week * days
    with localcontext(_DIVIDE):
        return numerator / _SEVEN


def _remaining_days(a: AssignmentState, counted_from: date) -> int:
    return margin.remaining_days(a.term, counted_from)


def _remaining_gp(s: RiskState, a: AssignmentState, as_of: date) -> Decimal:
    """Remaining gross profit of `a` at its rates in force; 0 once it has ended."""
    if not a.active:
        return _ZERO
    return margin.remaining_gross_profit(s.rates(a), a.term, as_of)


def _contract_remaining_gp(s: RiskState, as_of: date) -> Decimal:
    total = _ZERO
    for a in s.active_assignments():
        total += _remaining_gp(s, a, as_of)
    return total


def _absorbed_per_hour_times(
    before: margin.Rates, new_pay: Decimal, new_bill: Decimal
) -> tuple[Decimal, Decimal]:
    """(Δpay × (1 + markup/100) − Δbill) as an exact fraction (numerator, denominator).

    With the markup before the change m = (B − P)/P × 100, Δpay × (1 + m/100) = Δpay × B / P, so
    the absorbed amount per hour is (Δpay × B − Δbill × P) / P: no rounded markup is ever
    multiplied by money.
    """
    with localcontext(_EXACT):
        d_pay = new_pay - before.pay_rate
        d_bill = new_bill - before.bill_rate
        return d_pay * before.bill_rate - d_bill * before.pay_rate, before.pay_rate


def _absorbed_exposure(
    before: margin.Rates, new_pay: Decimal, new_bill: Decimal, days: int
) -> tuple[Decimal, Decimal]:
    """(absorbed per hour, absorbed × H × days / 7), each divided once."""
    numerator, denominator = _absorbed_per_hour_times(before, new_pay, new_bill)
    with localcontext(_EXACT):
        total_numerator = numerator * before.hours_per_week * days
        total_denominator = denominator * _SEVEN
    with localcontext(_DIVIDE):
        return numerator / denominator, total_numerator / total_denominator


def _pass_through_bill(before: margin.Rates, new_pay: Decimal) -> Decimal:
    """The bill rate that passes `new_pay` on at the markup before the change, in cents."""
    return margin.bill_rate_for_markup(new_pay, margin.markup_pct(before))


def _raise_absorbed(before: margin.Rates, new_pay: Decimal, new_bill: Decimal) -> bool:
    """Pay rises and the bill rises by less than Δpay × (1 + markup/100).

    A bill within cent rounding of that pass-through (at or above the pass-through bill rate
    rounded to cents half-up, as MarkupAgreed would bill it) keeps the markup: not absorbed.
    """
    if new_pay <= before.pay_rate:
        return False
    numerator, _ = _absorbed_per_hour_times(before, new_pay, new_bill)
    return numerator > 0 and new_bill < _pass_through_bill(before, new_pay)


# ---------------------------------------------------------------------------------------------
# Which assignments a change touches
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Change:
    """An applied change to one assignment's pricing: its rates before (None: it just started)
    and after, and the date the change counts from."""

    before: AssignmentState | None
    after: AssignmentState
    rates_before: margin.Rates | None
    rates_after: margin.Rates
    effective: date


def _applied_changes(s: RiskState, e: EventBase) -> list[_Change]:
    """The active assignments whose pricing `e` sets (rate events) or changes (amendments)."""
    if not isinstance(
        e, AssignmentStarted | RatesAdjusted | RaiseApproved | MarkupAgreed | ContractAmended
    ):
        return []
    after = evolve(s, e)
    if isinstance(e, AssignmentStarted):
        if e.assignment_id in s.assignments:
            return []
        ids, effective = [e.assignment_id], e.start_date
    elif isinstance(e, RatesAdjusted):
        ids, effective = [e.assignment_id], e.effective_date
    elif isinstance(e, RaiseApproved):
        request = s.raise_requests.get(e.raise_request_id)
        ids = [request.assignment_id] if request is not None else []
        effective = e.effective_date
    elif isinstance(e, MarkupAgreed):
        ids, effective = [a.assignment_id for a in s.negotiated(e.negotiation_id)], e.effective_date
    else:
        ids, effective = [a.assignment_id for a in s.active_assignments()], e.effective_date
    changes: list[_Change] = []
    for assignment_id in ids:
        a_after = after.assignments.get(assignment_id)
        if a_after is None or not a_after.active:
            continue
        a_before = s.assignments.get(assignment_id)
        rates_before = s.rates(a_before) if a_before is not None else None
        rates_after = after.rates(a_after)
        if isinstance(e, ContractAmended) and (
            rates_before is None
            or margin.margin_per_hour(rates_before) == margin.margin_per_hour(rates_after)
        ):
            continue  # an amendment that leaves this assignment's margin as it was
        changes.append(_Change(a_before, a_after, rates_before, rates_after, effective))
    return changes


# ---------------------------------------------------------------------------------------------
# LOSS_POSITION
# ---------------------------------------------------------------------------------------------


def loss_position(s: RiskState, e: EventBase, now: datetime) -> list[Alert]:
    """Margin per hour < 0 after a change (critical, applied), or if a proposal or raise request
    were granted as asked (high, proposed). Exposure: −remaining gross profit after it, counted
    from the change's effective date (a proposal or request: the day it was made) to the
    expected end.

    Applied changes: AssignmentStarted, RatesAdjusted, RaiseApproved, MarkupAgreed (bill rate
    pay × (1 + markup/100) in cents), and, beyond DESIGN's list, a ContractAmended whose
    burden or MSP fee changes an assignment's margin. A raise request "as asked": at the
    client's `client_max_bill_rate` when given, else passed on at today's markup.
    """
    if isinstance(e, MarkupProposed):
        day = e.occurred_at.date()
        alerts = []
        for a in s.negotiated(e.negotiation_id):
            bill = margin.bill_rate_for_markup(a.pay_rate, e.markup_pct)
            proposer = s.client_name if e.proposed_by == "client" else "The agency"
            opening = (
                f"{proposer} proposes a {_pct(e.markup_pct)} markup on {a.who}, billing "
                f"{_money(bill)} against pay {_money(a.pay_rate)}"
            )
            alerts += _loss(s, e, a, s.rates(a, bill_rate=bill), day, opening, "do not agree to it")
        return alerts
    if isinstance(e, RaiseRequested):
        asg = s.assignments.get(e.assignment_id)
        if asg is None or not asg.active:
            return []
        pay = e.requested_pay_rate
        if e.client_max_bill_rate is not None:
            bill = e.client_max_bill_rate
            asked = f"within a bill rate of {_money(bill)}"
        else:
            today = margin.markup_pct(s.rates(asg))
            bill = margin.bill_rate_for_markup(pay, today)
            asked = f"at today's {_pct(today)} markup (bill rate {_money(bill)})"
        opening = {
            "client": f"{s.client_name} wants {asg.who} raised to {_money(pay)} {asked}",
            "staffer": f"{asg.who} at {s.client_name} wants a raise to {_money(pay)} {asked}",
            "agency": f"A raise for {asg.who} at {s.client_name} to {_money(pay)} {asked}",
        }[e.requested_by]
        return _loss(
            s,
            e,
            asg,
            s.rates(asg, pay_rate=pay, bill_rate=bill),
            e.occurred_at.date(),
            opening,
            "decline or renegotiate the bill rate",
        )
    alerts = []
    for c in _applied_changes(s, e):
        r = c.rates_after
        if isinstance(e, AssignmentStarted):
            opening = (
                f"{c.after.who} started at {s.client_name} billing {_money(r.bill_rate)} "
                f"against pay {_money(r.pay_rate)}"
            )
        elif isinstance(e, ContractAmended):
            opening = (
                f"{s.client_name}'s amended terms (burden {_pct(r.burden_pct)}, MSP fee "
                f"{_pct(r.msp_fee_pct)}) from {c.effective} leave {c.after.who} billing "
                f"{_money(r.bill_rate)} against pay {_money(r.pay_rate)}"
            )
        else:
            opening = (
                f"{c.after.who} at {s.client_name} bills {_money(r.bill_rate)} against pay "
                f"{_money(r.pay_rate)} from {c.effective}"
            )
        alerts += _loss(s, e, c.after, r, c.effective, opening, "reprice it now", applied=True)
    return alerts


def _loss(
    s: RiskState,
    e: EventBase,
    a: AssignmentState,
    r: margin.Rates,
    counted_from: date,
    opening: str,
    action: str,
    *,
    applied: bool = False,
) -> list[Alert]:
    per_hour = margin.margin_per_hour(r)
    if per_hour >= 0:
        return []
    loss = -margin.remaining_gross_profit(r, a.term, counted_from)
    weeks = _weeks(_remaining_days(a, counted_from))
    verb = "is" if applied else "would fall to"
    message = (
        f"{opening}: margin {verb} {_money(per_hour)}/h, a loss of {_money(loss)} over the "
        f"remaining {weeks}; {action}."
    )
    return [
        _alert(
            "LOSS_POSITION",
            "critical" if applied else "high",
            "applied" if applied else "proposed",
            s,
            [e],
            message,
            loss,
            a,
        )
    ]


# ---------------------------------------------------------------------------------------------
# BELOW_FLOOR
# ---------------------------------------------------------------------------------------------


def below_floor(s: RiskState, e: EventBase, now: datetime) -> list[Alert]:
    """A markup agreed (applied) or proposed (proposed) below the contract's floor: high.
    A raise request with a `client_max_bill_rate` proposes the markup that `requested_pay_rate`
    → `client_max_bill_rate` implies (seed 003: the client asking the agency to cut its markup
    to fund the raise), and is judged like a proposal. A markup exactly at the floor is not
    below it. Exposure, per assignment covered: (pay × (1 + floor/100) − bill) × H × remaining
    weeks, the bill being pay × (1 + markup/100) in cents (as MarkupAgreed bills it), or the
    client's budget for a raise request, counted from the effective date (a proposal or
    request: its day).
    """
    floor = s.terms.markup_floor_pct
    below: list[tuple[AssignmentState, Decimal, Decimal, str, str]] = []
    if isinstance(e, MarkupAgreed | MarkupProposed):
        if e.markup_pct >= floor:
            return []
        for a in s.negotiated(e.negotiation_id):
            bill = margin.bill_rate_for_markup(a.pay_rate, e.markup_pct)
            if isinstance(e, MarkupAgreed):
                opening = (
                    f"The agency agreed a {_pct(e.markup_pct)} markup on {a.who} at {s.client_name}"
                )
                action = "get it approved or reopen the negotiation"
            elif e.proposed_by == "client":
                opening = f"{s.client_name} proposes a {_pct(e.markup_pct)} markup on {a.who}"
                action = "hold to the floor"
            else:
                opening = (
                    f"The agency proposed a {_pct(e.markup_pct)} markup on {a.who} at "
                    f"{s.client_name}"
                )
                action = "withdraw it or get it approved"
            below.append((a, a.pay_rate, bill, opening, action))
    elif isinstance(e, RaiseRequested) and e.client_max_bill_rate is not None:
        asg = s.assignments.get(e.assignment_id)
        if asg is None or not asg.active:
            return []
        pay, bill = e.requested_pay_rate, e.client_max_bill_rate
        implied = margin.markup_pct(s.rates(asg, pay_rate=pay, bill_rate=bill))
        if implied >= floor:
            return []
        asked = f"raised to {_money(pay)} within a bill rate of {_money(bill)}"
        opening = {
            "client": f"{s.client_name} wants {asg.who} {asked}",
            "staffer": f"{asg.who} at {s.client_name} wants to be {asked}",
            "agency": f"The agency proposes {asg.who} at {s.client_name} be {asked}",
        }[e.requested_by]
        opening += f", a {_pct(implied)} markup"
        below.append((asg, pay, bill, opening, "hold to the floor"))
    else:
        return []
    basis: Basis = "applied" if isinstance(e, MarkupAgreed) else "proposed"
    counted_from = e.effective_date if isinstance(e, MarkupAgreed) else e.occurred_at.date()
    alerts = []
    for a, pay, bill, opening, action in below:
        with localcontext(_EXACT):
            floor_bill = pay * (_ONE + floor * _HUNDREDTH)
            short = floor_bill - bill
        days = _remaining_days(a, counted_from)
        exposure = _per_hour_over_days(short, a.hours_per_week, days)
        message = (
            f"{opening}, below the contract floor of {_pct(floor)}: billing {_money(bill)} "
            f"instead of at least {_money(floor_bill)} an hour forgoes {_money(exposure)} over "
            f"the remaining {_weeks(days)}; {action}."
        )
        alerts.append(_alert("BELOW_FLOOR", "high", basis, s, [e], message, exposure, a))
    return alerts


# ---------------------------------------------------------------------------------------------
# RAISE_ABSORBED
# ---------------------------------------------------------------------------------------------


def raise_absorbed(s: RiskState, e: EventBase, now: datetime) -> list[Alert]:
    """A raise the agency would fund (high).

    Proposed: a RaiseRequested for more pay whose `client_max_bill_rate` is at or below today's
    bill rate (DESIGN's condition; a budget above today's bill rate but short of passing the
    raise on is not flagged until such rates are applied). Applied: a RaiseApproved or
    RatesAdjusted where pay rises and the bill rate rises by less than Δpay × (1 + markup/100),
    markup being the one before the change; a raise passed on at the same markup (to within
    cent rounding) does not fire. Exposure: (Δpay × (1 + markup/100) − Δbill) × H × remaining
    weeks from the effective date (a request: its day).
    """
    if isinstance(e, RaiseRequested):
        a = s.assignments.get(e.assignment_id)
        budget = e.client_max_bill_rate
        if (
            a is None
            or not a.active
            or budget is None
            or budget > a.bill_rate
            or e.requested_pay_rate <= a.pay_rate
        ):
            return []
        before = s.rates(a)
        day = e.occurred_at.date()
        days = _remaining_days(a, day)
        per_hour, exposure = _absorbed_exposure(before, e.requested_pay_rate, budget, days)
        message = (
            f"{s.client_name} asks the agency to fund {a.who}'s raise to "
            f"{_money(e.requested_pay_rate)} within a bill rate of {_money(budget)}: passing it "
            f"on at today's {_pct(margin.markup_pct(before))} markup needs "
            f"{_money(_pass_through_bill(before, e.requested_pay_rate))}, so the agency would "
            f"absorb {_money(per_hour)}/h, {_money(exposure)} over the remaining {_weeks(days)}; "
            "decline or ask for the full bill rate."
        )
        return [_alert("RAISE_ABSORBED", "high", "proposed", s, [e], message, exposure, a)]
    if not isinstance(e, RaiseApproved | RatesAdjusted):
        return []
    alerts = []
    for c in _applied_changes(s, e):
        old, new = c.rates_before, c.rates_after
        if old is None or not _raise_absorbed(old, new.pay_rate, new.bill_rate):
            continue
        days = _remaining_days(c.after, c.effective)
        per_hour, exposure = _absorbed_exposure(old, new.pay_rate, new.bill_rate, days)
        message = (
            f"{c.after.who}'s pay at {s.client_name} rises from {_money(old.pay_rate)} to "
            f"{_money(new.pay_rate)} from {c.effective} but the bill rate only from "
            f"{_money(old.bill_rate)} to {_money(new.bill_rate)} instead of "
            f"{_money(_pass_through_bill(old, new.pay_rate))}: the agency absorbs "
            f"{_money(per_hour)}/h, {_money(exposure)} over the remaining {_weeks(days)}; "
            "pass the raise on or reprice the assignment."
        )
        alerts.append(
            _alert("RAISE_ABSORBED", "high", "applied", s, [e], message, exposure, c.after)
        )
    return alerts


# ---------------------------------------------------------------------------------------------
# BYPASS_THREAT
# ---------------------------------------------------------------------------------------------


def _add_months(d: date, months: int) -> date:
    """`d` plus whole calendar months; a day past the target month's end becomes its last day."""
    index = d.year * 12 + d.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_month = date(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_month - timedelta(days=1)).day
    return date(year, month, min(d.day, last_day))


def non_solicit_until(s: RiskState) -> date | None:
    """The last day of the non-solicit window: `non_solicit_months` after the contract's end
    (its termination's effective date, or its `end_date`, whichever comes first); None while
    the contract has no end (the window is open).

    DESIGN does not anchor the window; a non-solicit clause runs for the life of the contract
    and for its stated months after it, which is what this reads.
    """
    ends = [d for d in (s.terms.end_date, s.terminated_on) if d is not None]
    if not ends:
        return None
    return _add_months(min(ends), s.terms.non_solicit_months)


def _conversion_fee(s: RiskState, a: AssignmentState, as_of: date) -> Decimal:
    # An ended assignment was worked until its end, not its expected end.
    end = a.end_date if a.end_date is not None else a.expected_end_date
    return margin.conversion_fee_due(
        s.rates(a),
        margin.Term(a.start_date, end),
        as_of,
        s.terms.conversion_fee_pct,
        s.terms.conversion_fee_waived_after_hours,
    )


def _threatened(s: RiskState, e: BypassThreatReported) -> list[AssignmentState]:
    """The assignments a threat concerns: the one it names (even if ended: a move after the end
    is a bypass too); else the named staffer's active assignments (none active: the staffer's
    latest, for the conversion fee); else every active assignment."""
    if e.assignment_id is not None:
        a = s.assignments.get(e.assignment_id)
        return [a] if a is not None else []
    if e.staffer_id is not None:
        theirs = [a for a in s.assignments.values() if a.staffer_id == e.staffer_id]
        active = [a for a in theirs if a.active]
        if active or not theirs:
            return active
        return [max(theirs, key=lambda a: (a.start_date, a.assignment_id))]
    return s.active_assignments()


_THREAT_WORDS: Final[dict[BypassKind, str]] = {
    "threatened_move_to_other_agency": "threatens to move {who} to another agency",
    "direct_hire_attempt": "is trying to hire {who} directly",
    "payrolling_through_other_agency": "wants to payroll {who} through another agency",
    "other": "is trying to bypass the agency over {who}",
}


def bypass_threat(s: RiskState, e: EventBase, now: datetime) -> list[Alert]:
    """BypassThreatReported, or an assignment ended as moved_to_other_agency or
    converted_to_client_hire inside the non-solicit window (see `non_solicit_until`): critical.
    Exposure: remaining gross profit of the assignments concerned (as of the threat's day or
    the end date; 0 for an ended one) + the conversion fee due on them as of that day. One
    alert per event, about the one assignment concerned, else about the contract.
    """
    if isinstance(e, BypassThreatReported):
        day = e.occurred_at.date()
        concerned = _threatened(s, e)
        gp = sum((_remaining_gp(s, a, day) for a in concerned), _ZERO)
        fee = sum((_conversion_fee(s, a, day) for a in concerned), _ZERO)
        exposure = gp + fee
        if concerned:
            who = _names(concerned)
        elif e.staffer_id is not None:
            who = f"staffer {e.staffer_id}"
        else:
            who = "its staffers"
        message = (
            f"{s.client_name} {_THREAT_WORDS[e.kind].format(who=who)} in breach of the contract: "
            f"{_money(exposure)} at stake ({_money(gp)} remaining gross profit plus a "
            f"{_money(fee)} conversion fee); call the client now and hold them to the "
            "non-solicit clause."
        )
        one = concerned[0] if len(concerned) == 1 else None
        return [
            _alert(
                "BYPASS_THREAT", "critical", "applied", s, [e], message, exposure, one, e.staffer_id
            )
        ]
    if not isinstance(e, AssignmentEnded) or e.reason not in BYPASS_END_REASONS:
        return []
    a = s.assignments.get(e.assignment_id)
    if a is None or not a.active:
        return []
    until = non_solicit_until(s)
    if until is not None and e.end_date > until:
        return []
    gp = margin.remaining_gross_profit(s.rates(a), a.term, e.end_date)
    fee = _conversion_fee(s, a, e.end_date)
    exposure = gp + fee
    how = "for another agency" if e.reason == "moved_to_other_agency" else "to be hired directly"
    window = f"until {until}" if until is not None else "while the contract runs"
    message = (
        f"{a.who} left {s.client_name} on {e.end_date} {how}, inside the non-solicit window "
        f"({window}): {_money(exposure)} at stake ({_money(gp)} remaining gross profit plus a "
        f"{_money(fee)} conversion fee); invoice the conversion fee and enforce the non-solicit "
        "clause."
    )
    return [_alert("BYPASS_THREAT", "critical", "applied", s, [e], message, exposure, a)]


# ---------------------------------------------------------------------------------------------
# COMMITMENT_SHORTFALL
# ---------------------------------------------------------------------------------------------


_END_WORDS: Final[dict[str, str]] = {
    "ended_early_by_client": "was ended early by the client",
    "moved_to_other_agency": "moved to another agency",
    "converted_to_client_hire": "was hired directly by the client",
}


def commitment_shortfall(s: RiskState, e: EventBase, now: datetime) -> list[Alert]:
    """An assignment on a contract with `min_assignment_weeks` ends before serving them, by the
    client (ended_early_by_client, converted_to_client_hire: the client's choice too) or by a
    move (moved_to_other_agency): high. Not staffer_left nor completed. Weeks served run from
    start_date to end_date (calendar days / 7). Exposure: weekly gross profit at the rates in
    force × (min weeks − weeks served).
    """
    weeks = s.terms.min_assignment_weeks
    if not isinstance(e, AssignmentEnded) or weeks is None or e.reason not in EARLY_END_REASONS:
        return []
    a = s.assignments.get(e.assignment_id)
    if a is None or not a.active:
        return []
    committed = margin.Term(a.start_date, a.start_date + timedelta(weeks=weeks))
    short_days = margin.remaining_days(committed, e.end_date)
    if short_days <= 0:
        return []
    r = s.rates(a)
    exposure = margin.remaining_gross_profit(r, committed, e.end_date)
    served = weeks * 7 - short_days
    message = (
        f"{a.who} at {s.client_name} {_END_WORDS[e.reason]} on {e.end_date} after "
        f"{_weeks(served)} of the {weeks} committed: {_weeks(short_days)} short at "
        f"{_money(margin.weekly_gross_profit(r))} a week, {_money(exposure)} of the gross profit "
        "the low markup was priced on; claim it under the commitment or reprice the contract."
    )
    return [_alert("COMMITMENT_SHORTFALL", "high", "applied", s, [e], message, exposure, a)]


# ---------------------------------------------------------------------------------------------
# MARGIN_EROSION
# ---------------------------------------------------------------------------------------------


def margin_erosion(s: RiskState, e: EventBase, now: datetime) -> list[Alert]:
    """A MarkupAgreed that cuts a markup (lowers it on some assignment it covers) and is the
    second cut on the contract within 90 days, or brings the cuts within 180 days to 5 points
    or more: medium, about the contract. Erosion is cut after cut: one cut alone, however deep,
    is not erosion (BELOW_FLOOR and LOSS_POSITION judge its depth).

    Days are the days the cuts were agreed (occurred_at), inclusive. A cut's points are the
    largest markup drop among the assignments it covers. The cuts counted are those of the
    180-day window when the points test holds, else those of the 90-day window; exposure is
    the weekly gross profit they lost (at the time of each cut) × 52.
    """
    if not isinstance(e, MarkupAgreed):
        return []
    after = evolve(s, e)
    if not any(c.event_id == e.event_id for c in after.markup_cuts):
        return []
    day = e.occurred_at.date()

    def in_window(window: timedelta) -> dict[UUID, list[Decimal]]:
        by_event: dict[UUID, list[Decimal]] = {}
        for c in after.markup_cuts:
            if c.agreed_on >= day - window:
                by_event.setdefault(c.event_id, []).append(c.points)
        return by_event

    recent = in_window(EROSION_CUTS_WINDOW)
    longer = in_window(EROSION_POINTS_WINDOW)
    points = sum((max(p) for p in longer.values()), _ZERO)
    if len(longer) >= 2 and points >= EROSION_POINTS:
        cut_ids, days = list(longer), EROSION_POINTS_WINDOW.days
    elif len(recent) >= 2:
        cut_ids, days = list(recent), EROSION_CUTS_WINDOW.days
        points = sum((max(p) for p in recent.values()), _ZERO)
    else:
        return []
    cuts = [c for c in after.markup_cuts if c.event_id in cut_ids]
    weekly = sum((c.weekly_gross_profit_lost for c in cuts), _ZERO)
    exposure = weekly * _WEEKS_PER_YEAR
    latest = [c.assignment_id for c in cuts if c.event_id == e.event_id]
    message = (
        f"{s.client_name} has won {_s(len(cut_ids), 'markup cut')} within {days} days "
        f"({_money(points)} points in all, the latest to {_pct(e.markup_pct)} on "
        f"{', '.join(latest)}): {_money(weekly)} a week, {_money(exposure)} a year of gross "
        "profit lost; stop conceding markup and review the account."
    )
    trigger = tuple(cut_ids)
    return [
        _build(
            "MARGIN_EROSION",
            "medium",
            "applied",
            s,
            trigger,
            e.occurred_at,
            e.stream_version,
            message,
            exposure,
        )
    ]


# ---------------------------------------------------------------------------------------------
# RELATIONSHIP_STRAIN
# ---------------------------------------------------------------------------------------------


_COMPLAINT_WORDS: Final[dict[str, str]] = {
    "recruiter_conduct": "recruiter conduct",
    "candidate_quality": "candidate quality",
    "billing": "billing",
    "other": "the service",
}


def relationship_strain(s: RiskState, e: EventBase, now: datetime) -> list[Alert]:
    """ClientComplaintLogged (high with a legal threat, else medium), or the 3rd outbound
    contact in a row without response, the three within 14 days (seed 001: medium). Exposure:
    the remaining gross profit of the contract's active assignments, as of the event's day.

    "In a row": in log order; an answered outbound contact or any inbound contact ends the run.
    A run raises one alert: further unanswered contacts in the same run raise no more.
    """
    day = e.occurred_at.date()
    if isinstance(e, ClientComplaintLogged):
        gp = _contract_remaining_gp(s, day)
        n = len(s.active_assignments())
        threat = " and threatened legal action" if e.legal_threat else ""
        action = (
            "have a manager call them today and stop all other contact until then"
            if e.legal_threat
            else "call them back today and fix the cause"
        )
        message = (
            f"{s.client_name} complained about {_COMPLAINT_WORDS[e.about]}{threat}: "
            f"{_money(gp)} of remaining gross profit on {_s(n, 'active assignment')} is at "
            f"risk; {action}."
        )
        severity: Severity = "high" if e.legal_threat else "medium"
        return [_alert("RELATIONSHIP_STRAIN", severity, "applied", s, [e], message, gp)]
    if not isinstance(e, ClientContactLogged):
        return []
    after = evolve(s, e)
    if s.strain_raised_in_run or not after.strain_raised_in_run:
        return []
    run = after.unanswered_run
    span = (max(c.occurred_at for c in run) - min(c.occurred_at for c in run)).days
    gp = _contract_remaining_gp(s, day)
    message = (
        f"{s.client_name} has not answered the last {len(run)} outbound contacts "
        f"(within {_s(span, 'day')}): {_money(gp)} of remaining gross profit is at risk; stop "
        "chasing and have the account manager reach the decision maker another way."
    )
    return [
        _build(
            "RELATIONSHIP_STRAIN",
            "medium",
            "applied",
            s,
            tuple(c.event_id for c in run),
            e.occurred_at,
            e.stream_version,
            message,
            gp,
        )
    ]


# ---------------------------------------------------------------------------------------------
# RELATIONSHIP_NEGLECT (timer)
# ---------------------------------------------------------------------------------------------


def relationship_neglect(s: RiskState, now: datetime) -> list[Alert]:
    """A contract, not terminated, with active assignments and no ClientContactLogged for 30
    days or more before `now` (counted from the last contact, else from the signing): low, no
    exposure. Its id is made from the contract and the event the silence is counted from, so
    a silence raises one alert however often the timer runs (the state also remembers it, see
    `record_timer_alerts`); the next contact starts a new silence.
    """
    active = s.active_assignments()
    if s.terminated or not active:
        return []
    since = s.silence_since
    silence = now - since.occurred_at
    if silence < NEGLECT_AFTER:
        return []
    event_ids = (since.event_id,)
    if alert_id("RELATIONSHIP_NEGLECT", s.contract_id, None, event_ids) in s.timer_alerts_raised:
        return []
    what = "the last logged contact" if s.last_contact is not None else "the contract was signed"
    message = (
        f"No contact with {s.client_name} has been logged for {_s(silence.days, 'day')} "
        f"(since {what} on {since.occurred_at.date()}) while {_names(active)} "
        f"{'is' if len(active) == 1 else 'are'} placed there; call the client before the "
        "relationship goes cold."
    )
    return [
        _build(
            "RELATIONSHIP_NEGLECT",
            "low",
            "applied",
            s,
            event_ids,
            now,
            since.stream_version,
            message,
            None,
        )
    ]


# ---------------------------------------------------------------------------------------------
# Registries and evaluation
# ---------------------------------------------------------------------------------------------


RULES: Final[dict[str, Rule]] = {
    "LOSS_POSITION": loss_position,
    "BELOW_FLOOR": below_floor,
    "RAISE_ABSORBED": raise_absorbed,
    "BYPASS_THREAT": bypass_threat,
    "COMMITMENT_SHORTFALL": commitment_shortfall,
    "MARGIN_EROSION": margin_erosion,
    "RELATIONSHIP_STRAIN": relationship_strain,
}
"""The event rules, by name, in the order `evaluate` runs them."""

TIMER_RULES: Final[dict[str, TimerRule]] = {"RELATIONSHIP_NEGLECT": relationship_neglect}
"""The rules judged on time passing rather than on an event."""


def evaluate(state_before: RiskState | None, event: EventBase, now: datetime) -> list[Alert]:
    """Every alert `event` raises, given the contract's state before it.

    An event the state has already applied (stream_version ≤ state.version) raises nothing:
    its alerts were raised when it was first evaluated, with the same ids. Nothing precedes a
    ContractSigned, which raises nothing. ValueError for another contract's event or an event
    without a stream_version (not from the log).
    """
    if state_before is None:
        return []
    if event.contract_id != state_before.contract_id:
        raise ValueError(
            f"event {event.event_id} is for contract {event.contract_id}, "
            f"not {state_before.contract_id}"
        )
    if event.stream_version is None:
        raise ValueError(f"{event.type} {event.event_id} has no stream_version: not from the log")
    if event.stream_version <= state_before.version:
        return []
    alerts: list[Alert] = []
    for rule in RULES.values():
        alerts += rule(state_before, event, now)
    return alerts


def evaluate_timers(state: RiskState | None, now: datetime) -> list[Alert]:
    """Every timer alert due at `now` (event time) and not yet raised for `state`."""
    if state is None:
        return []
    alerts: list[Alert] = []
    for rule in TIMER_RULES.values():
        alerts += rule(state, now)
    return alerts


def evaluate_log(events: Iterable[EventBase], now: datetime | None = None) -> list[Alert]:
    """Fold `events` (one contract's log, in order) and collect every event alert they raise:
    what a replay of the log produces. `now` defaults to each event's own occurred_at."""
    state: RiskState | None = None
    alerts: list[Alert] = []
    for event in events:
        alerts += evaluate(state, event, now or event.occurred_at)
        state = evolve(state, event)
    return alerts
