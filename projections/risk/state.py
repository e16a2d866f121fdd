# Long: a fold handler per event type, in the one dispatcher that is checked whole.
"""What the contract-risk rules know about one contract, folded from its events alone.

`evolve(state, event)` is pure and deterministic: the same log always folds to the same state,
and an event whose `stream_version` the state has already applied is ignored (redelivery is a
no-op). The state holds just what the rules of DESIGN.md "Contract-risk rules" read:

- the contract's terms (the latest: an amendment counts from the event that records it);
- each assignment with the rates in force, simplified to *the latest change applied in log
  order*. The margin projections keep the full rate history and answer "as of a date"; the
  rules only ask "what does this change do to the deal as it stands", and a change recorded
  in advance of its effective date is the deal as it will stand;
- the open markup negotiations and raise requests;
- the markup cuts agreed in the last 180 days (MARGIN_EROSION);
- the current run of unanswered outbound contacts (RELATIONSHIP_STRAIN), the last contact
  (RELATIONSHIP_NEGLECT), and the ids of the timer alerts already raised for the current
  silence, so that a timer does not raise one twice;
- what the client's health score reads as the contract carries it, and the score measured at
  each event over the last 30 days (CLIENT_HEALTH_FALLING, `projections.risk.health_watch`).

Folding never fails on an event that refers to something unknown (the writer refuses those;
a replayed log must still fold): that part of the event is skipped and the version advances.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from dataclasses import replace as _dataclass_replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import singledispatch
from operator import attrgetter
from typing import Any, Final, TypeVar, cast
from uuid import UUID

from events import catalogue as ev
from events.catalogue import AssignmentEndReason, AssignmentStatus, ContactDirection
from events.dispatch import require_every_event_type, unhandled
from projections import margin
from projections.health import Health, HealthFacts, client_health
from projections.risk import health_watch, pricing
from projections.risk.health_watch import GrossProfitSample, Mark, ScoreSample

__all__ = [
    "EROSION_MEMORY",
    "REPORTED_WEEKS_KEPT",
    "SHORTFALL_SHARE",
    "SHORTFALL_WEEKS",
    "STRAIN_RUN",
    "STRAIN_WINDOW",
    "AssignmentState",
    "AssignmentStatus",
    "Contact",
    "ContractTerms",
    "MarkupCut",
    "OpenRaiseRequest",
    "ReportedWeek",
    "RiskState",
    "evolve",
    "fold",
    "health_of",
    "health_score_of",
    "planned_hours",
    "record_timer_alerts",
    "short_run",
    "strain_due",
]


EROSION_MEMORY: Final = timedelta(days=180)
"""The longest window MARGIN_EROSION looks back over; older cuts are forgotten."""
STRAIN_RUN: Final = 3
"""RELATIONSHIP_STRAIN: this many outbound contacts in a row without response ..."""
STRAIN_WINDOW: Final = timedelta(days=14)
"""... within this long (from the first of them to the last)."""

_ZERO: Final = Decimal(0)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ContractTerms:
    client_name: str
    start_date: date
    end_date: date | None
    markup_floor_pct: Decimal
    burden_pct: Decimal
    msp_fee_pct: Decimal  # 0 when the contract has none
    min_assignment_weeks: int | None
    conversion_fee_pct: Decimal
    conversion_fee_waived_after_hours: Decimal | None
    non_solicit_months: int
    # Defaults: states written before overtime existed still decode (projections.risk.codec).
    ot_bill_multiplier: Decimal = margin.DEFAULT_OT_BILL_MULTIPLIER
    dt_bill_multiplier: Decimal = margin.DEFAULT_DT_BILL_MULTIPLIER


@dataclass(frozen=True, slots=True)
class ReportedWeek:
    """One week of hours actually worked, as last reported (a correction replaces it)."""

    week: date
    regular_hours: Decimal
    ot_hours: Decimal
    dt_hours: Decimal
    event_id: UUID

    @property
    def hours(self) -> Decimal:
        return self.regular_hours + self.ot_hours + self.dt_hours


SHORTFALL_SHARE: Final = Decimal("0.6")
"""HOURS_SHORTFALL: reported hours under this share of the plan ..."""
SHORTFALL_WEEKS: Final = 3
"""... for this many reported weeks in a row."""
REPORTED_WEEKS_KEPT: Final = 4
"""The latest reported weeks an assignment's state keeps (by week): what HOURS_SHORTFALL and a
run rate of the last 4 weeks read."""


@dataclass(frozen=True, slots=True)
class AssignmentState:
    assignment_id: str
    staffer_id: str
    staffer_name: str | None
    pay_rate: Decimal  # in force: the latest applied in log order (see the module docstring)
    bill_rate: Decimal
    burden_pct: Decimal | None  # the assignment's own; None: the contract's
    hours_per_week: Decimal
    start_date: date
    expected_end_date: date
    status: AssignmentStatus = "active"
    end_date: date | None = None
    end_reason: AssignmentEndReason | None = None
    # Overtime (defaults: states written before it existed still decode). The OT and DT rates
    # in force as given; None: derived from pay and bill with the contract's multipliers.
    planned_ot_hours_per_week: Decimal = _ZERO
    ot_exempt: bool = False
    ot_pay_rate: Decimal | None = None
    ot_bill_rate: Decimal | None = None
    dt_pay_rate: Decimal | None = None
    dt_bill_rate: Decimal | None = None
    reported: tuple[ReportedWeek, ...] = ()
    """The latest REPORTED_WEEKS_KEPT reported weeks, by week."""
    shortfall_raised: bool = False
    """In a run of short weeks (`short_run`): HOURS_SHORTFALL fired when it began."""

    @property
    def active(self) -> bool:
        return self.status == "active"

    @property
    def term(self) -> margin.Term:
        return margin.Term(self.start_date, self.expected_end_date)

    @property
    def who(self) -> str:
        """How a message names it: "Dana Reyes (A-1)", or "S-42 (A-1)" without a name."""
        return f"{self.staffer_name or self.staffer_id} ({self.assignment_id})"


@dataclass(frozen=True, slots=True)
class OpenRaiseRequest:
    assignment_id: str
    requested_pay_rate: Decimal
    client_max_bill_rate: Decimal | None


@dataclass(frozen=True, slots=True)
class MarkupCut:
    """One assignment's markup lowered by a MarkupAgreed."""

    event_id: UUID
    agreed_on: date  # the day it was agreed: the event's occurred_at
    assignment_id: str
    markup_before: Decimal
    markup_after: Decimal
    weekly_gross_profit_lost: Decimal

    @property
    def points(self) -> Decimal:
        return self.markup_before - self.markup_after


@dataclass(frozen=True, slots=True)
class Contact:
    """A logged client contact, or (for the silence counted from it) the signing."""

    event_id: UUID
    occurred_at: datetime
    stream_version: int
    direction: ContactDirection | None  # None: the signing, not a contact
    responded: bool


@dataclass(frozen=True)
class RiskState:
    """One contract as the risk rules see it, as of stream version `version`.

    Immutable: its maps are typed `Mapping` and never written; each `evolve` builds new ones
    (plain dicts, so that the state compares as a plain value and `projections.risk.codec`
    writes it as JSON).
    """

    contract_id: str
    version: int
    terms: ContractTerms
    signed: Contact
    last_event_at: datetime
    """The latest `occurred_at` folded: a timer's clock in event time, if the shell wants one."""
    terminated_on: date | None = None
    assignments: Mapping[str, AssignmentState] = field(default_factory=dict)
    negotiations: Mapping[str, str | None] = field(default_factory=dict)
    """Open negotiations: id → the assignment negotiated, None for every active assignment."""
    raise_requests: Mapping[str, OpenRaiseRequest] = field(default_factory=dict)
    """Open (undecided) raise requests."""
    markup_cuts: tuple[MarkupCut, ...] = ()
    """Cuts agreed within EROSION_MEMORY of the latest one, in log order."""
    unanswered_run: tuple[Contact, ...] = ()
    """The last (at most STRAIN_RUN) outbound contacts in a row that got no response."""
    strain_raised_in_run: bool = False
    """RELATIONSHIP_STRAIN has already fired for the current run of unanswered contacts."""
    last_contact: Contact | None = None
    timer_alerts_raised: frozenset[str] = frozenset()
    """Ids of the timer alerts raised for the current silence; cleared by the next contact."""
    # The client's health as the contract carries it (health_watch). Defaults: a state written
    # before the rule decodes with no history, and its first measure raises nothing.
    last_two_way_at: datetime | None = None
    """The latest inbound contact, or outbound contact answered."""
    marks: tuple[Mark, ...] = ()
    """Complaints and bypass threats of the last 90 days."""
    gross_profit: tuple[GrossProfitSample, ...] = ()
    gross_profit_until: date | None = None
    """The day the weekly gross profit may change without an event (an assignment starting or
    ending, the contract ending): measured again from then. None: not until an event."""
    health: tuple[ScoreSample, ...] = ()
    """The score where it changed over the last 30 days (and the one before)."""
    health_falling: bool = False
    """The score is 20 points or more under its highest of the last 30 days (a drop that
    CLIENT_HEALTH_FALLING raised once, when it began)."""

    # -- reading -----------------------------------------------------------------------------

    @property
    def client_name(self) -> str:
        return self.terms.client_name

    @property
    def terminated(self) -> bool:
        return self.terminated_on is not None

    def active_assignments(self) -> list[AssignmentState]:
        return [a for a in self.assignments.values() if a.active]

    def negotiated(self, negotiation_id: str) -> list[AssignmentState]:
        """The active assignments an open negotiation covers (none if it is not open)."""
        if negotiation_id not in self.negotiations:
            return []
        assignment_id = self.negotiations[negotiation_id]
        if assignment_id is None:
            return self.active_assignments()
        a = self.assignments.get(assignment_id)
        return [a] if a is not None and a.active else []

    def rates(
        self, a: AssignmentState, pay_rate: Decimal | None = None, bill_rate: Decimal | None = None
    ) -> margin.Rates:
        """`a`'s rates in force (or the pay and bill given) priced with the contract's terms."""
        if pay_rate is None and bill_rate is None:
            return pricing.in_force(self.terms, a)  # remembered
        return pricing.rates(self.terms, a, pay_rate, bill_rate)

    @property
    def silence_since(self) -> Contact:
        """The event a silence is counted from: the last contact, else the signing."""
        return self.last_contact if self.last_contact is not None else self.signed


# ---------------------------------------------------------------------------------------------
# Folding
# ---------------------------------------------------------------------------------------------


# The last (state, event, state after) `evolve` answered: judging an event asks for the same
# step up to four times (the rules that price a change, then the fold), and its answer depends
# on nothing else. Compared by identity: states and events are immutable.
_last_evolved: tuple[RiskState | None, ev.EventBase, RiskState] | None = None


def evolve(state: RiskState | None, event: ev.EventBase) -> RiskState:
    """The state after `event`; `state` itself unchanged if it has already applied the event.

    Raises ValueError for an event without a stream_version (not from the log), for another
    contract's event, or for a stream that does not start with ContractSigned.
    """
    global _last_evolved
    last = _last_evolved
    if last is not None and last[0] is state and last[1] is event:
        return last[2]
    after = _evolve(state, event)
    _last_evolved = (state, event, after)
    return after


def _evolve(state: RiskState | None, event: ev.EventBase) -> RiskState:
    version = event.stream_version
    if version is None:
        raise ValueError(f"{event.type} {event.event_id} has no stream_version: not from the log")
    if state is None:
        if not isinstance(event, ev.ContractSigned):
            raise ValueError(
                f"contract {event.contract_id}: the stream starts with {event.type}, "
                "not ContractSigned"
            )
        return _signed(event)
    if event.contract_id != state.contract_id:
        raise ValueError(
            f"event {event.event_id} is for contract {event.contract_id}, not {state.contract_id}"
        )
    if version <= state.version:
        return state
    # The handler of the event's own class (every catalogue type has one), without
    # singledispatch's lookup by MRO; anything else through `_apply`, which refuses it.
    after = _apply.registry.get(type(event), _apply)(event, state)
    return _measured(
        after,
        state,
        _GROSS_PROFIT_CHANGE.get(type(event)),
        version,
        max(state.last_event_at, event.occurred_at),
    )


def fold(events: Iterable[ev.EventBase], state: RiskState | None = None) -> RiskState | None:
    """`evolve` over `events` in order (None for no events and no state)."""
    for event in events:
        state = evolve(state, event)
    return state


def record_timer_alerts(state: RiskState, alert_ids: Iterable[str]) -> RiskState:
    """The state remembering that the timer alerts `alert_ids` were raised.

    Not folded from the log: the shell that runs the timers keeps it (e.g. in its table). A
    state rebuilt from the log alone raises a timer alert again with the same deterministic id,
    which consumers already hold.
    """
    ids = frozenset(alert_ids)
    if ids <= state.timer_alerts_raised:
        return state
    return replace(state, timer_alerts_raised=state.timer_alerts_raised | ids)


def _signed(e: ev.ContractSigned) -> RiskState:
    version = e.stream_version or 0
    signed = RiskState(
        contract_id=e.contract_id,
        version=version,
        terms=ContractTerms(**e.terms()),
        signed=Contact(e.event_id, e.occurred_at, version, None, False),
        last_event_at=e.occurred_at,
    )
    return _measured(signed, None, "contract", version, e.occurred_at)


@singledispatch
def _apply(event: ev.EventBase, state: RiskState) -> RiskState:
    """By event class: every type has its own (events.dispatch)."""
    unhandled("the risk fold", event)


@_apply.register
def _nothing_read(e: ev.MarkupProposed, s: RiskState) -> RiskState:
    """Changes nothing the rules read from the state (they judge these events themselves)."""
    return s


@_apply.register
def _complaint(e: ev.ClientComplaintLogged, s: RiskState) -> RiskState:
    kind: health_watch.MarkKind = "legal_threat" if e.legal_threat else "complaint"
    return replace(s, marks=(*s.marks, Mark(e.occurred_at, kind)))


@_apply.register
def _bypass_threat(e: ev.BypassThreatReported, s: RiskState) -> RiskState:
    return replace(s, marks=(*s.marks, Mark(e.occurred_at, "bypass_threat")))


@_apply.register
def _signed_again(e: ev.ContractSigned, s: RiskState) -> RiskState:
    return s  # the writer refuses it; a second signing never rewrites the terms


@_apply.register
def _amended(e: ev.ContractAmended, s: RiskState) -> RiskState:
    return replace(s, terms=replace(s.terms, **e.amended_terms()))


@_apply.register
def _account_manager_changed(e: ev.AccountManagerChanged, s: RiskState) -> RiskState:
    # The rules judge margins and the relationship, not who manages the contract: an alert
    # reaches whoever manages it when it is read (alerts are scoped through the read model).
    return s


@_apply.register
def _terminated(e: ev.ContractTerminated, s: RiskState) -> RiskState:
    return replace(s, terminated_on=e.effective_date)


@_apply.register
def _started(e: ev.AssignmentStarted, s: RiskState) -> RiskState:
    if e.assignment_id in s.assignments:
        return s
    a = AssignmentState(assignment_id=e.assignment_id, **e.terms())
    return _with_assignment(s, replace(a, **e.overtime_rates()))


@_apply.register
def _adjusted(e: ev.RatesAdjusted, s: RiskState) -> RiskState:
    return _set_rates(s, e.assignment_id, e.pay_rate, e.bill_rate, e.overtime_rates())


@_apply.register
def _ended(e: ev.AssignmentEnded, s: RiskState) -> RiskState:
    a = s.assignments.get(e.assignment_id)
    if a is None or not a.active:
        return s
    return _with_assignment(s, replace(a, status="ended", end_date=e.end_date, end_reason=e.reason))


@_apply.register
def _negotiation_opened(e: ev.MarkupNegotiationOpened, s: RiskState) -> RiskState:
    return replace(s, negotiations={**s.negotiations, e.negotiation_id: e.assignment_id})


@_apply.register
def _agreed(e: ev.MarkupAgreed, s: RiskState) -> RiskState:
    agreed_on = e.occurred_at.date()
    cuts: list[MarkupCut] = []
    after = s
    for a in s.negotiated(e.negotiation_id):
        before = s.rates(a)
        bill = margin.bill_rate_for_markup(a.pay_rate, e.markup_pct)
        markup_before = margin.markup_pct(before)
        if e.markup_pct < markup_before:
            lost = margin.weekly_gross_profit(before) - margin.weekly_gross_profit(
                s.rates(a, bill_rate=bill)
            )
            cuts.append(
                MarkupCut(e.event_id, agreed_on, a.assignment_id, markup_before, e.markup_pct, lost)
            )
        overtime: Mapping[str, Decimal | None] = _DERIVED
        if e.ot_markup_pct is not None:
            # The OT pay in force stays; the OT bill is the one the OT markup gives.
            agreed = margin.agreed_ot_rates(
                replace(before, bill_rate=bill, ot_bill_rate=None), e.ot_markup_pct
            )
            if agreed is not None:
                overtime = {"ot_pay_rate": agreed[0], "ot_bill_rate": agreed[1]}
        after = _set_rates(after, a.assignment_id, a.pay_rate, bill, overtime)
    negotiations = {k: v for k, v in s.negotiations.items() if k != e.negotiation_id}
    if not cuts:
        return replace(after, negotiations=negotiations)
    horizon = agreed_on - EROSION_MEMORY
    kept = tuple(c for c in (*s.markup_cuts, *cuts) if c.agreed_on >= horizon)
    return replace(after, negotiations=negotiations, markup_cuts=kept)


@_apply.register
def _negotiation_closed(e: ev.MarkupNegotiationClosed, s: RiskState) -> RiskState:
    return replace(
        s, negotiations={k: v for k, v in s.negotiations.items() if k != e.negotiation_id}
    )


@_apply.register
def _raise_requested(e: ev.RaiseRequested, s: RiskState) -> RiskState:
    request = OpenRaiseRequest(e.assignment_id, e.requested_pay_rate, e.client_max_bill_rate)
    return replace(s, raise_requests={**s.raise_requests, e.raise_request_id: request})


@_apply.register
def _raise_approved(e: ev.RaiseApproved, s: RiskState) -> RiskState:
    request = s.raise_requests.get(e.raise_request_id)
    after = s
    if request is not None:
        after = _set_rates(
            s, request.assignment_id, e.new_pay_rate, e.new_bill_rate, e.overtime_rates()
        )
    return _decided(after, e.raise_request_id)


@_apply.register
def _raise_declined(e: ev.RaiseDeclined, s: RiskState) -> RiskState:
    return _decided(s, e.raise_request_id)


@_apply.register
def _contact(e: ev.ClientContactLogged, s: RiskState) -> RiskState:
    contact = Contact(e.event_id, e.occurred_at, e.stream_version or 0, e.direction, e.responded)
    # A new contact ends the silence: the timer alerts of the old one can never recur.
    changes: dict[str, Any] = {"last_contact": contact, "timer_alerts_raised": frozenset()}
    if e.direction == "outbound" and not e.responded:
        run = (*s.unanswered_run, contact)[-STRAIN_RUN:]
        changes["unanswered_run"] = run
        changes["strain_raised_in_run"] = s.strain_raised_in_run or strain_due(run)
    else:
        latest = s.last_two_way_at
        changes["last_two_way_at"] = e.occurred_at if latest is None else max(latest, e.occurred_at)
        # An answer, or the client reaching out, ends the run.
        changes["unanswered_run"] = ()
        changes["strain_raised_in_run"] = False
    return replace(s, **changes)  # one copy of the state, not one per field


@_apply.register
def _hours(e: ev.HoursReported, s: RiskState) -> RiskState:
    a = s.assignments.get(e.assignment_id)
    if a is None:
        return s
    week = ReportedWeek(e.week, e.regular_hours, e.ot_hours, e.dt_hours, e.event_id)
    others = [w for w in a.reported if w.week != e.week]
    kept = tuple(sorted([*others, week], key=lambda w: w.week)[-REPORTED_WEEKS_KEPT:])
    return _with_assignment(s, replace(a, reported=kept, shortfall_raised=short_run(a, kept)))


def planned_hours(a: AssignmentState) -> Decimal:
    """The hours of the planned week: regular plus planned OT (none when ot_exempt)."""
    return a.hours_per_week + (_ZERO if a.ot_exempt else a.planned_ot_hours_per_week)


def short_run(a: AssignmentState, weeks: tuple[ReportedWeek, ...]) -> bool:
    """HOURS_SHORTFALL's condition: the last SHORTFALL_WEEKS reported weeks (by week) each
    under SHORTFALL_SHARE of the planned week."""
    if len(weeks) < SHORTFALL_WEEKS:
        return False
    floor = SHORTFALL_SHARE * planned_hours(a)
    return all(w.hours < floor for w in weeks[-SHORTFALL_WEEKS:])


require_every_event_type("the risk fold", _apply.registry)


# -- the client's health as the contract carries it -------------------------------------------

# The events that may change the contract's weekly gross profit, and how: its terms (summed
# again over every assignment) or some assignments' rates or dates (only the assignments the
# event changed, a difference). Otherwise it is summed again only once a day it may change by
# itself has come (an assignment starting or ending, the contract ending).
_GROSS_PROFIT_CHANGE: Final[Mapping[type, str]] = {
    ev.ContractAmended: "contract",
    ev.ContractTerminated: "contract",
    ev.AssignmentStarted: "assignments",
    ev.AssignmentEnded: "assignments",
    ev.RatesAdjusted: "assignments",
    ev.RaiseApproved: "assignments",
    ev.MarkupAgreed: "assignments",
}


def _gross_profit_of(
    s: RiskState, a: AssignmentState | None, day: date
) -> tuple[Decimal, date | None]:
    """One assignment's part of the contract's weekly gross profit on `day` (as the portfolio
    trend counts it: started by then, not yet ended, the contract not terminated), and the next
    day that part may change without an event."""
    if a is None:
        return _ZERO, None
    stop = s.terminated_on
    ends = [d for d in (a.end_date, stop) if d is not None]
    end = min(ends) if ends else None
    if a.start_date > day:
        return _ZERO, a.start_date
    if end is not None and day >= end:
        return _ZERO, None
    return pricing.weekly_gross_profit(s.terms, a), end


def weekly_gross_profit_on(s: RiskState, day: date) -> tuple[Decimal, date | None]:
    """The planned weekly gross profit of the assignments on the contract on `day`, at the rates
    in force; and the next day that sum may change without an event."""
    total = _ZERO
    boundaries: list[date] = []
    for a in s.assignments.values():
        part, boundary = _gross_profit_of(s, a, day)
        total += part
        if boundary is not None:
            boundaries.append(boundary)
    return total, min(boundaries, default=None)


def short_weeks(s: RiskState) -> int:
    """Of each assignment's last 4 reported weeks, those under 60 % of its planned week."""
    n = 0
    for a in s.assignments.values():
        if a.reported:
            floor = SHORTFALL_SHARE * planned_hours(a)
            n += sum(w.hours < floor for w in a.reported)
    return n


def health_of(s: RiskState, day: date) -> Health:
    """The client's health on `day` as the contract carries it (health_watch)."""
    return client_health(_health_facts(s, day))


# The last score answered, with the state and day it was measured on: judging an event
# measures it twice (the fold's `_measured`, then CLIENT_HEALTH_FALLING on the same state
# after). The state compared by identity: the one `_measured` returns (its health fields, set
# after the measure, are not among what the score reads).
_last_score: tuple[RiskState, date, int] | None = None


def health_score_of(s: RiskState, day: date) -> int:
    """`health_of(s, day).score`, without wording the parts (measured at every event)."""
    global _last_score
    last = _last_score
    if last is not None and last[0] is s and last[1] == day:
        return last[2]
    score = health_watch.measured_score(
        day,
        s.last_two_way_at,
        len(s.unanswered_run),
        s.marks,
        len(s.negotiations) + len(s.raise_requests),
        s.gross_profit,
        short_weeks(s),
    )
    _last_score = (s, day, score)
    return score


def _health_facts(s: RiskState, day: date) -> HealthFacts:
    return health_watch.facts(
        day,
        s.last_two_way_at,
        len(s.unanswered_run),
        s.marks,
        len(s.negotiations) + len(s.raise_requests),
        health_watch.trend_pct(s.gross_profit, day),
        short_weeks(s),
    )


def _measured(
    s: RiskState,
    before: RiskState | None,
    change: str | None,
    version: int,
    last_event_at: datetime,
) -> RiskState:
    """The state `s` (after an event, `before` it) at `version` and `last_event_at`, with the
    health measured on that day (event time); `change`: how the event may change the weekly
    gross profit."""
    day = last_event_at.date()
    gp, until = s.gross_profit, s.gross_profit_until
    if before is None or not gp or change == "contract" or (until is not None and day >= until):
        weekly, until = weekly_gross_profit_on(s, day)
        gp = health_watch.with_gross_profit(gp, day, weekly)
    elif change == "assignments":
        weekly = gp[-1].weekly_gross_profit
        for key, a in s.assignments.items():
            was = before.assignments.get(key)
            if a is was:
                continue
            old, _ = _gross_profit_of(before, was, day)
            new, boundary = _gross_profit_of(s, a, day)
            weekly += new - old
            if boundary is not None and (until is None or boundary < until):
                until = boundary
        gp = health_watch.with_gross_profit(gp, day, weekly)
    measured = {
        "version": version,
        "last_event_at": last_event_at,
        "marks": health_watch.recent_marks(s.marks, last_event_at),
        "gross_profit": gp,
        "gross_profit_until": until,
    }
    # The new state is written in place while no one else has seen it: the event's handler's
    # own copy (a handler returns its state unchanged, or a copy only it holds), else one copy
    # here. A copy of the state was a tenth of the fold's cost, at up to six an event.
    if s is before:
        s = replace(s, **measured)
    else:
        s.__dict__.update(measured)
    score = health_score_of(s, day)
    fall = health_watch.fall(s.health, day, score)
    two_way = None if s.last_two_way_at is None else s.last_two_way_at.date()
    s.__dict__.update(
        health=health_watch.with_score(s.health, day, score, two_way),
        health_falling=fall is not None and fall.dropped,
    )
    return s


def strain_due(run: tuple[Contact, ...]) -> bool:
    """The run of unanswered outbound contacts is long enough, and close enough in time, for
    RELATIONSHIP_STRAIN: STRAIN_RUN of them within STRAIN_WINDOW (first to last, event time)."""
    if len(run) < STRAIN_RUN:
        return False
    times = [c.occurred_at for c in run[-STRAIN_RUN:]]
    return max(times) - min(times) <= STRAIN_WINDOW


# -- helpers -----------------------------------------------------------------------------------


_FIELDS: dict[type, frozenset[str]] = {}


def replace(obj: _T, /, **changes: Any) -> _T:
    """`dataclasses.replace` for this module's frozen dataclasses: the same copy with `changes`
    (an unknown field is a TypeError), without its per-field introspection and `__init__`,
    which cost a third of judging a log (about 7 us a call, several calls an event). Valid
    because none of them has a `__post_init__`, an InitVar or a field left out of `__init__`;
    a class that had would go through `dataclasses.replace`."""
    cls = type(obj)
    names = _FIELDS.get(cls)
    if names is None:
        known = fields(cast(Any, cls))
        plain = not hasattr(cls, "__post_init__") and all(f.init for f in known)
        names = _FIELDS[cls] = frozenset(f.name for f in known) if plain else frozenset()
    if not names or not changes.keys() <= names:
        return cast(_T, _dataclass_replace(cast(Any, obj), **changes))
    new = object.__new__(cls)
    if hasattr(obj, "__dict__"):
        object.__setattr__(new, "__dict__", {**obj.__dict__, **changes})
        return new
    # Slots: every value read at once, each written by its slot's own descriptor (half the
    # cost of a getattr and an object.__setattr__ by name, for an assignment's 21 fields).
    slots = _SLOTS.get(cls)
    if slots is None:
        order = tuple(f.name for f in fields(cast(Any, cls)))
        slots = _SLOTS[cls] = (
            order,
            attrgetter(*order, order[0]),  # a tuple even of one field (the last one ignored)
            tuple(cls.__dict__[name].__set__ for name in order),
        )
    order, values, setters = slots
    for name, value, put in zip(order, values(obj), setters, strict=False):
        put(new, changes.get(name, value))
    return new


# A slots class's fields in order, a getter of their values, and each slot's setter.
_SLOTS: dict[type, tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]], tuple[Any, ...]]] = {}


def _with_assignment(s: RiskState, a: AssignmentState) -> RiskState:
    return replace(s, assignments={**s.assignments, a.assignment_id: a})


_DERIVED: Final[Mapping[str, Decimal | None]] = {}


def _set_rates(
    s: RiskState,
    assignment_id: str,
    pay: Decimal,
    bill: Decimal,
    overtime: Mapping[str, Decimal | None] = _DERIVED,
) -> RiskState:
    """New rates in force; the OT and DT rates not given are derived from them."""
    a = s.assignments.get(assignment_id)
    if a is None:
        return s
    return _with_assignment(
        s,
        replace(
            a,
            pay_rate=pay,
            bill_rate=bill,
            **{name: overtime.get(name) for name in ev.OVERTIME_RATES},
        ),
    )


def _decided(s: RiskState, raise_request_id: str) -> RiskState:
    return replace(
        s, raise_requests={k: v for k, v in s.raise_requests.items() if k != raise_request_id}
    )
