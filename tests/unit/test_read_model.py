"""The margin read model (projections.read_model) against DESIGN.md: what finance would check.

Events are built from `simulation.examples` and stamped with their stream version, as
the log holds them. Every expected figure is worked out by hand in a comment next to it.
"""

from __future__ import annotations

import copy
from datetime import date

import pytest

from projections.margin import round_money
from projections.read_model import OpenItem, RateRow, terms_in_force
from simulation.examples import CONTRACT_ID, OMIT
from tests.support.read_model import (
    END,
    RAISE_DAY,
    START,
    D,
    Stream,
    at,
    contract_with_three_assignments,
    impacts_of,
    one_impact,
    open_keys,
    snapshot,
    worked_example,
    writer_verdicts,
)

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
