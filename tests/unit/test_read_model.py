# Long: the read model's tests by DESIGN topic over one stream builder.
"""The margin read model (projections.read_model) against DESIGN.md: what finance would check.

Events are built from `simulation.examples` and stamped with their stream version, as
the log holds them. Every expected figure is worked out by hand in a comment next to it.
"""

from __future__ import annotations

import copy
import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import Event
from events.catalogue import (
    ContractAmended,
    MarkupAgreed,
    MarkupNegotiationOpened,
    MarkupProposed,
    RaiseApproved,
    RaiseRequested,
    RatesAdjusted,
)
from events.messages import Submission, Submitter
from events.serialization import parse_submission
from projections.margin import bill_rate_for_markup, round_money
from projections.read_model import (
    AssignmentRow,
    Changes,
    ContractRow,
    ImpactRow,
    OpenItem,
    RateRow,
    ReadModel,
    StoredContract,
    TermsRow,
    terms_in_force,
)
from simulation.examples import CONTRACT_ID, OMIT, example
from tests.support.histories import histories
from writemodel.decide import decide
from writemodel.state import ContractState, evolve, fold

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


# --- DESIGN's worked example ----------------------------------------------------------------


def test_worked_example_raise_approved_records_the_applied_impact() -> None:
    s = worked_example()
    s.request_raise(pay="32.00", budget="37.50", occurred_at=at("2026-02-16"))
    s.take()
    approved = s.approve_raise(
        "32.00", "37.50", RAISE_DAY.isoformat(), occurred_at=at("2026-02-20")
    )
    changes = s.take()
    row = one_impact(changes, approved)

    assert row.basis == "applied"
    assert row.event_type == "RaiseApproved"
    assert row.assignment_id == "A-1" and row.contract_id == CONTRACT_ID
    assert row.stream_version == approved.stream_version
    assert row.counted_from == RAISE_DAY
    assert row.occurred_at == approved.occurred_at
    before, after, delta = row.impact.before, row.impact.after, row.impact.delta
    # Before: markup 25 %, margin 37.50 − 30.00 × 1.20 = 1.50/h, × 40 = 60.00 a week.
    assert (before.pay_rate, before.bill_rate) == (D("30.00"), D("37.50"))
    assert before.markup_pct == D("25")
    assert before.margin_per_hour == D("1.50")
    assert before.weekly_gross_profit == D("60.00")
    # After: markup 37.50 / 32.00 − 1 = 17.1875 %; margin 37.50 − 38.40 = −0.90/h, −36.00/week.
    assert (after.pay_rate, after.bill_rate) == (D("32.00"), D("37.50"))
    assert after.markup_pct == D("17.1875")
    assert after.margin_per_hour == D("-0.90")
    assert after.weekly_gross_profit == D("-36.00")
    # Delta: −36.00 − 60.00 = −96.00 a week, a loss position.
    assert delta.pay_rate == D("2.00") and delta.bill_rate == D("0")
    assert delta.markup_pct == D("-7.8125")
    assert delta.margin_per_hour == D("-2.40")
    assert delta.weekly_gross_profit == D("-96.00")
    # Remaining term, counted from the effective date 2026-03-02 to the expected end
    # 2026-12-28: 301 days = 43 weeks; −96.00 × 301 / 7 = −96.00 × 43 = −4128.00.
    assert (END - RAISE_DAY).days == 301
    assert delta.remaining_gross_profit == D("-4128.00")
    assert before.remaining_gross_profit == D("2580.00")  # 60.00 × 43
    assert after.remaining_gross_profit == D("-1548.00")  # −36.00 × 43

    # The assignment now shows the raised pay, and the rate history has the new row.
    a = s.model.assignments[(CONTRACT_ID, "A-1")]
    assert (a.pay_rate, a.bill_rate, a.rates_effective) == (D("32.00"), D("37.50"), RAISE_DAY)
    assert a.stream_version == approved.stream_version
    assert changes.assignments == {(CONTRACT_ID, "A-1"): a}
    new_rate = RateRow(
        contract_id=CONTRACT_ID,
        assignment_id="A-1",
        effective_date=RAISE_DAY,
        stream_version=approved.stream_version or 0,
        pay_rate=D("32.00"),
        bill_rate=D("37.50"),
        event_id=str(approved.event_id),
    )
    assert changes.rates == [new_rate]
    history = s.model.rate_history[(CONTRACT_ID, "A-1")]
    assert [(r.effective_date, r.pay_rate, r.bill_rate) for r in history] == [
        (START, D("30.00"), D("37.50")),
        (RAISE_DAY, D("32.00"), D("37.50")),
    ]
    # The request is decided: no longer open.
    assert open_keys(s.model) == set()
    assert changes.closed == {(CONTRACT_ID, "raise_request", "R-1")}


def test_remaining_term_impact_of_a_part_week_is_exact_until_the_one_division() -> None:
    s = worked_example()
    approved_on = date(2026, 2, 18)  # a Wednesday: 313 days before the expected end
    s.request_raise(budget="37.50")
    e = s.approve_raise("32.00", "37.50", approved_on.isoformat())
    delta = one_impact(s.take(), e).impact.delta
    # −96.00 × 313 / 7 = −30048 / 7 = −4292.571428…: −4292.57 at the API edge.
    assert (END - approved_on).days == 313
    assert round_money(delta.remaining_gross_profit) == D("-4292.57")
    assert abs(delta.remaining_gross_profit * 7 + 30048) < D("1e-25")


# --- raise requests: proposed impacts -------------------------------------------------------


def test_raise_request_with_a_client_budget_is_a_proposed_impact_from_the_day_it_was_made() -> None:
    s = worked_example()
    asked_on = date(2026, 2, 16)  # 315 days = 45 weeks before the expected end
    # The client will not pay more than 37.50: the agency funds the raise.
    e = s.request_raise(pay="32.00", budget="37.50", occurred_at=at(asked_on))
    changes = s.take()
    row = one_impact(changes, e)
    assert row.basis == "proposed" and row.event_type == "RaiseRequested"
    assert row.counted_from == asked_on
    assert (row.impact.after.pay_rate, row.impact.after.bill_rate) == (D("32.00"), D("37.50"))
    assert row.impact.delta.weekly_gross_profit == D("-96.00")
    # −96.00 × 315 / 7 = −96.00 × 45 = −4320.00
    assert row.impact.delta.remaining_gross_profit == D("-4320.00")
    # A proposal changes no rate.
    a = s.model.assignments[(CONTRACT_ID, "A-1")]
    assert (a.pay_rate, a.bill_rate) == (D("30.00"), D("37.50"))
    assert changes.rates == [] and changes.assignments == {}
    assert len(s.model.rate_history[(CONTRACT_ID, "A-1")]) == 1
    assert s.model.open_items == {
        (CONTRACT_ID, "raise_request", "R-1"): OpenItem(
            CONTRACT_ID, "raise_request", "R-1", "A-1", e.stream_version or 0
        )
    }


@pytest.mark.parametrize(
    ("requested", "bill", "weekly_delta"),
    [
        # 32.00 × 1.25 = 40.00; margin 40.00 − 38.40 = 1.60/h = 64.00/week: +4.00
        ("32.00", "40.00", "4.00"),
        # 31.33 × 1.25 = 39.1625 → 39.16; margin 39.16 − 37.596 = 1.564/h = 62.56/week: +2.56
        ("31.33", "39.16", "2.56"),
    ],
)
def test_raise_request_without_a_budget_is_passed_through_at_todays_markup(
    requested: str, bill: str, weekly_delta: str
) -> None:
    s = worked_example()
    e = s.request_raise(pay=requested, budget=OMIT, occurred_at=at("2026-02-16"))
    row = one_impact(s.take(), e)
    assert row.basis == "proposed"
    assert (row.impact.after.pay_rate, row.impact.after.bill_rate) == (D(requested), D(bill))
    assert row.impact.delta.weekly_gross_profit == D(weekly_delta)


def test_todays_markup_is_the_one_in_force_on_the_day_not_a_future_dated_rate() -> None:
    s = worked_example()
    # Recorded in advance: from 2026-06-01 the bill rate goes to 39.00 (markup 30 %).
    s.adjust("30.00", "39.00", "2026-06-01", occurred_at=at("2026-02-10"))
    s.take()
    e = s.request_raise(pay="32.00", budget=OMIT, occurred_at=at("2026-02-16"))
    row = one_impact(s.take(), e)
    # On 2026-02-16 the rates in force are 30.00 / 37.50, markup 25 %: 32.00 × 1.25 = 40.00.
    assert (row.impact.before.pay_rate, row.impact.before.bill_rate) == (D("30.00"), D("37.50"))
    assert row.impact.after.bill_rate == D("40.00")


# --- markup negotiations --------------------------------------------------------------------


def contract_with_three_assignments() -> Stream:
    """A-1 at 30.00 / 37.50, A-2 at 30.60 / 38.25 (both 25 %), A-3 ended."""
    s = worked_example()
    s.start("A-2", pay_rate="30.60", bill_rate="38.25", hours_per_week="35")
    s.start("A-3", pay_rate="25.00", bill_rate="31.25")
    s.add("AssignmentEnded", assignment_id="A-3", end_date="2026-02-13", reason="completed")
    s.take()
    return s


def test_contract_wide_proposal_records_one_proposed_impact_per_active_assignment() -> None:
    s = contract_with_three_assignments()
    s.open_negotiation(assignment_id=OMIT)
    proposed_on = date(2026, 2, 16)
    e = s.propose("20", occurred_at=at(proposed_on))
    changes = s.take()
    rows = impacts_of(changes, e)
    assert set(rows) == {"A-1", "A-2"}  # A-3 has ended
    for row in rows.values():
        assert row.basis == "proposed" and row.event_type == "MarkupProposed"
        assert row.counted_from == proposed_on
    # 30.00 × 1.20 = 36.00; margin 36.00 − 36.00 = 0: −60.00 a week.
    assert rows["A-1"].impact.after.bill_rate == D("36.00")
    assert rows["A-1"].impact.after.markup_pct == D("20")
    assert rows["A-1"].impact.delta.weekly_gross_profit == D("-60.00")
    # −60.00 × 45 weeks (2026-02-16 to 2026-12-28) = −2700.00
    assert rows["A-1"].impact.delta.remaining_gross_profit == D("-2700.00")
    # 30.60 × 1.20 = 36.72; before 38.25 − 36.72 = 1.53/h, after 0: −1.53 × 35 = −53.55.
    assert rows["A-2"].impact.after.bill_rate == D("36.72")
    assert rows["A-2"].impact.delta.weekly_gross_profit == D("-53.55")
    # A proposal changes no rate.
    assert changes.rates == [] and changes.assignments == {}


def test_contract_wide_agreement_reprices_every_active_assignment_and_closes_it() -> None:
    s = contract_with_three_assignments()
    s.open_negotiation(assignment_id=OMIT)
    s.propose("20")
    ended_before = copy.deepcopy(s.model.assignments[(CONTRACT_ID, "A-3")])
    ended_history = copy.deepcopy(s.model.rate_history[(CONTRACT_ID, "A-3")])
    s.take()
    e = s.agree("22.5", RAISE_DAY.isoformat())
    changes = s.take()
    rows = impacts_of(changes, e)
    assert set(rows) == {"A-1", "A-2"}
    assert all(r.basis == "applied" and r.counted_from == RAISE_DAY for r in rows.values())
    a1 = s.model.assignments[(CONTRACT_ID, "A-1")]
    a2 = s.model.assignments[(CONTRACT_ID, "A-2")]
    # 30.00 × 1.225 = 36.75 exactly.
    assert (a1.pay_rate, a1.bill_rate, a1.rates_effective) == (D("30.00"), D("36.75"), RAISE_DAY)
    # 30.60 × 1.225 = 37.485, a tie: half-up gives 37.49 (half-even would give 37.48).
    assert (a2.pay_rate, a2.bill_rate) == (D("30.60"), D("37.49"))
    # A-1's impact: margin 36.75 − 36.00 = 0.75/h = 30.00/week, was 60.00: −30.00 a week,
    # × 43 weeks from 2026-03-02 = −1290.00.
    assert rows["A-1"].impact.delta.bill_rate == D("-0.75")
    assert rows["A-1"].impact.delta.weekly_gross_profit == D("-30.00")
    assert rows["A-1"].impact.delta.remaining_gross_profit == D("-1290.00")
    # A-2's impact: bill 38.25 → 37.49, −0.76/h × 35 h = −26.60 a week.
    assert rows["A-2"].impact.delta.weekly_gross_profit == D("-26.60")
    assert {(r.assignment_id, r.bill_rate) for r in changes.rates} == {
        ("A-1", D("36.75")),
        ("A-2", D("37.49")),
    }
    # The ended assignment is not touched.
    assert s.model.assignments[(CONTRACT_ID, "A-3")] == ended_before
    assert s.model.rate_history[(CONTRACT_ID, "A-3")] == ended_history
    assert set(changes.assignments) == {(CONTRACT_ID, "A-1"), (CONTRACT_ID, "A-2")}
    # The negotiation is closed.
    assert open_keys(s.model) == set()
    assert (CONTRACT_ID, "negotiation", "N-1") in changes.closed


def test_negotiation_on_one_assignment_reprices_only_that_one() -> None:
    s = contract_with_three_assignments()
    s.open_negotiation(assignment_id="A-2")
    proposed = s.propose("20")
    agreed = s.agree("20", "2026-03-02")
    changes = s.take()
    assert set(impacts_of(changes, proposed)) == {"A-2"}
    assert set(impacts_of(changes, agreed)) == {"A-2"}
    assert s.model.assignments[(CONTRACT_ID, "A-1")].bill_rate == D("37.50")
    assert s.model.assignments[(CONTRACT_ID, "A-2")].bill_rate == D("36.72")  # 30.60 × 1.2


def test_agreement_on_a_negotiation_whose_assignment_ended_touches_no_other_assignment() -> None:
    """The writer keeps such a negotiation open (only closing it puts it away) and refuses a
    proposal or an agreement on it (assignment_ended); a log written before it did may still
    hold them, and the read model must not take them as contract-wide."""
    s = contract_with_three_assignments()
    s.open_negotiation(assignment_id="A-1")
    s.add("AssignmentEnded", assignment_id="A-1", end_date="2026-02-27", reason="staffer_left")
    before = snapshot(s.model)
    s.take()
    proposed = s.propose("10")
    agreed = s.agree("10", "2026-03-02")
    # Today's writer refuses both.
    assert [d.verdict.code for d in writer_verdicts(s.log, proposed.contract_id)[-2:]] == [
        "assignment_ended",
        "assignment_ended",
    ]
    changes = s.take()
    assert impacts_of(changes, proposed) == {} and impacts_of(changes, agreed) == {}
    assert changes.rates == [] and changes.assignments == {}
    after = snapshot(s.model)
    assert after["assignments"] == before["assignments"]
    assert after["rate_history"] == before["rate_history"]


def raised_in_may_then_negotiated() -> Stream:
    """The worked example with a raise to 32.00 / 40.00 recorded in advance (effective
    2026-05-04), then a negotiation N-1 opened on A-1."""
    s = worked_example()
    s.request_raise(budget=OMIT)
    s.approve_raise("32.00", "40.00", "2026-05-04")
    s.open_negotiation(assignment_id="A-1")
    s.take()
    return s


def test_proposal_prices_the_pay_in_force_on_the_day_it_was_made() -> None:
    s = raised_in_may_then_negotiated()
    e = s.propose("20", occurred_at=at("2026-02-16"))
    row = one_impact(s.take(), e)
    # On 2026-02-16 the pay is 30.00: 30.00 × 1.20 = 36.00. A markup proposal moves no pay.
    assert (row.impact.before.pay_rate, row.impact.before.bill_rate) == (D("30.00"), D("37.50"))
    assert (row.impact.after.pay_rate, row.impact.after.bill_rate) == (D("30.00"), D("36.00"))
    assert row.impact.delta.pay_rate == 0


def test_agreement_takes_the_pay_in_force_on_its_effective_date() -> None:
    s = raised_in_may_then_negotiated()
    # Back-dated to before the raise: the pay then was 30.00, so the bill becomes 36.00.
    e = s.agree("20", "2026-03-02")
    row = one_impact(s.take(), e)
    assert (row.impact.before.pay_rate, row.impact.before.bill_rate) == (D("30.00"), D("37.50"))
    assert (row.impact.after.pay_rate, row.impact.after.bill_rate) == (D("30.00"), D("36.00"))
    history = s.model.rate_history[(CONTRACT_ID, "A-1")]
    assert [(r.effective_date.isoformat(), r.pay_rate, r.bill_rate) for r in history] == [
        ("2026-01-05", D("30.00"), D("37.50")),
        ("2026-03-02", D("30.00"), D("36.00")),
        ("2026-05-04", D("32.00"), D("40.00")),
    ]
    # The latest rates (by effective date) stay the raise's.
    a = s.model.assignments[(CONTRACT_ID, "A-1")]
    assert (a.pay_rate, a.bill_rate, a.rates_effective) == (
        D("32.00"),
        D("40.00"),
        date(2026, 5, 4),
    )


# --- back-dated changes ---------------------------------------------------------------------


def test_back_dated_adjustment_is_measured_against_the_rates_in_force_on_its_date() -> None:
    s = worked_example()
    s.request_raise(budget=OMIT)
    s.approve_raise("32.00", "40.00", RAISE_DAY.isoformat())
    s.take()
    back_dated = date(2026, 2, 2)  # 329 days = 47 weeks before the expected end
    e = s.adjust("31.00", "38.75", back_dated.isoformat(), occurred_at=at("2026-03-10"))
    changes = s.take()
    row = one_impact(changes, e)
    assert row.basis == "applied" and row.counted_from == back_dated
    # Before is what was in force on 2026-02-02 (30.00 / 37.50), not the latest row (32.00 /
    # 40.00): 60.00 a week. After: 38.75 − 31.00 × 1.2 = 1.55/h = 62.00 a week: +2.00.
    assert (row.impact.before.pay_rate, row.impact.before.bill_rate) == (D("30.00"), D("37.50"))
    assert row.impact.delta.weekly_gross_profit == D("2.00")
    assert row.impact.delta.remaining_gross_profit == D("94.00")  # 2.00 × 47
    # The history holds it in date order; the assignment still shows the latest rates.
    history = s.model.rate_history[(CONTRACT_ID, "A-1")]
    assert [r.effective_date for r in history] == [START, back_dated, RAISE_DAY]
    a = s.model.assignments[(CONTRACT_ID, "A-1")]
    assert (a.pay_rate, a.bill_rate, a.rates_effective) == (D("32.00"), D("40.00"), RAISE_DAY)
    assert a.stream_version == e.stream_version  # touched: the merge keeps the higher version
    assert [r.effective_date for r in changes.rates] == [back_dated]


def test_two_changes_on_one_day_the_later_version_is_in_force() -> None:
    s = worked_example()
    s.adjust("30.00", "39.00", "2026-03-02")
    s.adjust("30.00", "40.00", "2026-03-02")
    s.take()
    e = s.adjust("30.00", "41.00", "2026-03-09")
    assert one_impact(s.take(), e).impact.before.bill_rate == D("40.00")


# --- contract terms: MSP fee and burden -----------------------------------------------------


def test_msp_fee_of_the_contract_is_in_every_impact() -> None:
    s = Stream()
    s.sign(msp_fee_pct="2.5")
    s.start()
    s.take()
    e = s.adjust("31.00", "40.00", RAISE_DAY.isoformat())
    row = one_impact(s.take(), e)
    # Before: 37.50 − 36.00 − 37.50 × 2.5 % (0.9375) = 0.5625/h = 22.50 a week.
    assert row.impact.before.margin_per_hour == D("0.5625")
    assert row.impact.before.weekly_gross_profit == D("22.50")
    # After: 40.00 − 31.00 × 1.2 (37.20) − 40.00 × 2.5 % (1.00) = 1.80/h = 72.00 a week.
    assert row.impact.after.margin_per_hour == D("1.80")
    assert row.impact.after.weekly_gross_profit == D("72.00")
    # Delta 49.50 a week (52.00 without the fee); × 43 weeks = 2128.50.
    assert row.impact.delta.weekly_gross_profit == D("49.50")
    assert row.impact.delta.remaining_gross_profit == D("2128.50")


def test_amended_burden_and_msp_fee_change_the_figures_of_later_impacts() -> None:
    s = worked_example()
    amended = s.amend(date(2026, 2, 1), burden_pct="25")
    changes = s.take()
    assert s.model.contracts[CONTRACT_ID].burden_pct == D("25")
    assert [(t.effective_date, t.burden_pct, t.stream_version) for t in changes.terms] == [
        (date(2026, 2, 1), D("25"), amended.stream_version)
    ]
    e = s.adjust("31.00", "40.00", RAISE_DAY.isoformat())
    row = one_impact(s.take(), e)
    # Burden 25 %: before 37.50 − 30.00 × 1.25 = 0; after 40.00 − 31.00 × 1.25 = 1.25/h = 50.00
    # a week: +50.00 (it would be +52.00 at the signed burden of 20 %).
    assert row.impact.before.weekly_gross_profit == D("0.00")
    assert row.impact.after.margin_per_hour == D("1.25")
    assert row.impact.delta.weekly_gross_profit == D("50.00")

    s.amend(date(2026, 3, 1), msp_fee_pct="2.5")
    assert s.model.contracts[CONTRACT_ID].msp_fee_pct == D("2.5")
    assert s.model.contracts[CONTRACT_ID].burden_pct == D("25")  # not amended again
    e = s.adjust("31.00", "42.00", "2026-03-09")
    row = one_impact(s.take(), e)
    # Before 40.00 − 38.75 − 1.00 = 0.25/h; after 42.00 − 38.75 − 1.05 = 2.20/h: +1.95/h, +78.00
    assert row.impact.before.margin_per_hour == D("0.25")
    assert row.impact.after.margin_per_hour == D("2.20")
    assert row.impact.delta.weekly_gross_profit == D("78.00")


def test_a_back_dated_amendment_counts_from_its_own_date_beneath_a_later_dated_one() -> None:
    s = worked_example()  # signed: burden 20, no MSP fee
    s.amend(date(2026, 3, 1), burden_pct="25")  # recorded first, in force from March
    s.amend(date(2026, 2, 1), msp_fee_pct="2")  # recorded later, back-dated to February
    history = s.model.terms_history[CONTRACT_ID]
    in_january, in_february, in_march = (
        terms_in_force(history, date(2026, m, 15)) for m in (1, 2, 3)
    )
    assert in_january is not None and in_february is not None and in_march is not None
    assert (in_january.burden_pct, in_january.msp_fee_pct) == (D("20"), D("0"))
    # February: the fee, not yet March's burden.
    assert (in_february.burden_pct, in_february.msp_fee_pct) == (D("20"), D("2"))
    # March: both (the back-dated fee is still in force).
    assert (in_march.burden_pct, in_march.msp_fee_pct) == (D("25"), D("2"))
    # The stored rows are what each amendment changed, not a copy of the terms of the moment.
    rows = [(t.kind, t.effective_date, t.burden_pct, t.msp_fee_pct) for t in s.take().terms]
    assert rows == [
        ("amended", date(2026, 3, 1), D("25"), None),
        ("amended", date(2026, 2, 1), None, D("2")),
    ]


def test_amendments_of_one_day_apply_in_the_order_they_were_recorded() -> None:
    s = worked_example()
    s.amend(date(2026, 2, 1), burden_pct="25", markup_floor_pct="18")
    s.amend(date(2026, 2, 1), burden_pct="22")
    terms = terms_in_force(s.model.terms_history[CONTRACT_ID], date(2026, 2, 1))
    assert terms is not None
    assert (terms.burden_pct, terms.markup_floor_pct) == (D("22"), D("18"))


def test_an_impact_is_priced_with_the_terms_in_force_on_the_day_it_counts_from() -> None:
    s = worked_example()
    s.amend(date(2026, 4, 1), burden_pct="25")  # recorded now, in force from April
    s.take()
    e = s.adjust("31.00", "40.00", "2026-03-02")
    row = one_impact(s.take(), e)
    # March: the signed burden of 20 % still. Before 37.50 − 36.00 = 1.50/h; after
    # 40.00 − 37.20 = 2.80/h.
    assert row.burden_pct == D("20")
    assert row.impact.before.margin_per_hour == D("1.50")
    assert row.impact.after.margin_per_hour == D("2.80")


def test_an_assignments_own_burden_wins_over_the_contracts() -> None:
    s = Stream()
    s.sign()
    s.start(burden_pct="15")
    s.amend(date(2026, 2, 1), burden_pct="25")
    s.take()
    e = s.adjust("30.00", "40.00", RAISE_DAY.isoformat())
    row = one_impact(s.take(), e)
    # 37.50 − 30.00 × 1.15 = 3.00/h before; 40.00 − 34.50 = 5.50/h after.
    assert row.impact.before.margin_per_hour == D("3.00")
    assert row.impact.after.margin_per_hour == D("5.50")


# --- open items -----------------------------------------------------------------------------


def test_negotiations_open_and_close() -> None:
    s = contract_with_three_assignments()
    s.open_negotiation(assignment_id="A-1")
    s.open_negotiation(negotiation_id="N-2", assignment_id=OMIT)
    s.open_negotiation(negotiation_id="N-3", assignment_id="A-2")
    assert s.model.open_items[(CONTRACT_ID, "negotiation", "N-2")].assignment_id is None
    assert open_keys(s.model) == {
        (CONTRACT_ID, "negotiation", "N-1"),
        (CONTRACT_ID, "negotiation", "N-2"),
        (CONTRACT_ID, "negotiation", "N-3"),
    }
    s.add("MarkupProposed", negotiation_id="N-1")  # a proposal keeps it open
    assert (CONTRACT_ID, "negotiation", "N-1") in s.model.open_items
    s.add("MarkupNegotiationClosed", negotiation_id="N-1", outcome="rejected")
    s.add("MarkupAgreed", negotiation_id="N-3", effective_date="2026-03-02")
    assert open_keys(s.model) == {(CONTRACT_ID, "negotiation", "N-2")}


def test_raise_requests_open_and_close_when_decided() -> None:
    s = worked_example()
    s.request_raise()
    s.request_raise(raise_request_id="R-2")
    assert open_keys(s.model) == {
        (CONTRACT_ID, "raise_request", "R-1"),
        (CONTRACT_ID, "raise_request", "R-2"),
    }
    s.add("RaiseDeclined", raise_request_id="R-1")
    assert open_keys(s.model) == {(CONTRACT_ID, "raise_request", "R-2")}
    s.add("RaiseApproved", raise_request_id="R-2", effective_date="2026-03-02")
    assert open_keys(s.model) == set()


def test_bypass_threats_open_one_item_per_report() -> None:
    s = contract_with_three_assignments()
    on_a1 = s.add("BypassThreatReported", assignment_id="A-1", staffer_id="S-A-1")
    contract_wide = s.add("BypassThreatReported", assignment_id=OMIT, staffer_id=OMIT)
    assert s.model.open_items == {
        (CONTRACT_ID, "bypass_threat", str(on_a1.event_id)): OpenItem(
            CONTRACT_ID, "bypass_threat", str(on_a1.event_id), "A-1", on_a1.stream_version or 0
        ),
        (CONTRACT_ID, "bypass_threat", str(contract_wide.event_id)): OpenItem(
            CONTRACT_ID,
            "bypass_threat",
            str(contract_wide.event_id),
            None,
            contract_wide.stream_version or 0,
        ),
    }


def test_assignment_ended_closes_its_open_items_and_no_others() -> None:
    s = contract_with_three_assignments()
    s.open_negotiation(assignment_id="A-1")
    s.open_negotiation(negotiation_id="N-2", assignment_id=OMIT)
    s.open_negotiation(negotiation_id="N-3", assignment_id="A-2")
    s.request_raise()
    s.request_raise(raise_request_id="R-2", assignment_id="A-2")
    threat = s.add("BypassThreatReported", assignment_id="A-1", staffer_id="S-A-1")
    s.take()
    ended = s.add("AssignmentEnded", assignment_id="A-1", end_date="2026-03-13", reason="completed")
    changes = s.take()
    assert open_keys(s.model) == {
        (CONTRACT_ID, "negotiation", "N-2"),
        (CONTRACT_ID, "negotiation", "N-3"),
        (CONTRACT_ID, "raise_request", "R-2"),
    }
    assert changes.closed == {
        (CONTRACT_ID, "negotiation", "N-1"),
        (CONTRACT_ID, "raise_request", "R-1"),
        (CONTRACT_ID, "bypass_threat", str(threat.event_id)),
    }
    a = s.model.assignments[(CONTRACT_ID, "A-1")]
    assert (a.status, a.end_date, a.end_reason) == ("ended", date(2026, 3, 13), "completed")
    assert a.stream_version == ended.stream_version
    assert changes.assignments == {(CONTRACT_ID, "A-1"): a}


def test_an_item_opened_and_closed_in_one_batch_is_neither_inserted_nor_left_open() -> None:
    s = worked_example()
    s.request_raise()
    s.add("RaiseDeclined", raise_request_id="R-1")
    changes = s.take()
    assert changes.opened == {}
    assert s.model.open_items == {}
    assert changes and not Changes()


# --- contracts never signed, terminated, poison -------------------------------------------------


def test_events_of_a_contract_never_signed_are_ignored() -> None:
    model = ReadModel()
    for version, type_name in enumerate(
        ["AssignmentStarted", "RatesAdjusted", "RaiseRequested", "BypassThreatReported"], start=1
    ):
        assert model.apply(event(type_name, version, contract_id="C-NEVER")) is False
    assert snapshot(model) == snapshot(ReadModel())
    assert model.take_changes() == Changes()

    # Another contract being signed does not let them in either.
    s = Stream(model)
    s.sign()
    assert model.apply(event("AssignmentStarted", 2, contract_id="C-NEVER")) is False
    assert set(model.contracts) == {CONTRACT_ID}
    assert not any(cid == "C-NEVER" for cid, _ in model.assignments)


def test_termination_is_recorded_on_the_contract() -> None:
    s = worked_example()
    e = s.add("ContractTerminated", effective_date="2026-06-30")
    c = s.model.contracts[CONTRACT_ID]
    assert (c.status, c.terminated_on, c.stream_version) == (
        "terminated",
        date(2026, 6, 30),
        e.stream_version,
    )
    # Relationship events still move the stream on.
    e = s.add("ClientContactLogged")
    assert s.model.contracts[CONTRACT_ID].stream_version == e.stream_version


def test_an_event_that_cannot_be_applied_leaves_the_model_as_it_was() -> None:
    """The projector dead-letters an event whose apply raises and goes on: nothing of it may
    remain in the rows or in the batch's changes."""
    s = worked_example()
    before = snapshot(s.model)
    poison = event("RaiseRequested", 3, assignment_id="A-UNKNOWN", raise_request_id="R-9")
    with pytest.raises(KeyError):
        s.model.apply(poison)
    assert snapshot(s.model) == before
    assert s.model.take_changes() == Changes()


def test_a_contracts_events_never_touch_another_contracts_rows() -> None:
    model = ReadModel()
    one, two = Stream(model, "C-1"), Stream(model, "C-2")
    for s in (one, two):
        s.sign()
        s.start("A-1")
        s.open_negotiation(assignment_id=OMIT)
        s.request_raise()
    model.take_changes()
    e = one.add("MarkupAgreed", negotiation_id="N-1", markup_pct="20", effective_date="2026-03-02")
    one.add("AssignmentEnded", assignment_id="A-1", end_date="2026-03-13")
    changes = model.take_changes()
    assert set(impacts_of(changes, e)) == {"A-1"}
    assert {i.contract_id for i in changes.impacts} == {"C-1"}
    assert model.assignments[("C-1", "A-1")].bill_rate == D("36.00")
    assert model.assignments[("C-2", "A-1")].bill_rate == D("37.50")
    assert model.assignments[("C-2", "A-1")].status == "active"
    assert open_keys(model) == {("C-2", "negotiation", "N-1"), ("C-2", "raise_request", "R-1")}


def test_one_event_id_on_two_contracts_makes_two_impact_rows() -> None:
    """The writer remembers event ids per contract, so two contracts may each accept an event
    with the same id: the rows are told apart by their contract."""
    model = ReadModel()
    one, two = Stream(model, "C-1"), Stream(model, "C-2")
    same = str(uuid.uuid4())
    for s in (one, two):
        s.sign()
        s.start("A-1")
        s.add("RatesAdjusted", event_id=same, effective_date="2026-03-02")
    impacts = model.take_changes().impacts
    assert [(i.contract_id, i.event_id, i.assignment_id) for i in impacts] == [
        ("C-1", same, "A-1"),
        ("C-2", same, "A-1"),
    ]


def loaded(model: ReadModel) -> ReadModel:
    """A read model as store.load builds it from the tables: a fresh one, its maps filled."""
    fresh = ReadModel()
    state = snapshot(model)
    fresh.contracts.update(state["contracts"])
    fresh.assignments.update(state["assignments"])
    fresh.rate_history.update(state["rate_history"])
    fresh.terms_history.update(state["terms_history"])
    fresh.open_items.update(state["open_items"])
    return fresh


def test_a_model_loaded_from_its_rows_goes_on_as_the_original() -> None:
    s = contract_with_three_assignments()
    s.open_negotiation(assignment_id=OMIT)
    s.request_raise(assignment_id="A-2")
    s.add("BypassThreatReported", assignment_id="A-2", staffer_id="S-A-2")
    s.take()
    original, reloaded = s.model, loaded(s.model)
    rest = [
        event("MarkupProposed", s.version + 1, negotiation_id="N-1"),
        event("AssignmentStarted", s.version + 2, assignment_id="A-4", staffer_id="S-A-4"),
        event("AssignmentEnded", s.version + 3, assignment_id="A-2"),
        event("MarkupAgreed", s.version + 4, negotiation_id="N-1", effective_date="2026-03-02"),
    ]
    for model in (original, reloaded):
        for e in rest:
            assert model.apply(e) is True
    assert snapshot(reloaded) == snapshot(original)
    assert reloaded.take_changes() == original.take_changes()
    # A-1 and A-4 were repriced (A-2 and A-3 had ended); A-2's items are closed.
    assert {k[1] for k, a in original.assignments.items() if a.stream_version == s.version + 4} == {
        "A-1",
        "A-4",
    }
    assert open_keys(original) == set()


def test_maps_replaced_on_a_live_model_are_read_afresh() -> None:
    s = contract_with_three_assignments()
    s.request_raise()
    s.open_negotiation(assignment_id=OMIT)
    s.add("MarkupProposed", negotiation_id="N-1")  # the per-contract keys are now known
    s.model.open_items = {
        (CONTRACT_ID, "raise_request", "R-2"): OpenItem(
            CONTRACT_ID, "raise_request", "R-2", "A-2", 9
        ),
        (CONTRACT_ID, "negotiation", "N-1"): s.model.open_items[
            (CONTRACT_ID, "negotiation", "N-1")
        ],
    }
    s.model.assignments = {
        k: a for k, a in s.model.assignments.items() if k != (CONTRACT_ID, "A-2")
    } | {(CONTRACT_ID, "A-9"): copy.deepcopy(s.model.assignments[(CONTRACT_ID, "A-2")])}
    s.model.assignments[(CONTRACT_ID, "A-9")].assignment_id = "A-9"
    s.model.rate_history[(CONTRACT_ID, "A-9")] = s.model.rate_history[(CONTRACT_ID, "A-2")]
    s.take()
    e = s.add("MarkupProposed", negotiation_id="N-1")
    assert set(impacts_of(s.take(), e)) == {"A-1", "A-9"}
    s.add("AssignmentEnded", assignment_id="A-1")
    assert (CONTRACT_ID, "raise_request", "R-2") in s.model.open_items
    s.model.open_items = {}
    s.add("AssignmentEnded", assignment_id="A-9")
    assert s.model.open_items == {}


# --- redelivery -----------------------------------------------------------------------------


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


def test_redelivering_each_event_returns_false_and_changes_nothing() -> None:
    original = rich_history()
    model = ReadModel()
    for e in original.log:
        assert model.apply(e) is True
        state, changes = snapshot(model), copy.deepcopy(model.changes)
        assert model.apply(e) is False
        assert snapshot(model) == state
        assert model.changes == changes
    model.take_changes()
    for e in original.log:  # the whole history again
        assert model.apply(e) is False
    assert model.take_changes() == Changes()
    assert snapshot(model) == snapshot(original.model)


def test_an_older_event_delivered_late_is_ignored() -> None:
    s = rich_history()
    before = snapshot(s.model)
    s.take()
    for e in reversed(s.log):
        assert s.model.apply(e) is False
    assert snapshot(s.model) == before
    assert s.take() == Changes()


# --- random valid histories -----------------------------------------------------------------

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


def replay(log: list[Event]) -> tuple[ReadModel, Changes]:
    model = ReadModel()
    for e in log:
        model.apply(e)
    return model, model.take_changes()


@dataclass
class Tables:
    """The PostgreSQL tables as services/projector/store.py writes them, batch by batch."""

    contracts: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    assignments: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    terms: dict[tuple[str, int], tuple[Any, ...]] = field(default_factory=dict)
    rates: dict[tuple[str, str, int], RateRow] = field(default_factory=dict)
    impacts: dict[tuple[str, str], ImpactRow] = field(default_factory=dict)
    open_items: dict[tuple[str, str, str], OpenItem] = field(default_factory=dict)

    def write(self, changes: Changes) -> None:
        for row in changes.contracts.values():
            old = self.contracts.get(row.contract_id)
            if old is None or row.stream_version > old[1]:
                self.contracts[row.contract_id] = dataclasses.astuple(row)
        for key, a in changes.assignments.items():
            old_a = self.assignments.get(key)
            if old_a is None or a.stream_version > old_a[2]:
                self.assignments[key] = dataclasses.astuple(a)
        # COPY into a table with a primary key: a second row with the same key fails the batch.
        for t in changes.terms:
            assert (t.contract_id, t.stream_version) not in self.terms
            self.terms[(t.contract_id, t.stream_version)] = dataclasses.astuple(t)
        for r in changes.rates:
            key3 = (r.contract_id, r.assignment_id, r.stream_version)
            assert key3 not in self.rates
            self.rates[key3] = copy.deepcopy(r)
        for i in changes.impacts:
            assert (i.event_id, i.assignment_id) not in self.impacts
            self.impacts[(i.event_id, i.assignment_id)] = i
        for closed in changes.closed:
            self.open_items.pop(closed, None)
        for opened, item in changes.opened.items():
            self.open_items.setdefault(opened, copy.deepcopy(item))

    def load(self) -> ReadModel:
        """A read model as store.load builds it from the tables."""
        model = ReadModel()
        for values in self.contracts.values():
            row = ContractRow(*values)
            model.contracts[row.contract_id] = row
        for values in self.assignments.values():
            arow = AssignmentRow(*values)
            model.assignments[(arow.contract_id, arow.assignment_id)] = arow
        for rate in sorted(self.rates.values(), key=lambda r: (r.effective_date, r.stream_version)):
            model.rate_history.setdefault((rate.contract_id, rate.assignment_id), []).append(
                copy.deepcopy(rate)
            )
        for key in sorted(self.terms):
            terms = TermsRow(*self.terms[key])
            model.terms_history.setdefault(terms.contract_id, []).append(terms)
        model.open_items = copy.deepcopy(self.open_items)
        return model


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(contracts=2))
def test_redelivered_histories_give_the_same_rows(log: list[Event]) -> None:
    once, once_changes = replay(log)

    each_twice, each_twice_changes = replay([e for e in log for _ in (1, 2)])
    assert snapshot(each_twice) == snapshot(once)
    assert each_twice_changes == once_changes

    replayed = ReadModel()
    for e in log:
        assert replayed.apply(e) is True
    first_changes = replayed.take_changes()
    assert not any(replayed.apply(e) for e in log)
    assert replayed.take_changes() == Changes()
    assert snapshot(replayed) == snapshot(once)
    assert first_changes == once_changes


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(contracts=2), st.data())
def test_batches_written_and_reloaded_give_the_same_rows(
    log: list[Event], data: st.DataObject
) -> None:
    """The projector writes each batch's changes, may crash and reload the tables, and may be
    sent a batch again: the tables always end as a single in-memory replay holds them."""
    once, once_changes = replay(log)

    tables = Tables()
    model = ReadModel()
    i = 0
    while i < len(log):
        size = data.draw(st.integers(1, 6), label="batch size")
        batch = log[i : i + size]
        for e in batch:
            model.apply(e)
        tables.write(model.take_changes())
        if data.draw(st.booleans(), label="crash and reload"):
            model = tables.load()
            if data.draw(st.booleans(), label="redeliver the batch"):
                for e in batch:
                    assert model.apply(e) is False
                tables.write(model.take_changes())
        i += size

    assert snapshot(tables.load()) == snapshot(once)
    assert tables.impacts == {(r.event_id, r.assignment_id): r for r in once_changes.impacts}
    assert len(tables.impacts) == len(once_changes.impacts)
    assert list(tables.rates.values()) == once_changes.rates
    assert list(tables.terms.values()) == [dataclasses.astuple(t) for t in once_changes.terms]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(contracts=2))
def test_invariants_of_any_valid_history(log: list[Event]) -> None:
    model, changes = replay(log)
    writer = fold(log)
    for (cid, aid), a in model.assignments.items():
        history = model.rate_history[(cid, aid)]
        assert history == sorted(history, key=lambda r: (r.effective_date, r.stream_version))
        latest = history[-1]
        assert (a.pay_rate, a.bill_rate, a.rates_effective) == (
            latest.pay_rate,
            latest.bill_rate,
            latest.effective_date,
        )
        assert a.status == writer[cid].assignments[aid]
    for (cid, kind, item_id), item in model.open_items.items():
        if kind == "raise_request":
            assert writer[cid].raise_requests[item_id].status == "open"
        if kind == "negotiation":
            assert writer[cid].negotiations[item_id].status == "open"
        if kind != "bypass_threat" and item.assignment_id is not None:
            assert model.assignments[(cid, item.assignment_id)].status == "active"
    # A negotiation opened on one assignment never reaches another.
    scope = {
        (e.contract_id, e.negotiation_id): e.assignment_id
        for e in log
        if isinstance(e, MarkupNegotiationOpened)
    }
    negotiation_of = {
        str(e.event_id): (e.contract_id, e.negotiation_id)
        for e in log
        if isinstance(e, MarkupProposed | MarkupAgreed)
    }
    by_id = {str(e.event_id): e for e in log}
    for impact in changes.impacts:
        e = by_id[impact.event_id]
        if impact.event_id in negotiation_of:
            assert scope[negotiation_of[impact.event_id]] in (None, impact.assignment_id)
        a = model.assignments[(impact.contract_id, impact.assignment_id)]
        d, b, af = impact.impact.delta, impact.impact.before, impact.impact.after
        # Before: the rates in force on the day counted from, as the history stood then.
        earlier = [
            r
            for r in model.rate_history[(impact.contract_id, impact.assignment_id)]
            if r.stream_version < impact.stream_version
        ]
        in_force = [r for r in earlier if r.effective_date <= impact.counted_from] or earlier[:1]
        assert (b.pay_rate, b.bill_rate) == (in_force[-1].pay_rate, in_force[-1].bill_rate)
        # After: what the event sets or proposes.
        if isinstance(e, RatesAdjusted):
            expected = (e.pay_rate, e.bill_rate, e.effective_date, "applied")
        elif isinstance(e, RaiseApproved):
            expected = (e.new_pay_rate, e.new_bill_rate, e.effective_date, "applied")
        elif isinstance(e, MarkupAgreed):
            bill = bill_rate_for_markup(b.pay_rate, e.markup_pct)
            expected = (b.pay_rate, bill, e.effective_date, "applied")
        elif isinstance(e, MarkupProposed):
            bill = bill_rate_for_markup(b.pay_rate, e.markup_pct)
            expected = (b.pay_rate, bill, e.occurred_at.date(), "proposed")
        else:
            assert isinstance(e, RaiseRequested)
            bill = e.client_max_bill_rate or bill_rate_for_markup(
                e.requested_pay_rate, b.markup_pct
            )
            expected = (e.requested_pay_rate, bill, e.occurred_at.date(), "proposed")
        assert (af.pay_rate, af.bill_rate, impact.counted_from, impact.basis) == expected
        # after − before, figure by figure
        assert d.weekly_gross_profit == af.weekly_gross_profit - b.weekly_gross_profit
        assert af.weekly_gross_profit == af.margin_per_hour * a.hours_per_week


# --- a bounded cache: contracts evicted and installed back from their rows ---------------------


def stored(model: ReadModel, contract_id: str) -> StoredContract:
    """The contract's rows as the store reads them back (store.contract_states)."""
    state = snapshot(model)
    return StoredContract(
        contract=state["contracts"][contract_id],
        assignments=[a for k, a in state["assignments"].items() if k[0] == contract_id],
        rates=[r for k, rs in state["rate_history"].items() if k[0] == contract_id for r in rs],
        terms=state["terms_history"].get(contract_id, []),
        open_items=[i for k, i in state["open_items"].items() if k[0] == contract_id],
    )


def test_a_contract_evicted_and_installed_back_goes_on_as_if_always_held() -> None:
    log = rich_history().log
    other = rich_history_of("C-OTHER")
    always, cached = ReadModel(), ReadModel()
    for e in other:
        always.apply(e)
        cached.apply(e)
    for e in log:
        assert always.apply(e) is True
        if e.contract_id in cached.contracts:
            rows = stored(cached, e.contract_id)
            cached.evict(e.contract_id)
            assert e.contract_id not in {k[0] for k in snapshot(cached)["assignments"]}
            cached.install(rows)
        assert cached.apply(e) is True
        assert cached.take_changes() == always.take_changes()
    assert snapshot(cached) == snapshot(always)

    cached.evict(CONTRACT_ID)
    left = snapshot(cached)
    assert all(k == "C-OTHER" or k[0] == "C-OTHER" for rows in left.values() for k in rows)
    assert left["contracts"] and left["assignments"] and left["open_items"]
    # Held no longer, its next event is not applied: the projector installs it first.
    assert cached.apply(event("ClientComplaintLogged", len(log) + 1)) is False
    with pytest.raises(ValueError, match="held already"):
        cached.install(stored(always, "C-OTHER"))


def rich_history_of(contract_id: str) -> list[Event]:
    return [e.model_copy(update={"contract_id": contract_id}) for e in rich_history().log]


def test_a_hand_over_moves_the_contract_to_its_new_account_manager_and_changes_no_figure() -> None:
    s = worked_example()
    before = snapshot(s.model)
    s.add("AccountManagerChanged", account_manager_id="am.okafor", effective_date="2026-03-02")
    changes = s.take()
    row = s.model.contracts[CONTRACT_ID]
    assert row.account_manager_id == "am.okafor"
    assert changes.contracts == {CONTRACT_ID: row}  # the contract row is written, nothing else
    assert not (changes.assignments or changes.terms or changes.rates or changes.impacts)
    after = snapshot(s.model)
    was = before["contracts"][CONTRACT_ID]
    assert after["contracts"][CONTRACT_ID] == dataclasses.replace(
        was, account_manager_id="am.okafor", stream_version=was.stream_version + 1
    )
    assert {k: v for k, v in after.items() if k != "contracts"} == {
        k: v for k, v in before.items() if k != "contracts"
    }
