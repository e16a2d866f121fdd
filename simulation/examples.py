"""One valid submission per event type, as a submitter would send it (decimals as strings).

Shared by the unit tests of `events/`, by any other test that needs a valid event and by the
benchmarks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

from events.catalogue import Event
from events.messages import Submission, Submitter
from events.serialization import decode_event, parse_submission

OMIT: Final = object()
"""Pass as an override to leave a field out: `example("ContractSigned", end_date=OMIT)`."""

CONTRACT_ID: Final = "C-1001"
OCCURRED_AT: Final = "2024-03-01T09:00:00+00:00"

_TERMS: Final[dict[str, Any]] = {
    "client_name": "Northwind Logistics",
    "start_date": "2024-01-01",
    "end_date": "2025-12-31",
    "markup_floor_pct": "18",
    "burden_pct": "20",
    "msp_fee_pct": "2.5",
    "min_assignment_weeks": 26,
    "conversion_fee_pct": "15",
    "conversion_fee_waived_after_hours": "2080",
    "non_solicit_months": 12,
}

_FIELDS: Final[dict[str, dict[str, Any]]] = {
    "ContractSigned": {"client_id": "CL-7", "account_manager_id": "am.jones", **_TERMS},
    "ContractAmended": {"effective_date": "2024-06-01", **_TERMS},
    "AccountManagerChanged": {
        "account_manager_id": "am.okafor",
        "effective_date": "2024-09-01",
        "reason": "am.jones left the agency",
    },
    "ContractTerminated": {"effective_date": "2025-06-30", "reason": "client insourced the team"},
    "AssignmentStarted": {
        "assignment_id": "A-1",
        "staffer_id": "S-42",
        "staffer_name": "Dana Reyes",
        "job_title": "Forklift operator",
        "pay_rate": "30.00",
        "bill_rate": "37.50",
        "hours_per_week": "40",
        "start_date": "2024-03-04",
        "expected_end_date": "2024-12-20",
        "burden_pct": "20",
    },
    "RatesAdjusted": {
        "assignment_id": "A-1",
        "pay_rate": "31.00",
        "bill_rate": "38.75",
        "effective_date": "2024-07-01",
        "reason": "annual review",
    },
    "AssignmentEnded": {"assignment_id": "A-1", "end_date": "2024-12-20", "reason": "completed"},
    "MarkupNegotiationOpened": {
        "negotiation_id": "N-1",
        "assignment_id": "A-1",
        "initiated_by": "client",
        "reason": "procurement asks for a cheaper markup",
    },
    "MarkupProposed": {
        "negotiation_id": "N-1",
        "proposed_by": "client",
        "markup_pct": "20",
        "note": "their first offer",
    },
    "MarkupAgreed": {"negotiation_id": "N-1", "markup_pct": "22.5", "effective_date": "2024-08-01"},
    "MarkupNegotiationClosed": {"negotiation_id": "N-1", "outcome": "withdrawn", "note": "dropped"},
    "RaiseRequested": {
        "raise_request_id": "R-1",
        "assignment_id": "A-1",
        "requested_pay_rate": "32.00",
        "requested_by": "client",
        "client_max_bill_rate": "37.50",
    },
    "RaiseApproved": {
        "raise_request_id": "R-1",
        "new_pay_rate": "32.00",
        "new_bill_rate": "40.00",
        "effective_date": "2024-09-01",
    },
    "RaiseDeclined": {"raise_request_id": "R-1", "reason": "would put us in a loss position"},
    "BypassThreatReported": {
        "assignment_id": "A-1",
        "staffer_id": "S-42",
        "kind": "threatened_move_to_other_agency",
        "description": "client says another agency would place Dana for less",
    },
    "ClientComplaintLogged": {
        "about": "billing",
        "legal_threat": False,
        "description": "invoice 2024-07 double-counted overtime",
    },
    "ClientContactLogged": {
        "channel": "email",
        "direction": "outbound",
        "responded": False,
        "note": "quarterly check-in",
    },
}

EVENT_TYPE_NAMES: Final = tuple(_FIELDS)


def example(type_name: str, **overrides: Any) -> dict[str, Any]:
    """A fresh valid submission of `type_name` with a new `event_id`; overrides win, and an
    override of `OMIT` removes the field."""
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "type": type_name,
        "contract_id": CONTRACT_ID,
        "occurred_at": OCCURRED_AT,
        **_FIELDS[type_name],
    }
    for name, value in overrides.items():
        if value is OMIT:
            event.pop(name, None)
        else:
            event[name] = value
    return event


def submission(
    type_name: str,
    *,
    submitter: Submitter,
    recorded_at: datetime,
    expected: int | None = None,
    **fields: Any,
) -> Submission:
    """What the API puts on the submissions topic: the example event (`fields` overriding)
    stamped by `submitter` at `recorded_at`, stream_version unset."""
    event = decode_event(example(type_name, **fields)).model_copy(
        update={"recorded_by": submitter.principal, "recorded_at": recorded_at}
    )
    return Submission(
        submission_id=uuid.uuid4(),
        submitter=submitter,
        expected_stream_version=expected,
        event=event,
    )


def stamped(submissions: Iterable[dict[str, Any]], first: int = 1) -> list[Event]:
    """Submissions as the writer would append them: stream versions first, first + 1, …"""
    return [
        parse_submission(s)[0].model_copy(update={"stream_version": n})
        for n, s in enumerate(submissions, start=first)
    ]
