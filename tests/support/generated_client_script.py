"""Run by tests/integration/test_generated_client.py with PYTHONPATH on a client that
openapi-python-client generated from the API's document: every event type submitted with the
generated models only (their `from_dict`, their `to_dict` on the wire), in an order the writer
accepts. Prints one line per event: `<type> <status>`.

    python -m tests.support.generated_client_script BASE_URL TOKEN CONTRACT_ID AM_ID
"""

from __future__ import annotations

import sys
from typing import Any

from markup_ledger_client import AuthenticatedClient, models
from markup_ledger_client.api.events import submit_events

from simulation.examples import OMIT, example

base_url, token, cid, am = sys.argv[1:5]
STORY: list[tuple[str, dict[str, Any]]] = [
    ("ContractSigned", {"account_manager_id": am}),
    ("AssignmentStarted", {}),
    ("RatesAdjusted", {}),
    ("HoursReported", {}),
    ("MarkupNegotiationOpened", {"negotiation_id": "N-1"}),
    ("MarkupProposed", {"negotiation_id": "N-1"}),
    ("MarkupAgreed", {"negotiation_id": "N-1"}),
    ("MarkupNegotiationOpened", {"negotiation_id": "N-2"}),
    ("MarkupNegotiationClosed", {"negotiation_id": "N-2"}),
    ("RaiseRequested", {"raise_request_id": "R-1"}),
    ("RaiseApproved", {"raise_request_id": "R-1"}),
    ("RaiseRequested", {"raise_request_id": "R-2"}),
    ("RaiseDeclined", {"raise_request_id": "R-2"}),
    ("BypassThreatReported", {}),
    ("ClientComplaintLogged", {}),
    ("ClientContactLogged", {}),
    ("ContractAmended", {}),
    ("AccountManagerChanged", {"account_manager_id": am}),
    ("AssignmentEnded", {}),
    ("ContractTerminated", {}),
]
api = AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)
for type_name, fields in STORY:
    raw = {k: v for k, v in example(type_name, contract_id=cid, **fields).items() if v is not OMIT}
    model = getattr(models, f"Submitted{type_name}").from_dict(raw)
    answer = submit_events.sync(client=api, body=model)
    assert isinstance(answer, models.EventResult), (type_name, answer)
    print(type_name, answer.status, answer.code or "")
