# Long: a section per risk rule (a firing history, a near miss) over shared builders.
"""The contract-risk rules (projections.risk) against DESIGN.md "Contract-risk rules".

Each rule: a history that fires it, checked the way a person would check the alert (rule,
severity, basis, subject, exposure to the cent with the arithmetic beside it), and a near miss
that raises nothing. Then seed 003 end to end, and determinism under redelivery and replay.

Unless a test says otherwise the contract is Zones Inc's: floor 15 %, burden 20 %, no MSP fee,
conversion fee 20 % waived after 2080 h, non-solicit 6 months, 2024-01-01 to 2025-12-31; and
A-1 is Dana Reyes at P 30.00 / B 37.50, 40 h a week, 2024-01-01 to 2024-12-30 (364 days,
52 weeks): markup 25 %, burdened cost 36.00, margin 1.50/h, 60.00 a week.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from events.alerts import RULE_NAMES, Alert, alert_id, decode_alert, encode_alert
from events.catalogue import Event, EventBase
from events.serialization import parse_submission
from projections.margin import round_money
from projections.risk import (
    RULES,
    RiskState,
    evaluate,
    evaluate_timers,
    evolve,
    fold,
    record_timer_alerts,
    timer_clock,
)
from projections.risk.rules import TIMER_RULES, non_solicit_until
from simulation.examples import OMIT, example
from tests.support.alert_log import Log, at, evaluate_log
from tests.support.histories import histories

D = Decimal
CONTRACT = "C-1001"
MIDYEAR = "2024-06-03"  # day 154 of A-1: 22 weeks in, 210 days = 30 weeks remaining


def moment(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(at(day, hour))


TERMS = (
    "client_name",
    "start_date",
    "end_date",
    "markup_floor_pct",
    "burden_pct",
    "msp_fee_pct",
    "min_assignment_weeks",
    "conversion_fee_pct",
    "conversion_fee_waived_after_hours",
    "non_solicit_months",
)


def amendment(**terms: Any) -> dict[str, Any]:
    """ContractAmended fields amending `terms` only."""
    return {**dict.fromkeys(TERMS, OMIT), **terms}


def zones(**terms: Any) -> Log:
    return Log().sign(**terms).start()


def one(alerts: list[Alert], rule: str) -> Alert:
    found = [a for a in alerts if a.rule == rule]
    assert len(found) == 1, [(a.rule, a.message) for a in alerts]
    return found[0]


def rules(alerts: Iterable[Alert]) -> list[str]:
    return sorted(a.rule for a in alerts)


def cents(x: Decimal | None) -> Decimal:
    assert x is not None
    return round_money(x)


def check(
    a: Alert,
    rule: str,
    severity: str,
    basis: str,
    exposure: str | None,
    *,
    assignment_id: str | None = "A-1",
    trigger: Iterable[EventBase] = (),
) -> None:
    """The alert as a person checks it: its rule, severity, basis and exposure (as DESIGN's
    table gives them), its subject, the events that triggered it, and a sentence to act on."""
    assert a.rule == rule
    assert a.severity == severity
    assert a.basis == basis
    assert a.contract_id == CONTRACT
    assert a.client_name == "Zones Inc"
    assert a.assignment_id == assignment_id
    assert a.status == "open"
    if exposure is None:
        assert a.exposure is None
    else:
        assert cents(a.exposure) == D(exposure)
    trig = list(trigger)
    if trig:
        assert a.event_ids == tuple(e.event_id for e in trig)
        assert a.alert_id == alert_id(rule, CONTRACT, assignment_id, a.event_ids)
    # One sentence a person can act on, money in cents.
    assert "\n" not in a.message
    assert a.message.endswith(".")
    assert a.message.count("; ") >= 1
    assert "Zones Inc" in a.message


def expect(
    alerts: list[Alert], rule: str, severity: str, basis: str, exposure: str | None, **more: Any
) -> Alert:
    """The one alert of `rule` among `alerts`, checked (`check`); `more`: assignment_id,
    trigger."""
    a = one(alerts, rule)
    check(a, rule, severity, basis, exposure, **more)
    return a


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------


def test_every_rule_of_design_is_registered_once() -> None:
    assert sorted([*RULES, *TIMER_RULES]) == sorted(RULE_NAMES)


def test_a_quiet_history_raises_nothing() -> None:
    log = zones()
    assert log.fire("ClientContactLogged", "2024-01-15", direction="outbound", responded=True) == []
    assert log.fire("RatesAdjusted", MIDYEAR, pay_rate="31.00", bill_rate="38.75") == []
    assert evaluate_log(log.events) == []


# ---------------------------------------------------------------------------------------------
# LOSS_POSITION
# ---------------------------------------------------------------------------------------------


def test_loss_position_on_a_raise_request_designs_worked_example() -> None:
    log = zones()
    alerts = log.ask_raise(MIDYEAR, "32.00", "37.50", requested_by="client")
    assert rules(alerts) == ["LOSS_POSITION", "RAISE_ABSORBED"]
    # P 32, B 37.50: burdened 38.40, margin -0.90/h, -36.00 a week, 30 weeks left:
    # exposure -(-36.00 × 30) = 1,080.00
    loss = expect(alerts, "LOSS_POSITION", "high", "proposed", "1080.00", trigger=log.events[-1:])
    assert loss.staffer_id == "S-42"
    assert loss.message == (
        "Zones Inc wants Dana Reyes (A-1) raised to 32.00 within a bill rate of 37.50: margin "
        "would fall to -0.90/h, a loss of 1,080.00 over the remaining 30 weeks; decline or "
        "renegotiate the bill rate."
    )
    assert loss.raised_at == moment(MIDYEAR)
    assert loss.stream_version == 3


def test_loss_position_applied_is_critical() -> None:
    log = zones()
    alerts = log.fire(
        "RatesAdjusted", "2024-06-10", pay_rate="32.00", bill_rate="37.50", effective_date=MIDYEAR
    )
    # Counted from the effective date, not from the day it was recorded: 30 weeks.
    # -(37.50 - 38.40) × 40 × 30 = 1,080.00
    expect(alerts, "LOSS_POSITION", "critical", "applied", "1080.00", trigger=log.events[-1:])


def test_loss_position_on_a_proposed_markup() -> None:
    log = zones()
    log.add("MarkupNegotiationOpened", "2024-05-20", assignment_id=OMIT)
    alerts = log.fire("MarkupProposed", MIDYEAR, markup_pct="10", proposed_by="client")
    # 10 % on P 30: B 33.00, margin 33.00 - 36.00 = -3.00/h, -120.00 a week × 30 = 3,600.00
    expect(alerts, "LOSS_POSITION", "high", "proposed", "3600.00")


def test_loss_position_on_an_agreed_markup() -> None:
    log = zones()
    log.add("MarkupNegotiationOpened", "2024-05-20")
    alerts = log.fire("MarkupAgreed", "2024-05-27", markup_pct="18", effective_date=MIDYEAR)
    # 18 % on P 30: B 35.40, margin -0.60/h, -24.00 a week × 30 weeks = 720.00
    expect(alerts, "LOSS_POSITION", "critical", "applied", "720.00")


def test_loss_position_on_a_loss_making_start() -> None:
    log = Log().sign()
    before = log.state
    started = log.add(
        "AssignmentStarted",
        "2024-01-01",
        pay_rate="30.00",
        bill_rate="35.00",
        start_date="2024-01-01",
        expected_end_date="2024-12-30",
        burden_pct=OMIT,
    )
    alerts = evaluate(before, started, started.occurred_at)
    # B 35.00 < burdened cost 36.00: -1.00/h, -40.00 a week × 52 weeks = 2,080.00
    expect(alerts, "LOSS_POSITION", "critical", "applied", "2080.00")


def test_loss_position_when_an_amendment_raises_the_burden() -> None:
    log = zones()
    alerts = log.fire(
        "ContractAmended", "2024-05-27", effective_date=MIDYEAR, **amendment(burden_pct="30")
    )
    # burdened cost 30 × 1.30 = 39.00 > 37.50: -1.50/h, -60.00 a week × 30 = 1,800.00
    expect(alerts, "LOSS_POSITION", "critical", "applied", "1800.00")


def test_near_miss_a_margin_of_exactly_zero_is_no_loss() -> None:
    log = zones()
    log.add("MarkupNegotiationOpened", "2024-05-20")
    # 20 % is the break-even markup at burden 20: B 36.00 = burdened cost, margin 0.00.
    assert log.fire("MarkupAgreed", MIDYEAR, markup_pct="20", effective_date=MIDYEAR) == []


def test_near_miss_a_raise_asked_without_a_budget_passes_at_todays_markup() -> None:
    log = zones()
    alerts = log.ask_raise(MIDYEAR, "32.00", OMIT, requested_by="staffer")
    # As asked: 32.00 at 25 % → B 40.00, margin 40.00 - 38.40 = +1.60/h: no loss, nothing funded.
    assert alerts == []


# ---------------------------------------------------------------------------------------------
# BELOW_FLOOR
# ---------------------------------------------------------------------------------------------


def floor_contract() -> Log:
    # burden 10: P 30 costs 33.00, so a cut below the floor is not also a loss.
    return zones(burden_pct="10")


def test_below_floor_on_an_agreed_markup() -> None:
    log = floor_contract()
    log.add("MarkupNegotiationOpened", "2024-05-20")
    alerts = log.fire("MarkupAgreed", "2024-05-27", markup_pct="12", effective_date=MIDYEAR)
    assert rules(alerts) == ["BELOW_FLOOR"]
    # 12 % → B 33.60; floor 15 % → 34.50; (34.50 - 33.60) × 40 × 30 weeks = 1,080.00
    check(alerts[0], "BELOW_FLOOR", "high", "applied", "1080.00", trigger=log.events[-1:])
    assert "15.00%" in alerts[0].message
    assert "12.00%" in alerts[0].message


def test_below_floor_on_a_proposal_for_every_active_assignment() -> None:
    log = floor_contract().start("A-2", pay_rate="20.00", bill_rate="25.00", hours_per_week="20")
    log.add("MarkupNegotiationOpened", "2024-05-20", assignment_id=OMIT)
    alerts = log.fire("MarkupProposed", MIDYEAR, markup_pct="14.5", proposed_by="client")
    assert rules(alerts) == ["BELOW_FLOOR", "BELOW_FLOOR"]
    by_assignment = {a.assignment_id: a for a in alerts}
    # 14.5 % → B 34.35; floor bill 34.50; 0.15 × 40 h × 30 weeks = 180.00
    check(by_assignment["A-1"], "BELOW_FLOOR", "high", "proposed", "180.00")
    # 14.5 % on 20.00 → B 22.90; floor bill 23.00; 0.10 × 20 h × 30 weeks = 60.00
    check(by_assignment["A-2"], "BELOW_FLOOR", "high", "proposed", "60.00", assignment_id="A-2")
    assert by_assignment["A-1"].alert_id != by_assignment["A-2"].alert_id


def test_near_miss_a_markup_exactly_at_the_floor_is_not_below_it() -> None:
    log = floor_contract()
    log.add("MarkupNegotiationOpened", "2024-05-20")
    assert log.fire("MarkupProposed", MIDYEAR, markup_pct="15", proposed_by="client") == []
    assert log.fire("MarkupAgreed", MIDYEAR, markup_pct="15.00", effective_date=MIDYEAR) == []


def test_near_miss_a_negotiation_on_an_ended_assignment_covers_nothing() -> None:
    log = floor_contract()
    log.add("MarkupNegotiationOpened", "2024-05-20")
    log.add("AssignmentEnded", "2024-05-24", end_date="2024-05-24", reason="completed")
    assert log.fire("MarkupProposed", MIDYEAR, markup_pct="5", proposed_by="client") == []


@pytest.mark.parametrize(
    ("requested_by", "opening"),
    [
        ("client", "Zones Inc wants Dana Reyes (A-1) raised to 34.00"),
        ("staffer", "Dana Reyes (A-1) at Zones Inc wants a raise to 34.00"),
        ("agency", "A raise for Dana Reyes (A-1) at Zones Inc to 34.00"),
    ],
)
def test_below_floor_on_a_raise_request_judges_the_markup_the_budget_implies(
    requested_by: str, opening: str
) -> None:
    log = floor_contract()
    alerts = log.ask_raise(MIDYEAR, "34.00", "37.50", requested_by=requested_by)
    # 34.00 within 37.50: markup (37.50 / 34 − 1) × 100 = 10.29 %, below the 15 % floor.
    # (34.00 × 1.15 − 37.50) = 1.60/h × 40 h × 30 weeks = 1,920.00. Burden 10: 37.50 still
    # covers 37.40, so no loss; the agency funds the raise: RAISE_ABSORBED too.
    assert rules(alerts) == ["BELOW_FLOOR", "RAISE_ABSORBED"]
    floor = expect(alerts, "BELOW_FLOOR", "high", "proposed", "1920.00", trigger=log.events[-1:])
    assert floor.message == (
        f"{opening} within a bill rate of 37.50, a 10.29% markup, below the contract floor of "
        "15.00%: billing 37.50 instead of at least 39.10 an hour forgoes 1,920.00 over the "
        "remaining 30 weeks; hold to the floor."
    )


def test_below_floor_on_a_raise_request_with_a_budget_above_todays_bill_rate() -> None:
    # DESIGN's row: any raise request with a budget proposes the markup it implies. 33.00
    # within 37.80 is 14.55 %: (33.00 × 1.15 − 37.80) = 0.15/h × 40 × 30 weeks = 180.00.
    # 37.80 is above today's bill rate (not RAISE_ABSORBED) and covers 36.30 (no loss).
    log = floor_contract()
    alerts = log.ask_raise(MIDYEAR, "33.00", "37.80")
    assert rules(alerts) == ["BELOW_FLOOR"]
    check(alerts[0], "BELOW_FLOOR", "high", "proposed", "180.00")


def test_near_miss_a_raise_request_whose_budget_keeps_the_floor() -> None:
    log = floor_contract()
    # 32.00 × 1.15 = 36.80: a budget of 36.80 implies exactly the floor, not below it (the
    # agency still funds part of the raise out of today's 25 % markup).
    alerts = log.ask_raise(MIDYEAR, "32.00", "36.80")
    assert rules(alerts) == ["RAISE_ABSORBED"]
    # Without a budget the raise is passed on at today's markup: nothing below the floor.
    alerts = log.ask_raise(MIDYEAR, "32.00", OMIT, raise_request_id="R-2")
    assert alerts == []


# ---------------------------------------------------------------------------------------------
# RAISE_ABSORBED
# ---------------------------------------------------------------------------------------------


def test_raise_absorbed_on_a_request_the_client_will_not_fund() -> None:
    log = floor_contract()
    alerts = log.ask_raise(MIDYEAR, "32.00", "37.50")
    assert rules(alerts) == ["RAISE_ABSORBED"]  # burden 10: 37.50 still covers 35.20
    # Δpay 2.00 × 1.25 = 2.50 to pass it on; Δbill 0; 2.50 × 40 × 30 weeks = 3,000.00
    check(alerts[0], "RAISE_ABSORBED", "high", "proposed", "3000.00", trigger=log.events[-1:])
    assert "40.00" in alerts[0].message  # the bill rate that would pass the raise on


def test_raise_absorbed_on_an_approved_raise_passed_on_in_part() -> None:
    log = floor_contract()
    log.add("RaiseRequested", "2024-05-20", requested_pay_rate="33.00", client_max_bill_rate=OMIT)
    alerts = log.fire(
        "RaiseApproved",
        "2024-05-27",
        new_pay_rate="33.00",
        new_bill_rate="39.00",
        effective_date=MIDYEAR,
    )
    assert rules(alerts) == ["RAISE_ABSORBED"]
    # Δpay 3.00 × 1.25 = 3.75; Δbill 1.50; (3.75 - 1.50) × 40 × 30 weeks = 2,700.00
    check(alerts[0], "RAISE_ABSORBED", "high", "applied", "2700.00", trigger=log.events[-1:])


def test_raise_absorbed_on_rates_adjusted() -> None:
    log = floor_contract()
    alerts = log.fire(
        "RatesAdjusted", MIDYEAR, pay_rate="31.00", bill_rate="37.50", effective_date=MIDYEAR
    )
    # Δpay 1.00 × 1.25 = 1.25; Δbill 0; 1.25 × 40 × 30 weeks = 1,500.00
    expect(alerts, "RAISE_ABSORBED", "high", "applied", "1500.00")


def test_near_miss_a_raise_passed_through_at_the_same_markup() -> None:
    log = floor_contract()
    log.add("RaiseRequested", "2024-05-20", requested_pay_rate="33.00", client_max_bill_rate=OMIT)
    # 33.00 × 1.25 = 41.25: the markup stays 25 %.
    assert (
        log.fire(
            "RaiseApproved",
            MIDYEAR,
            new_pay_rate="33.00",
            new_bill_rate="41.25",
            effective_date=MIDYEAR,
        )
        == []
    )


def test_near_miss_a_pass_through_within_cent_rounding() -> None:
    log = Log().sign(burden_pct="10").start(pay_rate="31.00", bill_rate="37.00")
    # 32 × 37 / 31 = 38.1935…: billed 38.19, the same markup to the cent.
    assert (
        log.fire(
            "RatesAdjusted", MIDYEAR, pay_rate="32.00", bill_rate="38.19", effective_date=MIDYEAR
        )
        == []
    )


def test_near_miss_a_budget_above_todays_bill_rate_is_not_a_request_to_fund() -> None:
    log = floor_contract()
    alerts = log.ask_raise(MIDYEAR, "32.00", "37.51")
    assert alerts == []


# ---------------------------------------------------------------------------------------------
# BYPASS_THREAT
# ---------------------------------------------------------------------------------------------


def test_bypass_threat_without_an_assignment_concerns_every_active_one() -> None:
    log = zones().start("A-2", pay_rate="20.00", bill_rate="26.00", hours_per_week="20")
    alerts = log.fire(
        "BypassThreatReported",
        MIDYEAR,
        assignment_id=OMIT,
        staffer_id=OMIT,
        kind="payrolling_through_other_agency",
    )
    # 60.00 a week × 30 = 1,800.00; fee 20 % × 30 × 40 × 52 = 12,480.00 (880 h < 2080)
    # margin 26 - 24 = 2.00/h × 20 h = 40.00 a week × 30 = 1,200.00;
    #      fee 20 % × 20 × 20 × 52 = 4,160.00 (440 h < 2080)
    # 1,800 + 12,480 + 1,200 + 4,160 = 19,640.00
    a = expect(
        alerts,
        "BYPASS_THREAT",
        "critical",
        "applied",
        "19640.00",
        assignment_id=None,
        trigger=log.events[-1:],
    )
    assert a.staffer_id is None
    assert "another agency" in a.message


def test_bypass_threat_about_a_staffer() -> None:
    log = zones(conversion_fee_waived_after_hours="800")
    alerts = log.fire(
        "BypassThreatReported",
        MIDYEAR,
        assignment_id=OMIT,
        staffer_id="S-42",
        kind="direct_hire_attempt",
    )
    # 880 h worked ≥ 800: the fee is waived; 60.00 a week × 30 = 1,800.00
    a = expect(alerts, "BYPASS_THREAT", "critical", "applied", "1800.00")
    assert a.staffer_id == "S-42"


def test_bypass_when_the_client_hires_the_staffer_inside_the_non_solicit_window() -> None:
    log = zones()
    alerts = log.fire(
        "AssignmentEnded", MIDYEAR, end_date=MIDYEAR, reason="converted_to_client_hire"
    )
    # remaining 60.00 × 30 = 1,800.00 + fee 12,480.00 = 14,280.00
    expect(alerts, "BYPASS_THREAT", "critical", "applied", "14280.00", trigger=log.events[-1:])


def test_bypass_threat_about_an_ended_assignment_puts_the_conversion_fee_at_stake() -> None:
    log = zones()
    log.add("AssignmentEnded", "2024-03-25", end_date="2024-03-25", reason="completed")
    alerts = log.fire("BypassThreatReported", MIDYEAR, kind="direct_hire_attempt")
    # Ended: no gross profit remains. Worked 84 days = 12 weeks × 40 = 480 h < 2080:
    # fee 20 % × 30.00 × 40 × 52 = 12,480.00
    expect(alerts, "BYPASS_THREAT", "critical", "applied", "12480.00")


def test_non_solicit_window_runs_months_after_the_contract_ends() -> None:
    log = zones(end_date="2024-06-30", non_solicit_months=3)
    assert non_solicit_until(log.state) == date(2024, 9, 30)
    log.add("ContractTerminated", "2024-05-15", effective_date="2024-05-31")
    assert non_solicit_until(log.state) == date(2024, 8, 31)


def test_bypass_on_the_last_day_of_the_window() -> None:
    log = zones(end_date="2024-06-30", non_solicit_months=3)
    alerts = log.fire(
        "AssignmentEnded", "2024-09-30", end_date="2024-09-30", reason="moved_to_other_agency"
    )
    # 2024-09-30 is day 273: 91 days = 13 weeks left × 60.00 = 780.00; 1,560 h ≥ 2080? no:
    # fee 12,480.00; 13,260.00
    expect(alerts, "BYPASS_THREAT", "critical", "applied", "13260.00")


def test_near_miss_a_move_outside_the_non_solicit_window() -> None:
    log = zones(end_date="2024-06-30", non_solicit_months=3)
    alerts = log.fire(
        "AssignmentEnded", "2024-10-01", end_date="2024-10-01", reason="moved_to_other_agency"
    )
    assert alerts == []


def test_near_miss_a_staffer_leaving_is_not_a_bypass() -> None:
    log = zones(min_assignment_weeks=52)
    assert log.fire("AssignmentEnded", MIDYEAR, end_date=MIDYEAR, reason="staffer_left") == []


# ---------------------------------------------------------------------------------------------
# COMMITMENT_SHORTFALL
# ---------------------------------------------------------------------------------------------


def test_commitment_shortfall_when_the_client_ends_early() -> None:
    log = zones(min_assignment_weeks=26)
    alerts = log.fire(
        "AssignmentEnded", "2024-03-11", end_date="2024-03-11", reason="ended_early_by_client"
    )
    assert rules(alerts) == ["COMMITMENT_SHORTFALL"]
    # served 70 days = 10 weeks of 26: 16 weeks short × 60.00 = 960.00
    check(alerts[0], "COMMITMENT_SHORTFALL", "high", "applied", "960.00", trigger=log.events[-1:])
    assert "16 weeks short" in alerts[0].message


def test_near_miss_the_commitment_served_in_full() -> None:
    log = zones(min_assignment_weeks=26)
    # 2024-07-01 is day 182: 26 weeks served.
    assert (
        log.fire(
            "AssignmentEnded", "2024-07-01", end_date="2024-07-01", reason="ended_early_by_client"
        )
        == []
    )


def test_near_miss_no_commitment_no_shortfall() -> None:
    log = zones()
    assert (
        log.fire(
            "AssignmentEnded", "2024-03-11", end_date="2024-03-11", reason="ended_early_by_client"
        )
        == []
    )


# ---------------------------------------------------------------------------------------------
# MARGIN_EROSION (burden 10: P 30 costs 33.00; at 25 % margin 4.50/h, 180.00 a week)
# ---------------------------------------------------------------------------------------------


def agree(log: Log, negotiation: str, day: str, markup: str) -> list[Alert]:
    log.add("MarkupNegotiationOpened", day, negotiation_id=negotiation, hour=8)
    return log.fire(
        "MarkupAgreed", day, negotiation_id=negotiation, markup_pct=markup, effective_date=day
    )


@pytest.mark.parametrize(
    ("cuts", "exposure"),
    [
        # 2 points (B 36.90: 156.00 a week, 24.00 lost), then 60 days on 1 point (B 36.60:
        # 144.00, 12.00 lost), a second cut within 90 days: (24.00 + 12.00) a week × 52
        pytest.param(
            [("2024-02-01", "23"), ("2024-04-01", "22")], "1872.00", id="second cut in 90 days"
        ),
        # 3 points (B 36.60: 36.00 a week lost), then 152 days on 2 points (B 36.00: 24.00
        # lost), 5 points within 180 days: (36.00 + 24.00) × 52
        pytest.param(
            [("2024-01-15", "22"), ("2024-06-15", "20")], "3120.00", id="5 points in 180 days"
        ),
    ],
)
def test_margin_erosion(cuts: list[tuple[str, str]], exposure: str) -> None:
    log = floor_contract()
    (first_day, first_markup), (day, markup) = cuts
    assert agree(log, "N-1", first_day, first_markup) == []
    first = log.events[-1]
    alerts = agree(log, "N-2", day, markup)
    assert rules(alerts) == ["MARGIN_EROSION"]
    check(
        alerts[0],
        "MARGIN_EROSION",
        "medium",
        "applied",
        exposure,
        assignment_id=None,
        trigger=[first, log.events[-1]],
    )


def test_near_miss_a_second_cut_91_days_later_and_under_5_points() -> None:
    log = floor_contract()
    assert agree(log, "N-1", "2024-02-01", "23") == []
    assert agree(log, "N-2", "2024-05-02", "22") == []  # 91 days; 2 + 1 = 3 points


def test_near_miss_a_markup_raised_is_no_cut() -> None:
    log = floor_contract()
    assert agree(log, "N-1", "2024-02-01", "23") == []
    assert agree(log, "N-2", "2024-03-01", "26") == []


def test_near_miss_one_deep_cut_alone_is_not_erosion() -> None:
    log = floor_contract()
    # 25 % → 15 %: 10 points at once. At the floor, still profitable: nothing; erosion is cut
    # after cut (a cut below the floor or into a loss is BELOW_FLOOR's or LOSS_POSITION's).
    assert agree(log, "N-1", "2024-02-01", "15") == []


# ---------------------------------------------------------------------------------------------
# RELATIONSHIP_STRAIN
# ---------------------------------------------------------------------------------------------


def test_relationship_strain_a_complaint_with_a_legal_threat_is_high() -> None:
    log = zones()
    alerts = log.fire(
        "ClientComplaintLogged", MIDYEAR, about="recruiter_conduct", legal_threat=True
    )
    # the contract's remaining gross profit: 60.00 a week × 30 weeks = 1,800.00
    expect(
        alerts,
        "RELATIONSHIP_STRAIN",
        "high",
        "applied",
        "1800.00",
        assignment_id=None,
        trigger=log.events[-1:],
    )


def test_relationship_strain_a_complaint_without_one_is_medium() -> None:
    log = zones()
    alerts = log.fire("ClientComplaintLogged", MIDYEAR, about="billing", legal_threat=False)
    expect(alerts, "RELATIONSHIP_STRAIN", "medium", "applied", "1800.00", assignment_id=None)


def call(
    log: Log, day: str, *, responded: bool = False, direction: str = "outbound"
) -> list[Alert]:
    return log.fire("ClientContactLogged", day, direction=direction, responded=responded)


def test_relationship_strain_three_unanswered_calls_within_14_days_seed_001() -> None:
    log = zones()
    assert call(log, "2024-06-03") == []
    assert call(log, "2024-06-10") == []
    alerts = call(log, "2024-06-17")  # the third, 14 days after the first
    # as of 2024-06-17 (day 168): 196 days = 28 weeks × 60.00 = 1,680.00
    expect(
        alerts,
        "RELATIONSHIP_STRAIN",
        "medium",
        "applied",
        "1680.00",
        assignment_id=None,
        trigger=log.events[-3:],
    )
    # Calling a fourth time in the same run raises no second alert.
    assert call(log, "2024-06-18") == []


def test_near_miss_two_unanswered_calls() -> None:
    log = zones()
    assert call(log, "2024-06-03") == []
    assert call(log, "2024-06-04") == []


def test_near_miss_an_answer_resets_the_run() -> None:
    log = zones()
    assert call(log, "2024-06-03") == []
    assert call(log, "2024-06-04") == []
    assert call(log, "2024-06-05", responded=True) == []
    assert call(log, "2024-06-06") == []
    assert call(log, "2024-06-07") == []
    assert rules(call(log, "2024-06-08")) == ["RELATIONSHIP_STRAIN"]  # a new run of three


def test_near_miss_an_inbound_contact_resets_the_run() -> None:
    log = zones()
    assert call(log, "2024-06-03") == []
    assert call(log, "2024-06-04") == []
    assert call(log, "2024-06-05", direction="inbound") == []
    assert call(log, "2024-06-06") == []


def test_near_miss_three_unanswered_calls_over_15_days() -> None:
    log = zones()
    assert call(log, "2024-06-03") == []
    assert call(log, "2024-06-10") == []
    assert call(log, "2024-06-18") == []


# ---------------------------------------------------------------------------------------------
# RELATIONSHIP_NEGLECT (timer)
# ---------------------------------------------------------------------------------------------


def test_relationship_neglect_after_30_days_without_contact_seed_004() -> None:
    log = zones()
    last = log.add("ClientContactLogged", "2024-05-01", direction="outbound", responded=True)
    now = moment("2024-05-31")
    alerts = evaluate_timers(log.state, now)
    assert len(alerts) == 1
    a = alerts[0]
    check(a, "RELATIONSHIP_NEGLECT", "low", "applied", None, assignment_id=None, trigger=[last])
    assert a.raised_at == now
    assert "30 days" in a.message
    # The same silence raises it once: remembered by the timer's state …
    remembered = record_timer_alerts(log.state, [a.alert_id])
    assert evaluate_timers(remembered, now + timedelta(days=5)) == []
    # … and, on a state rebuilt from the log alone, under the same id.
    assert [b.alert_id for b in evaluate_timers(log.state, now + timedelta(days=5))] == [a.alert_id]
    # A new contact starts a new silence, and forgets the old one.
    log.add("ClientContactLogged", "2024-06-02", direction="inbound", responded=True)
    after = evolve(remembered, log.events[-1])
    assert after.timer_alerts_raised == frozenset()
    assert evaluate_timers(after, moment("2024-06-30")) == []
    later = evaluate_timers(after, moment("2024-07-02"))
    assert [b.event_ids for b in later] == [(log.events[-1].event_id,)]
    assert later[0].alert_id != a.alert_id


def test_the_timer_clock_never_runs_past_the_wall_clock() -> None:
    """Issue #21: one contract's event dated weeks ahead aged every other contract at once."""
    quiet = zones()
    quiet.add("ClientContactLogged", "2026-11-20", direction="outbound", responded=True)
    typo = Log().sign()
    typo.add("ClientContactLogged", "2027-01-15", direction="outbound", responded=True)
    wall = moment("2026-12-07")

    now = timer_clock([quiet.state, typo.state], wall)

    assert now == wall
    assert evaluate_timers(quiet.state, now) == []  # 17 days of silence, not 56
    assert rules(evaluate_timers(quiet.state, typo.state.last_event_at)) == ["RELATIONSHIP_NEGLECT"]
    # Replaying an old log, event time is behind the wall clock and is what counts.
    assert timer_clock([zones().state], wall) == zones().state.last_event_at
    assert timer_clock([], wall) is None


def test_relationship_neglect_counts_from_the_signing_when_never_contacted() -> None:
    log = zones()
    alerts = evaluate_timers(log.state, moment("2024-02-01"))
    assert [a.event_ids for a in alerts] == [(log.events[0].event_id,)]


def test_near_miss_a_contract_contacted_29_days_ago() -> None:
    log = zones()
    log.add("ClientContactLogged", "2024-05-01", direction="outbound", responded=False)
    assert evaluate_timers(log.state, moment("2024-05-30")) == []


def test_near_miss_no_active_assignment_no_neglect() -> None:
    log = zones()
    log.add("AssignmentEnded", "2024-01-20", end_date="2024-01-20", reason="completed")
    assert evaluate_timers(log.state, moment("2024-06-01")) == []


# ---------------------------------------------------------------------------------------------
# Seed 003 end to end
# ---------------------------------------------------------------------------------------------


def test_seed_003_the_client_wants_the_agency_to_fund_a_raise_then_threatens_a_bypass() -> None:
    """A low markup (15 %, at the floor) granted for a long-term commitment (52 weeks); the
    client asks the agency to fund a raise to 33.00 within today's bill rate of 34.50 ("this
    would put us in a loss position"); the agency declines; the client threatens to have the
    staffer work through another agency in violation of the contract."""
    log = Log().sign(
        markup_floor_pct="15", burden_pct="12", min_assignment_weeks=52, non_solicit_months=12
    )
    # P 30, B 34.50: markup 15 %, burdened 33.60, margin 0.90/h, 36.00 a week.
    log.start(pay_rate="30.00", bill_rate="34.50")
    assert evaluate_log(log.events) == []  # at the floor, not below it; profitable

    request = log.add(
        "RaiseRequested",
        "2024-03-25",  # day 84: 280 days = 40 weeks left
        requested_pay_rate="33.00",
        client_max_bill_rate="34.50",
        requested_by="client",
    )
    declined = log.add("RaiseDeclined", "2024-03-26", reason="would put us in a loss position")
    threat = log.add(
        "BypassThreatReported",
        "2024-04-01",  # day 91: 273 days = 39 weeks left; 13 weeks × 40 = 520 h worked
        assignment_id="A-1",
        staffer_id="S-42",
        kind="threatened_move_to_other_agency",
    )
    alerts = evaluate_log(log.events)
    assert [(a.rule, a.severity, a.basis, a.event_ids) for a in alerts] == [
        ("LOSS_POSITION", "high", "proposed", (request.event_id,)),
        ("BELOW_FLOOR", "high", "proposed", (request.event_id,)),
        ("RAISE_ABSORBED", "high", "proposed", (request.event_id,)),
        ("BYPASS_THREAT", "critical", "applied", (threat.event_id,)),
    ]
    assert all(declined.event_id not in a.event_ids for a in alerts)
    loss, floor, absorbed, bypass = alerts
    # P 33, B 34.50: burdened 36.96, margin -2.46/h, -98.40 a week × 40 weeks = 3,936.00
    assert loss.exposure == D("3936")
    # "reduce our markup to accommodate": 33.00 within 34.50 is a 4.55 % markup, below the
    # 15 % floor: (33.00 × 1.15 − 34.50) = 3.45/h × 40 × 40 weeks = 5,520.00
    assert floor.exposure == D("5520")
    # passing the raise on at 15 %: 3.00 × 1.15 = 3.45/h, Δbill 0: 3.45 × 40 × 40 = 5,520.00
    assert absorbed.exposure == D("5520")
    # remaining 36.00 × 39 = 1,404.00 + conversion fee 20 % × 30 × 40 × 52 = 12,480.00
    assert bypass.exposure == D("13884")
    assert bypass.assignment_id == "A-1"
    assert bypass.staffer_id == "S-42"
    assert bypass.message == (
        "Zones Inc threatens to move Dana Reyes (A-1) to another agency in breach of the "
        "contract: 13,884.00 at stake (1,404.00 remaining gross profit plus a 12,480.00 "
        "conversion fee); call the client now and hold them to the non-solicit clause."
    )
    for a in alerts:
        assert a.contract_id == CONTRACT
        assert a.client_name == "Zones Inc"

    # If the client carries the threat out five weeks later (day 126, 18 weeks served):
    moved = log.add(
        "AssignmentEnded", "2024-05-06", end_date="2024-05-06", reason="moved_to_other_agency"
    )
    more = evaluate_log(log.events)[4:]
    assert [(a.rule, a.severity, a.event_ids) for a in more] == [
        ("BYPASS_THREAT", "critical", (moved.event_id,)),
        ("COMMITMENT_SHORTFALL", "high", (moved.event_id,)),
    ]
    # remaining 36.00 × 34 weeks = 1,224.00 + fee 12,480.00 (720 h < 2080) = 13,704.00
    assert more[0].exposure == D("13704")
    # 52 - 18 = 34 weeks short × 36.00 = 1,224.00
    assert more[1].exposure == D("1224")


# ---------------------------------------------------------------------------------------------
# Determinism: redelivery and replay
# ---------------------------------------------------------------------------------------------


def seed_like_history() -> Log:
    log = zones(min_assignment_weeks=26)
    log.add("MarkupNegotiationOpened", "2024-02-01")
    log.add("MarkupProposed", "2024-02-02", markup_pct="10", proposed_by="client")
    log.add("MarkupAgreed", "2024-02-05", markup_pct="22", effective_date="2024-02-05")
    log.add(
        "RaiseRequested", "2024-03-01", requested_pay_rate="32.00", client_max_bill_rate="36.60"
    )
    log.add(
        "RaiseApproved",
        "2024-03-08",
        new_pay_rate="32.00",
        new_bill_rate="37.00",
        effective_date="2024-03-11",
    )
    log.add("ClientComplaintLogged", "2024-03-12", legal_threat=True)
    log.add("BypassThreatReported", "2024-03-13")
    log.add("AssignmentEnded", "2024-03-18", end_date="2024-03-18", reason="moved_to_other_agency")
    return log


def test_evaluating_the_same_event_twice_gives_identical_alerts() -> None:
    log = seed_like_history()
    state = fold(log.events[:-4])
    event = log.events[-4]
    first = evaluate(state, event, datetime(2030, 1, 1, tzinfo=event.occurred_at.tzinfo))
    again = evaluate(state, event, event.occurred_at)  # `now` does not move an event's alerts
    assert first and first == again


def test_a_redelivered_event_raises_nothing_and_changes_nothing() -> None:
    log = seed_like_history()
    state = log.state
    for event in log.events:
        assert evaluate(state, event, event.occurred_at) == []
        assert evolve(state, event) is state


def test_refolding_the_whole_history_gives_the_same_alerts_and_ids() -> None:
    log = seed_like_history()
    first = evaluate_log(log.events)
    assert rules(first) == sorted(
        [
            "BELOW_FLOOR",
            "LOSS_POSITION",  # the 10 % proposal
            "LOSS_POSITION",  # the raise request …
            "RAISE_ABSORBED",
            "BELOW_FLOOR",  # (32.00 within 36.60: a 14.375 % markup)
            "LOSS_POSITION",  # … and its approval
            "RAISE_ABSORBED",
            "RELATIONSHIP_STRAIN",
            "BYPASS_THREAT",
            "BYPASS_THREAT",
            "CLIENT_HEALTH_FALLING",  # the bypass threat: 80 to 55 within 30 days
            "COMMITMENT_SHORTFALL",
        ]
    )
    assert evaluate_log(log.events) == first
    assert len({a.alert_id for a in first}) == len(first)
    assert [decode_alert(encode_alert(a)) for a in first] == first


def test_events_of_another_contract_are_refused() -> None:
    log = zones()
    other = parse_submission(example("ClientContactLogged", contract_id="C-2"))[0]
    other = other.model_copy(update={"stream_version": 9})
    with pytest.raises(ValueError, match="C-2"):
        evaluate(log.state, other, other.occurred_at)
    with pytest.raises(ValueError, match="C-2"):
        evolve(log.state, other)


def test_an_unstamped_event_is_not_from_the_log() -> None:
    event = parse_submission(example("ContractSigned"))[0]
    with pytest.raises(ValueError, match="stream_version"):
        evolve(None, event)
    contact = parse_submission(example("ClientContactLogged"))[0]
    with pytest.raises(ValueError, match="stream_version"):
        evaluate(zones().state, contact, contact.occurred_at)


def test_a_stream_starts_with_its_signing() -> None:
    contact = parse_submission(example("ClientContactLogged"))[0]
    contact = contact.model_copy(update={"stream_version": 1})
    with pytest.raises(ValueError, match="ContractSigned"):
        evolve(None, contact)
    assert evaluate(None, contact, contact.occurred_at) == []


# ---------------------------------------------------------------------------------------------
# Random histories
# ---------------------------------------------------------------------------------------------


def key(a: Alert) -> tuple[str, str, tuple[str, ...]]:
    return a.rule, a.subject, tuple(str(i) for i in a.event_ids)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=histories())
def test_random_histories_ids_are_unique_and_replay_is_identical(events: list[Event]) -> None:
    alerts = evaluate_log(events)
    ids = [a.alert_id for a in alerts]
    # One alert per (rule, subject, trigger), and its id is made from exactly those.
    assert len(set(ids)) == len(ids)
    assert len({key(a) for a in alerts}) == len(alerts)
    for a in alerts:
        assert a.alert_id == alert_id(a.rule, a.contract_id, a.assignment_id, a.event_ids)
        assert a.exposure is None or a.exposure.is_finite()
        assert a.raised_at in {e.occurred_at for e in events}
        assert "\n" not in a.message
        assert decode_alert(encode_alert(a)) == a

    # Replay: the same log folded again raises the same alerts.
    assert evaluate_log(events) == alerts

    # Redelivery: every event delivered twice raises nothing more.
    state: RiskState | None = None
    redelivered: list[Alert] = []
    for event in events:
        for _ in range(2):
            redelivered += evaluate(state, event, event.occurred_at)
            state = evolve(state, event)
    assert redelivered == alerts

    # Timers judged at any time give the same ids on the replayed state.
    assert state is not None
    now = events[-1].occurred_at + timedelta(days=45)
    replayed = fold(events)
    assert replayed == state
    assert evaluate_timers(state, now) == evaluate_timers(replayed, now)
