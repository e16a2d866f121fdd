"""DESIGN's overtime worked example as the events that submit it: Zones Inc's contract (burden
20 %, no MSP fee, OT billed at 1.4×) and Dana Reyes's assignment A-1 (P 30.00, B 37.50, H 40,
H_ot 5) over the 12 weeks from Monday 2026-01-05 to Monday 2026-03-30. An OT hour earns −1.50
against 1.50 a regular hour: a pricing whose overtime leaks (OT_MARGIN_LEAK).

Shared by the tests that compute it by hand (`RATES`), judge it, replay it to the risk agent
or submit it over HTTP; as with `example`, overrides win and `OMIT` removes a field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from projections.margin import Rates
from simulation.examples import OMIT, example

START, END = "2026-01-05", "2026-03-30"  # Mondays: 12 weeks

CONTRACT: Final[dict[str, Any]] = {
    "client_name": "Zones Inc",
    "start_date": "2026-01-01",
    "end_date": "2027-12-31",
    "burden_pct": "20",
    "msp_fee_pct": OMIT,
    "ot_bill_multiplier": "1.4",
    "occurred_at": "2026-01-02T09:00:00+00:00",
}

ASSIGNMENT: Final[dict[str, Any]] = {
    "pay_rate": "30.00",
    "bill_rate": "37.50",
    "hours_per_week": "40",
    "burden_pct": OMIT,  # the contract's 20 %
    "start_date": START,
    "expected_end_date": END,
    "planned_ot_hours_per_week": "5",
    "occurred_at": "2026-01-05T08:00:00+00:00",
}


def signed(**fields: Any) -> dict[str, Any]:
    """The worked example's ContractSigned."""
    return example("ContractSigned", **(CONTRACT | fields))


def started(**fields: Any) -> dict[str, Any]:
    """The worked example's AssignmentStarted."""
    return example("AssignmentStarted", **(ASSIGNMENT | fields))


RATES: Final = Rates(
    pay_rate=Decimal(ASSIGNMENT["pay_rate"]),
    bill_rate=Decimal(ASSIGNMENT["bill_rate"]),
    burden_pct=Decimal(CONTRACT["burden_pct"]),
    hours_per_week=Decimal(ASSIGNMENT["hours_per_week"]),
    ot_bill_multiplier=Decimal(CONTRACT["ot_bill_multiplier"]),
    planned_ot_hours_per_week=Decimal(ASSIGNMENT["planned_ot_hours_per_week"]),
)
"""The worked example's rates and planned hours, the same figures as its events'."""
