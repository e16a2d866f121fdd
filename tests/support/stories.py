"""Stories the tests tell: sequences of events as account managers would record them."""

from __future__ import annotations

from typing import Any

from simulation.examples import OMIT, example


def seed_003_story(cid: str, aid: str, am_id: str) -> dict[str, dict[str, Any]]:
    return {
        # A low markup floor (15 %) granted for a long-term commitment (52 weeks).
        "signed": example(
            "ContractSigned", contract_id=cid, account_manager_id=am_id, client_name="Zones Inc",
            start_date="2026-01-05", end_date="2027-01-04", markup_floor_pct="15",
            burden_pct="12", msp_fee_pct=OMIT, min_assignment_weeks=52,
            conversion_fee_pct="20", conversion_fee_waived_after_hours=OMIT, non_solicit_months=12,
        ),
        "started": example(
            "AssignmentStarted", contract_id=cid, assignment_id=aid, staffer_name="Dana Reyes",
            pay_rate="30.00", bill_rate="34.50", hours_per_week="40", burden_pct=OMIT,
            start_date="2026-01-05", expected_end_date="2027-01-04",
            occurred_at="2026-01-05T08:00:00+00:00",
        ),
        "contact": example(
            "ClientContactLogged", contract_id=cid, direction="inbound", responded=True,
            occurred_at="2026-07-01T08:00:00+00:00",
        ),
        # The client wants the raise funded out of the markup: budget = today's bill rate.
        "asked": example(
            "RaiseRequested", contract_id=cid, assignment_id=aid, raise_request_id="R-003",
            requested_pay_rate="33.00", requested_by="client", client_max_bill_rate="34.50",
            occurred_at="2026-07-06T09:00:00+00:00",
        ),
        "declined": example(
            "RaiseDeclined", contract_id=cid, raise_request_id="R-003",
            reason="this would put us in a loss position",
            occurred_at="2026-07-08T09:00:00+00:00",
        ),
        "threat": example(
            "BypassThreatReported", contract_id=cid, assignment_id=aid, staffer_id=OMIT,
            kind="threatened_move_to_other_agency",
            description="client says Dana will work through another service",
            occurred_at="2026-07-13T09:00:00+00:00",
        ),
    }  # fmt: skip
