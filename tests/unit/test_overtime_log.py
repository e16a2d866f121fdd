"""A mixed log of v1 events (written before overtime existed, upcast on read) and v2 events
(with overtime), projected by the read model and folded by the risk rules: figures by hand,
DESIGN "Overtime, hours worked and client health"."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from events.catalogue import ContractSigned, Event
from events.serialization import decode_event
from projections import margin
from projections.read_model import ReadModel, assignment_rates, terms_in_force
from projections.risk.state import fold
from simulation.examples import OMIT, example

D = Decimal
CID = "C-OT"


def _v1(raw: dict[str, Any], *drop: str) -> dict[str, Any]:
    """A raw event as the v1 code wrote it: schema_version 1, without the v2 fields."""
    return {k: v for k, v in raw.items() if k not in drop} | {"schema_version": 1}


def _signed(**fields: Any) -> dict[str, Any]:
    """The contract of every log here: from 2026-01-05, burden 20 %, no MSP fee."""
    return example(
        "ContractSigned",
        contract_id=CID,
        start_date="2026-01-05",
        end_date="2027-12-31",
        burden_pct="20",
        msp_fee_pct=OMIT,
        **fields,
    )


def _started(assignment_id: str, **fields: Any) -> dict[str, Any]:
    """DESIGN's worked example's assignment (P 30.00, B 37.50) for the year from 2026-01-05."""
    return example(
        "AssignmentStarted",
        contract_id=CID,
        assignment_id=assignment_id,
        pay_rate="30.00",
        bill_rate="37.50",
        burden_pct=OMIT,
        start_date="2026-01-05",
        expected_end_date="2026-12-28",
        **fields,
    )


def _decoded(raws: list[dict[str, Any]]) -> list[Event]:
    """The raw events read back from the log, as the projector and the risk agent read them
    (upcast), at stream versions 1, 2, ..."""
    return [
        decode_event(json.dumps(raw | {"stream_version": n})) for n, raw in enumerate(raws, start=1)
    ]


def _log() -> list[Event]:
    return _decoded(
        [
            _v1(_signed(), "ot_bill_multiplier", "dt_bill_multiplier"),
            _v1(_started("A-1"), "planned_ot_hours_per_week", "ot_exempt"),
            _started("A-2", planned_ot_hours_per_week="5"),
            {
                "event_id": "00000000-0000-4000-8000-000000000004",
                "type": "ContractAmended",
                "schema_version": 2,
                "contract_id": CID,
                "occurred_at": "2026-02-20T09:00:00+00:00",
                "effective_date": "2026-03-02",
                "ot_bill_multiplier": "1.4",
            },
            _v1(
                example(
                    "RatesAdjusted",
                    contract_id=CID,
                    assignment_id="A-1",
                    pay_rate="32.00",
                    bill_rate="40.00",
                    effective_date="2026-04-06",
                )
            ),
            example(
                "RatesAdjusted",
                contract_id=CID,
                assignment_id="A-2",
                pay_rate="30.00",
                bill_rate="37.50",
                ot_bill_rate="60.00",
                effective_date="2026-04-06",
            ),
        ]
    )


def _model(log: list[Event]) -> ReadModel:
    model = ReadModel()
    for e in log:
        assert model.apply(e)
    return model


def _figures(model: ReadModel, aid: str, as_of: date) -> margin.Figures:
    row = model.assignments[(CID, aid)]
    in_force = model.rate_history[(CID, aid)][0]
    for r in model.rate_history[(CID, aid)]:
        if r.effective_date <= as_of:
            in_force = r
    terms = terms_in_force(model.terms_history[CID], as_of)
    assert terms is not None
    rates = assignment_rates(row, in_force.pay_rate, in_force.bill_rate, terms, in_force.overtime())
    return margin.figures(rates, margin.Term(row.start_date, row.expected_end_date), as_of)


def test_the_v1_events_read_as_before_overtime() -> None:
    log = _log()
    assert [e.schema_version for e in log] == [2] * 6  # every one upcast on read
    signed = log[0]
    assert isinstance(signed, ContractSigned)
    assert (signed.ot_bill_multiplier, signed.dt_bill_multiplier) == (D("1.5"), D(2))


def test_before_the_amendment_the_default_multipliers_price_overtime() -> None:
    model = _model(_log())
    a1 = _figures(model, "A-1", date(2026, 2, 2))
    # No planned OT: the v1 week, 1.50 × 40; an OT hour would earn 56.25 − 54.00 = 2.25.
    assert (a1.weekly_gross_profit, a1.margin_per_ot_hour) == (D("60.00"), D("2.25"))
    a2 = _figures(model, "A-2", date(2026, 2, 2))
    # 5 planned OT hours at 2.25: 60.00 + 11.25.
    assert a2.weekly_gross_profit == D("71.25")


def test_from_the_amendment_designs_worked_example() -> None:
    a2 = _figures(_model(_log()), "A-2", date(2026, 3, 2))
    assert (a2.ot_pay_rate, a2.ot_bill_rate) == (D("45.00"), D("52.50"))
    assert a2.margin_per_ot_hour == D("-1.50")
    assert a2.weekly_gross_profit == D("52.50")  # 60.00 − 7.50


def test_a_v1_rate_change_derives_overtime_from_the_new_rates() -> None:
    a1 = _figures(_model(_log()), "A-1", date(2026, 4, 6))
    # 40.00 − 32.00 × 1.2 = 1.60 an hour, 64.00 a week; OT 48.00 / 56.00 (1.4 × 40.00):
    # 56.00 − 57.60 = −1.60 an OT hour (none planned).
    assert (a1.margin_per_hour, a1.weekly_gross_profit) == (D("1.60"), D("64.00"))
    assert (a1.ot_pay_rate, a1.ot_bill_rate, a1.margin_per_ot_hour) == (
        D("48.00"),
        D("56.000"),
        D("-1.60"),
    )


def test_a_v2_rate_change_with_an_ot_bill_rate_and_its_impact() -> None:
    model = _model(_log())
    a2 = _figures(model, "A-2", date(2026, 4, 6))
    # 60.00 − 45.00 × 1.2 = 6.00 an OT hour; 60.00 + 5 × 6.00 = 90.00 a week.
    assert (a2.ot_bill_rate, a2.margin_per_ot_hour, a2.weekly_gross_profit) == (
        D("60.00"),
        D("6.00"),
        D("90.00"),
    )
    [impact] = [
        i.impact
        for i in model.changes.impacts
        if i.assignment_id == "A-2" and i.event_type == "RatesAdjusted"
    ]
    assert impact.before.margin_per_ot_hour == D("-1.50")
    assert impact.after.margin_per_ot_hour == D("6.00")
    assert impact.delta.weekly_gross_profit == D("37.50")  # 90.00 − 52.50
    # 2026-04-06 → 2026-12-28: 266 days = 38 weeks.
    assert impact.delta.remaining_gross_profit == D("1425")


def test_the_risk_fold_prices_the_same_overtime() -> None:
    state = fold(_log())
    assert state is not None
    a2 = state.assignments["A-2"]
    rates = state.rates(a2)
    assert margin.margin_per_ot_hour(rates) == D("6.00")
    assert margin.weekly_gross_profit(rates) == D("90.00")
    assert state.terms.ot_bill_multiplier == D("1.4")


def test_a_markup_agreed_with_an_ot_markup() -> None:
    log = _decoded(
        [
            _signed(ot_bill_multiplier="1.4"),
            _started("A-1", planned_ot_hours_per_week="5"),
            example("MarkupNegotiationOpened", contract_id=CID, assignment_id="A-1"),
            # Markup 25 % (bill 37.50 again) and an OT markup of 20 %: OT bill 45.00 × 1.2 = 54.00.
            example(
                "MarkupAgreed",
                contract_id=CID,
                markup_pct="25",
                ot_markup_pct="20",
                effective_date="2026-02-02",
            ),
        ]
    )
    model = _model(log)
    before = _figures(model, "A-1", date(2026, 1, 26))
    after = _figures(model, "A-1", date(2026, 2, 2))
    assert (before.ot_bill_rate, before.margin_per_ot_hour) == (D("52.50"), D("-1.50"))
    # 54.00 − 45.00 × 1.2: an OT hour breaks even; the week is 60.00 + 0.
    assert (after.ot_pay_rate, after.ot_bill_rate) == (D("45.00"), D("54.00"))
    assert (after.margin_per_ot_hour, after.weekly_gross_profit) == (D("0.00"), D("60.00"))
    [impact] = [i.impact for i in model.changes.impacts if i.event_type == "MarkupAgreed"]
    assert impact.delta.weekly_gross_profit == D("7.50")  # the −7.50 of OT gone
    state = fold(log)
    assert state is not None
    rates = state.rates(state.assignments["A-1"])
    assert margin.margin_per_ot_hour(rates) == D("0.00")
