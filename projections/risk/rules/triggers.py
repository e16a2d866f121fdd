"""Which event rules an event of each type can make fire: `evaluate` calls only those.

Judging an event used to call every rule, each of which returned nothing at once for most
types; a third of an event's rule calls were such. The table names every type of the catalogue
(checked when imported, `events.dispatch`: a new type fails every import until it is placed
here), and for each the rules, by name, whose docstrings name it: a rule reacts to the events
it prices (a rate, a markup, an amendment), ends (an assignment), counts (contacts,
complaints, hours) or reports (a threat). CLIENT_HEALTH_FALLING is judged on every event (the
score is measured at each one, and its contact recency grows with the days alone).
`tests/unit/test_risk_dispatch.py` judges generated histories with every rule on every event
and checks that a rule left out of a type's row never raised anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from events import catalogue as ev
from events.dispatch import require_every_event_type

# What changes an assignment's pricing, as `changes.applied_changes` lists it.
_PRICING: Final = ("LOSS_POSITION", "OT_MARGIN_LEAK")
_EVERY: Final = ("CLIENT_HEALTH_FALLING",)

RULES_ON: Final[Mapping[type[ev.EventBase], tuple[str, ...]]] = {
    ev.ContractSigned: (),  # nothing precedes it: `evaluate` raises nothing for it
    ev.ContractAmended: (*_PRICING, *_EVERY),
    ev.AccountManagerChanged: _EVERY,
    ev.ContractTerminated: _EVERY,
    ev.AssignmentStarted: (*_PRICING, *_EVERY),
    ev.RatesAdjusted: (*_PRICING, "RAISE_ABSORBED", *_EVERY),
    ev.AssignmentEnded: ("BYPASS_THREAT", "COMMITMENT_SHORTFALL", *_EVERY),
    ev.HoursReported: ("OT_MARGIN_LEAK", "HOURS_SHORTFALL", *_EVERY),
    ev.MarkupNegotiationOpened: _EVERY,
    ev.MarkupProposed: ("LOSS_POSITION", "BELOW_FLOOR", *_EVERY),
    ev.MarkupAgreed: (*_PRICING, "BELOW_FLOOR", "MARGIN_EROSION", *_EVERY),
    ev.MarkupNegotiationClosed: _EVERY,
    ev.RaiseRequested: ("LOSS_POSITION", "BELOW_FLOOR", "RAISE_ABSORBED", *_EVERY),
    ev.RaiseApproved: (*_PRICING, "RAISE_ABSORBED", *_EVERY),
    ev.RaiseDeclined: _EVERY,
    ev.BypassThreatReported: ("BYPASS_THREAT", *_EVERY),
    ev.ClientComplaintLogged: ("RELATIONSHIP_STRAIN", *_EVERY),
    ev.ClientContactLogged: ("RELATIONSHIP_STRAIN", *_EVERY),
}

require_every_event_type("the risk rules' triggers", RULES_ON)
