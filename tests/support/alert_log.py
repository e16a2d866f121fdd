"""One contract's log built step by step, and a whole log judged by the rules as a replay
judges it: for the tests of the rules and of the risk state."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from events.alerts import Alert
from events.catalogue import Event, EventBase
from events.serialization import parse_submission
from projections.risk import RiskState, evaluate, evolve, fold
from simulation.examples import OMIT, example


def evaluate_log(events: Iterable[EventBase], now: datetime | None = None) -> list[Alert]:
    """Fold `events` (one contract's log, in order) and collect every event alert they raise:
    what a replay of the log produces. `now` defaults to each event's own occurred_at."""
    state: RiskState | None = None
    alerts: list[Alert] = []
    for event in events:
        alerts += evaluate(state, event, now or event.occurred_at)
        state = evolve(state, event)
    return alerts


def at(day: str, hour: int = 9) -> str:
    return f"{day}T{hour:02d}:00:00+00:00"


@dataclass
class Log:
    """One contract's log as the events topic holds it: stamped 1, 2, 3 …"""

    events: list[Event] = field(default_factory=list)

    def add(self, type_name: str, day: str, **fields: Any) -> Event:
        hour = fields.pop("hour", 9)
        submission = example(type_name, occurred_at=at(day, hour), **fields)
        event = parse_submission(submission)[0]
        stamped = event.model_copy(update={"stream_version": len(self.events) + 1})
        self.events.append(stamped)
        return stamped

    @property
    def state(self) -> RiskState:
        state = fold(self.events)
        assert state is not None
        return state

    def fire(self, type_name: str, day: str, **fields: Any) -> list[Alert]:
        """Append an event and return the alerts it raises given the state before it."""
        before = self.state
        event = self.add(type_name, day, **fields)
        return evaluate(before, event, event.occurred_at)

    def ask_raise(self, day: str, pay: Any, budget: Any, **fields: Any) -> list[Alert]:
        """A RaiseRequested for A-1 (R-1 unless `raise_request_id` says otherwise): `pay`
        asked for, `budget` the client's highest bill rate (OMIT: none); its alerts."""
        budgeted = {"requested_pay_rate": pay, "client_max_bill_rate": budget}
        return self.fire("RaiseRequested", day, **(budgeted | fields))

    # -- the usual beginnings ----------------------------------------------------------------

    def sign(self, **terms: Any) -> Log:
        fields: dict[str, Any] = {
            "client_name": "Zones Inc",
            "start_date": "2024-01-01",
            "end_date": "2025-12-31",
            "markup_floor_pct": "15",
            "burden_pct": "20",
            "msp_fee_pct": OMIT,
            "min_assignment_weeks": OMIT,
            "conversion_fee_pct": "20",
            "conversion_fee_waived_after_hours": "2080",
            "non_solicit_months": 6,
        }
        fields.update(terms)
        self.add("ContractSigned", "2024-01-01", hour=8, **fields)
        return self

    def start(self, assignment_id: str = "A-1", **fields: Any) -> Log:
        defaults: dict[str, Any] = {
            "assignment_id": assignment_id,
            "staffer_id": "S-42" if assignment_id == "A-1" else f"S-{assignment_id}",
            "staffer_name": "Dana Reyes" if assignment_id == "A-1" else f"Staffer {assignment_id}",
            "pay_rate": "30.00",
            "bill_rate": "37.50",
            "hours_per_week": "40",
            "start_date": "2024-01-01",
            "expected_end_date": "2024-12-30",
            "burden_pct": OMIT,
        }
        defaults.update(fields)
        self.add("AssignmentStarted", str(defaults["start_date"]), **defaults)
        return self
