"""The bulk pass's pure part (`projections.risk.log_pass.LogPass`) judges a log as the risk
agent does event by event: the same alerts (a rule's release day included), the same final
states, the timer as the agent's timer; and the names of a generation of the agent's table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings

from events.catalogue import Event
from projections.risk import RiskState, judge, judge_timers
from projections.risk.log_pass import LogPass
from projections.risk.rules.releases import RELEASED, in_force
from services.risk.names import app_id, changelog_topic, leader_topic
from tests.support.histories import histories

_BEFORE_EVERY_RELEASE = datetime.combine(min(RELEASED.values()), datetime.min.time(), UTC)


def _agent(events: list[Event], logged: datetime | None) -> tuple[list[str], dict[str, RiskState]]:
    """What the agent's batch step keeps (services/risk/agent.py `_judge`), event by event."""
    states: dict[str, RiskState] = {}
    kept: list[str] = []
    for e in events:
        raised, states[e.contract_id] = judge(states.get(e.contract_id), e)
        version = e.stream_version or 0
        kept += [
            a.alert_id for a in raised if a.stream_version != version or in_force(a.rule, logged)
        ]
    return kept, states


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=histories(contracts=3, events=25))
def test_a_log_pass_keeps_what_the_agent_keeps_and_ends_in_its_states(events: list[Event]) -> None:
    for logged in (None, _BEFORE_EVERY_RELEASE - timedelta(days=1)):
        fold = LogPass()
        got = [a.alert_id for e in events for a in fold.judge(e, logged)]
        want, states = _agent(events, logged)
        assert got == want
        assert fold.states == states
        assert sorted(s.contract_id for s in fold.take_changed()) == sorted(states)
        assert fold.take_judged() == {
            c: max(e.stream_version or 0 for e in events if e.contract_id == c) for c in states
        }
        assert fold.take_changed() == [] and fold.take_judged() == {}


def _folded(events: list[Event]) -> LogPass:
    """A pass that has judged `events`, what changed already taken."""
    fold = LogPass()
    for e in events:
        fold.judge(e, None)
    fold.take_changed()
    return fold


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=histories(contracts=2, events=20))
def test_an_event_judged_twice_raises_nothing_the_second_time(events: list[Event]) -> None:
    fold = _folded(events)
    before = dict(fold.states)
    assert [a for e in events for a in fold.judge(e, None)] == []
    assert fold.states == before and fold.take_changed() == []


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=histories(contracts=3, events=20))
def test_the_timer_at_the_end_is_the_agents_timer_and_is_remembered(events: list[Event]) -> None:
    fold = _folded(events)
    states = list(fold.states.values())
    later = max(s.last_event_at for s in states) + timedelta(days=90)
    want, recorded = judge_timers(states, later)
    # The agent's timer judges at the latest event time, never past the wall clock.
    assert fold.timers(later) == want == judge_timers(states, later + timedelta(days=400))[0]
    assert sorted(s.contract_id for s in fold.take_changed()) == sorted(
        s.contract_id for s in recorded
    )
    assert fold.timers(later) == []  # raised once


def test_a_generation_names_its_group_changelog_and_leader_topic_generation_0_as_before() -> None:
    assert app_id("ledger") == app_id("ledger", 0) == "ledger-risk"
    assert changelog_topic("ledger", 0) == "ledger-risk-risk-state-changelog"
    assert app_id("ledger", 3) == "ledger-risk-g3"
    assert changelog_topic("ledger", 3) == "ledger-risk-g3-risk-state-changelog"
    assert leader_topic("ledger", 3) == "ledger-risk-g3-__assignor-__leader"
