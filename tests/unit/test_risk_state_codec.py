"""The risk agent's table holds `RiskState` as JSON: every folded state comes back exactly."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import ValidationError

from events.catalogue import Event
from projections.risk import evaluate_timers, fold, record_timer_alerts
from projections.risk.codec import decode_state, encode_state
from projections.risk.state import RiskState
from simulation.examples import OMIT
from tests.support.alert_log import Log
from tests.support.histories import histories


def exact(a: Any, b: Any, path: str = "state") -> None:
    """`a` and `b` hold the same values of the same types: `Decimal("30.00")` is not
    `Decimal("30")`, a datetime keeps its UTC offset, a tuple stays a tuple."""
    assert type(a) is type(b) or (isinstance(a, Mapping) and isinstance(b, Mapping)), path
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        for f in dataclasses.fields(a):
            exact(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, Mapping):
        assert list(a) == list(b), path
        for k in a:
            exact(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            exact(x, y, f"{path}[{i}]")
    elif isinstance(a, Decimal):
        assert a.as_tuple() == b.as_tuple(), path
    elif isinstance(a, datetime):
        assert (a, a.utcoffset()) == (b, b.utcoffset()), path
    else:
        assert isinstance(a, str | int | bool | date | UUID | frozenset | type(None)), path
        assert a == b, path


def round_trip(state: RiskState) -> None:
    data = encode_state(state)
    back = decode_state(data)
    assert back == state
    exact(state, back)
    assert decode_state(encode_state(back)) == state


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=histories())
def test_every_folded_state_round_trips_exactly(events: list[Event]) -> None:
    state: RiskState | None = None
    for event in events:
        state = fold([event], state)
        assert state is not None
        round_trip(state)
    assert state is not None
    # With the timer alerts a shell recorded, as the agent's table holds them.
    later = state.last_event_at + timedelta(days=45)
    raised = evaluate_timers(state, later)
    round_trip(record_timer_alerts(state, (a.alert_id for a in raised)))


def test_a_state_with_every_part_round_trips() -> None:
    log = Log().sign(msp_fee_pct="2.5", min_assignment_weeks=26).start()
    log.start("A-2", pay_rate="31.00", bill_rate="41.25", burden_pct="15")
    log.add("MarkupNegotiationOpened", "2024-02-01", negotiation_id="N-1", assignment_id="A-1")
    log.add(
        "MarkupAgreed", "2024-02-02", negotiation_id="N-1", markup_pct="12",
        effective_date="2024-02-02",
    )  # fmt: skip
    log.add(
        "RaiseRequested", "2024-02-03", raise_request_id="R-1", assignment_id="A-2",
        requested_pay_rate="33.00", client_max_bill_rate="41.25",
    )  # fmt: skip
    log.add("MarkupNegotiationOpened", "2024-02-04", negotiation_id="N-2", assignment_id=OMIT)
    for day in ("2024-02-05", "2024-02-06", "2024-02-07"):
        log.add("ClientContactLogged", day, direction="outbound", responded=False)
    log.add("AssignmentEnded", "2024-02-08", assignment_id="A-2", end_date="2024-02-08",
            reason="moved_to_other_agency")  # fmt: skip
    state = log.state
    assert state.markup_cuts and state.unanswered_run and state.raise_requests
    assert state.negotiations == {"N-2": None}
    raised = evaluate_timers(state, state.last_event_at + timedelta(days=31))
    assert raised
    state = record_timer_alerts(state, (a.alert_id for a in raised))
    round_trip(state)
    assert fold(log.events) == dataclasses.replace(state, timer_alerts_raised=frozenset())


def test_what_is_not_a_state_is_refused() -> None:
    data = encode_state(Log().sign().state)
    with pytest.raises(ValidationError):
        decode_state(data.replace(b'"version":1', b'"version":"one"'))
    with pytest.raises(ValidationError):
        decode_state(b"{}")
