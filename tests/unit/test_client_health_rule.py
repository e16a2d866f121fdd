"""CLIENT_HEALTH_FALLING (projections/risk/rules/client_health.py): the client's health score,
as its contract carries it, dropping 20 points within 30 days (medium) or below 50 (high), by
hand; once per drop; nothing from a state without a history (a running system gaining the rule
raises no flood); and in the preview. Zones Inc: pay 30.00, bill 37.50, burden 20 %: 1.50 an
hour, 60.00 a week, to 2024-12-30."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from events.alerts import Alert
from events.catalogue import Event
from events.messages import Submission, Submitter
from events.serialization import parse_submission
from projections.margin import round_money
from projections.risk import evaluate, evolve
from projections.risk.health_watch import ScoreSample, fall, with_score
from projections.risk.state import RiskState, health_of, weekly_gross_profit_on
from simulation.examples import example
from tests.support.alert_log import Log, at
from tests.support.histories import histories
from writemodel.preview import preview

RULE = "CLIENT_HEALTH_FALLING"


def zones() -> Log:
    log = Log().sign().start()
    log.add("ClientContactLogged", "2024-02-01", direction="inbound")  # two-way: 100
    return log


def health(alerts: list[Alert]) -> list[Alert]:
    return [a for a in alerts if a.rule == RULE]


def test_the_score_is_the_client_pages_parts_on_the_contracts_facts() -> None:
    log = zones()
    assert health_of(log.state, date(2024, 2, 1)).score == 100
    # 50 days after the last two-way contact: 36 days past the 14 of grace, at most 20.
    assert health_of(log.state, date(2024, 3, 22)).score == 80
    log.add("ClientComplaintLogged", "2024-02-05")
    log.add("ClientComplaintLogged", "2024-02-06", legal_threat=True)
    parts = {p.name: p.points for p in health_of(log.state, date(2024, 2, 6)).parts}
    assert (parts["complaints"], parts["legal_threats"]) == (5, 15)


def test_twenty_points_down_within_30_days_raises_once() -> None:
    log = zones()
    assert health(log.fire("ClientComplaintLogged", "2024-02-05")) == []  # 95
    assert health(log.fire("ClientComplaintLogged", "2024-02-06")) == []  # 90
    assert health(log.fire("ClientComplaintLogged", "2024-02-07")) == []  # 85: 15 down
    [alert] = health(log.fire("BypassThreatReported", "2024-02-08"))  # 75: 25 down
    assert (alert.severity, alert.basis, alert.assignment_id) == ("medium", "applied", None)
    # 60.00 a week from 2024-02-08 to 2024-12-30: 326 days, 46 4/7 weeks.
    assert round_money(alert.exposure or Decimal(0)) == Decimal("2794.29")
    assert alert.message == (
        "Zones Inc's health (contract C-1001) fell from 100 to 75 within 30 days: complaints "
        "−15 (3 complaints in 90 days); bypass threats −10 (1 bypass threat in 90 days). "
        "2,794.29 of remaining gross profit on 1 active assignment is at risk; meet the client "
        "about the staffers they want to hire direct."
    )
    assert health(log.fire("BypassThreatReported", "2024-02-09")) == []  # 65: the same drop


def test_crossing_below_50_raises_high_even_within_a_drop() -> None:
    log = zones()
    assert health(log.fire("ClientComplaintLogged", "2024-02-10")) == []  # 95
    # 24 days since the contact (10 points), a bypass threat (10), a complaint (5): 75.
    [drop] = health(log.fire("BypassThreatReported", "2024-02-25"))
    assert drop.severity == "medium" and "fell from 100 to 75 within 30 days" in drop.message
    assert health(log.fire("ClientComplaintLogged", "2024-03-12")) == []  # 60, the same drop
    assert health(log.fire("BypassThreatReported", "2024-03-30")) == []  # 50, not below
    [below] = health(log.fire("ClientComplaintLogged", "2024-04-08"))  # 45
    assert below.severity == "high"
    # 60.00 a week from 2024-04-08 to 2024-12-30: 266 days, 38 weeks.
    assert round_money(below.exposure or Decimal(0)) == Decimal("2280.00")
    assert below.message == (
        "Zones Inc's health (contract C-1001) fell from 50 to 45, below 50: contact recency "
        "−20 (last two-way contact 67 days ago); bypass threats −20 (2 bypass threats in 90 "
        "days); complaints −15 (3 complaints in 90 days). 2,280.00 of remaining gross profit "
        "on 1 active assignment is at risk; meet the client about the staffers they want to "
        "hire direct."
    )


def test_a_state_from_before_the_rule_raises_nothing_at_once() -> None:
    log = zones()
    for day in ("2024-02-05", "2024-02-06", "2024-02-07"):
        log.add("ClientComplaintLogged", day)
    log.add("ClientComplaintLogged", "2024-02-08", legal_threat=True)
    log.add("ClientComplaintLogged", "2024-02-09", legal_threat=True)  # 55
    # As a changelog written before the rule decodes: no history, no drop under way.
    legacy = replace(log.state, health=(), health_falling=False)
    event = log.add("BypassThreatReported", "2024-02-10")  # 45
    assert health(evaluate(legacy, event, event.occurred_at)) == []
    after = evolve(legacy, event)
    assert [s.score for s in after.health] == [45]  # the history starts here
    nxt = log.add("BypassThreatReported", "2024-02-11")  # 45 again: no fall from 45
    assert health(evaluate(after, nxt, nxt.occurred_at)) == []


def test_the_preview_raises_it_too() -> None:
    log = zones()
    for day in ("2024-02-05", "2024-02-06", "2024-02-07"):
        log.add("ClientComplaintLogged", day)
    sub = Submission(
        submission_id=uuid.uuid4(),
        submitter=Submitter(role="admin", principal="u.admin"),
        event=parse_submission(example("BypassThreatReported", occurred_at=at("2024-02-08")))[0],
    )
    [p] = preview(log.events, [sub], datetime(2024, 2, 8, 12, tzinfo=UTC))
    assert p.verdict.outcome == "accepted"
    assert RULE in [a.rule for a in p.alerts]


@given(
    st.lists(st.tuples(st.integers(0, 120), st.integers(0, 100)), min_size=1, max_size=30),
    st.integers(0, 100),
)
def test_the_drop_is_measured_from_the_highest_score_of_the_window(
    samples: list[tuple[int, int]], score: int
) -> None:
    history: tuple[ScoreSample, ...] = ()
    start = date(2024, 1, 1)
    for offset, s in sorted(samples):
        history = with_score(history, start.fromordinal(start.toordinal() + offset), s, start)
    day = start.fromordinal(start.toordinal() + 121)
    f = fall(history, day, score)
    assert f is not None
    assert f.peak >= score
    assert f.dropped == (f.peak - score >= 20)
    # Every score measured within the 30 days counts, the highest of a day included.
    assert f.peak >= max([s for offset, s in samples if offset >= 121 - 30], default=0)
    assert f.peak <= 100


@settings(max_examples=60, deadline=None)
@given(events=histories(events=40))
def test_the_weekly_gross_profit_kept_by_difference_equals_the_sum(events: list[Event]) -> None:
    """The state keeps the contract's weekly gross profit by the difference each event makes to
    the assignments it changed; it is always what summing every assignment gives."""
    state: RiskState | None = None
    for e in events:
        state = evolve(state, e)
        day = state.last_event_at.date()
        until = state.gross_profit_until
        if until is None or day < until:
            assert (
                state.gross_profit[-1].weekly_gross_profit == weekly_gross_profit_on(state, day)[0]
            )
