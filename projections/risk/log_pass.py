"""The risk agent's rules over a log read in bulk, in memory: what `ledger risk rebuild` and a
first pass do outside Faust's stream (services/risk/bulk.py), with the agent's own steps.

Each event is judged with `judge` (the step the agent takes per event), an alert of a rule
released after the event was logged kept out (`in_force`, as the agent does); the timer rules
at the end with `judge_timers` (the agent's timer over the states it holds). Pure: the states
and what changed live in this object; the caller reads the log and stores the results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from events.alerts import Alert
from events.catalogue import EventBase
from projections.risk.judge import judge, judge_timers
from projections.risk.rules.releases import in_force
from projections.risk.state import RiskState


@dataclass
class LogPass:
    """Contracts' states folded from their events in log order (each partition's in order: a
    contract's events are in one partition)."""

    states: dict[str, RiskState] = field(default_factory=dict)
    # Contracts whose state changed since `take_changed`; versions judged since `take_judged`.
    changed: set[str] = field(default_factory=set)
    judged: dict[str, int] = field(default_factory=dict)
    # False: every alert, the releases' hold ignored (`ledger risk rejudge` asks for those).
    releases: bool = True

    def judge(self, event: EventBase, logged_at: datetime | None) -> list[Alert]:
        """The alerts `event` raises as the agent keeps them (logged at `logged_at`: the record's
        time); the contract's state moves on. A version already applied raises nothing."""
        contract = event.contract_id
        before = self.states.get(contract)
        raised, state = judge(before, event)
        if state is not before:
            self.states[contract] = state
            self.changed.add(contract)
        version = event.stream_version or 0
        if version > self.judged.get(contract, 0):
            self.judged[contract] = version
        if not raised or not self.releases:
            return raised
        return [a for a in raised if a.stream_version != version or in_force(a.rule, logged_at)]

    def timers(self, wall: datetime) -> list[Alert]:
        """The timer rules over every state, at the latest event time among them (never past
        `wall`), as the agent's timer judges the states it holds; those that raised remember it."""
        alerts, recorded = judge_timers(list(self.states.values()), wall)
        for state in recorded:
            self.states[state.contract_id] = state
            self.changed.add(state.contract_id)
        return alerts

    def take_judged(self) -> dict[str, int]:
        """The contracts judged since the last call, each with its latest version judged."""
        judged, self.judged = self.judged, {}
        return judged

    def take_changed(self) -> list[RiskState]:
        """The states changed since the last call."""
        changed, self.changed = self.changed, set()
        return [self.states[c] for c in changed]
