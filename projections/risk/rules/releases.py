"""When each rule was released, so that a running system gains a rule without a flood.

A rule added to a running system would otherwise judge the whole history the first time the
risk agent judges the log again (a new agent, a lost or dropped changelog, a state layout
changed): every event it finds wrong, back to the first, raised at once. The agent raises a
rule's alert only for an event logged (appended to the events topic) on or after the rule's
release day; what an older event would raise is left out, and the state still records it (a
rule that fires once per run does not fire later in the same run). An admin who wants them
asks: `ledger risk rejudge --since DATE` (services/risk/rejudge.py; `--dry-run` counts).

A rule not listed has been judged since the product's first release. Add a new rule here with
the day it ships.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Final

__all__ = ["RELEASED", "in_force"]

RELEASED: Final[dict[str, date]] = {
    "OT_MARGIN_LEAK": date(2026, 12, 7),
    "HOURS_SHORTFALL": date(2026, 12, 7),
    "CLIENT_HEALTH_FALLING": date(2026, 12, 7),
}


def in_force(rule: str, logged_at: datetime | None) -> bool:
    """Whether `rule` was released when an event logged at `logged_at` was appended (None: the
    time is not known, taken as now: the event is new to whoever judges it)."""
    released = RELEASED.get(rule)
    if released is None or logged_at is None:
        return True
    return logged_at.astimezone(UTC).date() >= released
