"""Builders of the read model's tests (tests/unit/test_read_model*.py): events stamped as the
log holds them, one contract's stream applied event by event, the histories they share, and
what the writer decides of a log."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from events import Event
from events.catalogue import ContractAmended
from events.messages import Submission, Submitter
from events.serialization import parse_submission
from projections.read_model import Changes, ImpactRow, ReadModel
from simulation.examples import CONTRACT_ID, OMIT, example
from writemodel.decide import decide
from writemodel.state import ContractState, evolve

D = Decimal

CONTRACT_START = "2026-01-01"
START = date(2026, 1, 5)  # a Monday
END = date(2026, 12, 28)  # a Monday, 51 weeks after the start
RAISE_DAY = date(2026, 3, 2)  # a Monday, 43 weeks (301 days) before the expected end


def at(day: date | str, hour: int = 9) -> str:
    """An occurred_at on that day (UTC)."""
    d = date.fromisoformat(day) if isinstance(day, str) else day
    return datetime(d.year, d.month, d.day, hour, tzinfo=UTC).isoformat()


def event(type_name: str, version: int, **overrides: Any) -> Event:
    """An event as the log holds it: a valid submission stamped with its stream version."""
    submitted, _ = parse_submission(example(type_name, **overrides))
    return submitted.model_copy(update={"stream_version": version})


@dataclass
class Stream:
    """One contract's stream, applied to a read model event by event."""

    model: ReadModel = field(default_factory=ReadModel)
    contract_id: str = CONTRACT_ID
    version: int = 0
    log: list[Event] = field(default_factory=list)

    def add(self, type_name: str, **overrides: Any) -> Event:
        self.version += 1
        overrides.setdefault("contract_id", self.contract_id)
        e = event(type_name, self.version, **overrides)
        assert self.model.apply(e) is True
        self.log.append(e)
        return e

    def sign(self, **overrides: Any) -> Event:
        terms: dict[str, Any] = {
            "start_date": CONTRACT_START,
            "end_date": OMIT,
            "burden_pct": "20",
            "msp_fee_pct": OMIT,
            "occurred_at": at(CONTRACT_START),
        }
        return self.add("ContractSigned", **(terms | overrides))

    def start(self, assignment_id: str = "A-1", **overrides: Any) -> Event:
        fields: dict[str, Any] = {
            "assignment_id": assignment_id,
            "staffer_id": f"S-{assignment_id}",
            "pay_rate": "30.00",
            "bill_rate": "37.50",
            "hours_per_week": "40",
            "start_date": START.isoformat(),
            "expected_end_date": END.isoformat(),
            "burden_pct": OMIT,  # the contract's burden applies
            "occurred_at": at(START),
        }
        return self.add("AssignmentStarted", **(fields | overrides))

    def amend(self, effective: date, **terms: Any) -> Event:
        # The example amends every term: leave out all but the ones given.
        omitted: dict[str, Any] = dict.fromkeys(ContractAmended.TERMS, OMIT)
        return self.add(
            "ContractAmended",
            **(
                omitted
                | {"effective_date": effective.isoformat(), "occurred_at": at(effective)}
                | terms
            ),
        )

    def adjust(self, pay: str, bill: str, effective: str, **overrides: Any) -> Event:
        """RatesAdjusted (of A-1 unless `assignment_id` says otherwise)."""
        return self.add(
            "RatesAdjusted", pay_rate=pay, bill_rate=bill, effective_date=effective, **overrides
        )

    def request_raise(self, pay: str = "32.00", budget: Any = "37.50", **overrides: Any) -> Event:
        """RaiseRequested R-1 on A-1: `pay` asked for, `budget` the client's highest bill rate
        (OMIT: none, passed through at today's markup)."""
        fields = {"requested_pay_rate": pay, "client_max_bill_rate": budget}
        return self.add("RaiseRequested", **(fields | overrides))

    def approve_raise(self, pay: str, bill: str, effective: str, **overrides: Any) -> Event:
        """RaiseApproved of R-1."""
        fields = {"new_pay_rate": pay, "new_bill_rate": bill, "effective_date": effective}
        return self.add("RaiseApproved", **(fields | overrides))

    def open_negotiation(self, **overrides: Any) -> Event:
        """MarkupNegotiationOpened N-1 (on A-1 unless `assignment_id` says otherwise)."""
        return self.add("MarkupNegotiationOpened", **overrides)

    def propose(self, markup: str, **overrides: Any) -> Event:
        """MarkupProposed in N-1."""
        return self.add("MarkupProposed", markup_pct=markup, **overrides)

    def agree(self, markup: str, effective: str, **overrides: Any) -> Event:
        """MarkupAgreed in N-1."""
        return self.add("MarkupAgreed", markup_pct=markup, effective_date=effective, **overrides)

    def take(self) -> Changes:
        """What the events since the last take changed."""
        return self.model.take_changes()


def impacts_of(changes: Changes, e: Event) -> dict[str, ImpactRow]:
    """The impact rows `e` recorded, by assignment."""
    rows = [i for i in changes.impacts if i.event_id == str(e.event_id)]
    by_assignment = {i.assignment_id: i for i in rows}
    assert len(by_assignment) == len(rows), "two impacts of one event on one assignment"
    return by_assignment


def one_impact(changes: Changes, e: Event) -> ImpactRow:
    rows = impacts_of(changes, e)
    assert len(rows) == 1, rows
    return next(iter(rows.values()))


def open_keys(model: ReadModel) -> set[tuple[str, str, str]]:
    return set(model.open_items)


def snapshot(model: ReadModel) -> dict[str, Any]:
    """Every row the model holds, deep-copied so later applies cannot change it."""
    return copy.deepcopy(
        {
            "contracts": model.contracts,
            "assignments": model.assignments,
            "rate_history": model.rate_history,
            "terms_history": model.terms_history,
            "open_items": model.open_items,
        }
    )


def worked_example() -> Stream:
    """DESIGN's worked example: contract burden 20, no MSP fee; P 30.00, B 37.50, H 40."""
    s = Stream()
    s.sign()
    s.start()
    s.take()  # each test looks at what its own events changed
    return s


def contract_with_three_assignments() -> Stream:
    """A-1 at 30.00 / 37.50, A-2 at 30.60 / 38.25 (both 25 %), A-3 ended."""
    s = worked_example()
    s.start("A-2", pay_rate="30.60", bill_rate="38.25", hours_per_week="35")
    s.start("A-3", pay_rate="25.00", bill_rate="31.25")
    s.add("AssignmentEnded", assignment_id="A-3", end_date="2026-02-13", reason="completed")
    s.take()
    return s


def rich_history() -> Stream:
    s = contract_with_three_assignments()
    s.amend(date(2026, 2, 1), burden_pct="22")
    s.open_negotiation(assignment_id=OMIT)
    s.propose("20")
    s.agree("22.5", "2026-03-02")
    s.request_raise(assignment_id="A-2")
    s.add("RaiseApproved", raise_request_id="R-1", effective_date="2026-02-16")
    s.request_raise(raise_request_id="R-2", budget=OMIT)
    s.add("BypassThreatReported", assignment_id="A-2", staffer_id="S-A-2")
    s.add("ClientComplaintLogged")
    s.add("ContractTerminated", effective_date="2026-09-30")
    return s


ADMIN = Submitter(role="admin", principal="u.root")
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def writer_verdicts(log: list[Event], contract_id: str) -> list[Any]:
    """What the writer decides about each event of `log` of `contract_id`, submitted in turn."""
    state: ContractState | None = None
    out = []
    for e in log:
        if e.contract_id != contract_id:
            continue
        fresh = e.model_copy(update={"stream_version": None})
        decision = decide(
            state, Submission(submission_id=uuid.uuid4(), submitter=ADMIN, event=fresh), NOW
        )
        out.append(decision)
        if decision.append is not None:
            state = evolve(state, decision.append)
    return out
