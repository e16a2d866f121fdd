"""The risk step's fast paths against the straightforward one: `evaluate` calls only the rules
an event's type can make fire (`rules/triggers.py`), and the fold and the rules remember what
they priced and measured by the identity of immutable parts of a state. Over generated
histories of every type: every rule run on every event raises exactly what `evaluate` raises
(a rule left out of a type's row raises nothing), and judging an event on a copy of its state
with no part in common with it (decoded from the changelog's JSON: nothing remembered applies)
gives the same alerts and the same state after."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from events.alerts import Alert
from events.catalogue import Event
from projections.risk import RiskState, judge
from projections.risk.codec import decode_state, encode_state
from projections.risk.rules import RULES, evaluate
from projections.risk.rules.triggers import RULES_ON
from tests.support.histories import histories


def _every_rule(before: RiskState, e: Event) -> list[Alert]:
    """What `evaluate` raised before the dispatch: every rule, in RULES's order."""
    if (e.stream_version or 0) <= before.version:
        return []
    return [a for rule in RULES.values() for a in rule(before, e, e.occurred_at)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=histories(contracts=2, events=40))
def test_the_rules_an_event_type_dispatches_to_raise_all_that_every_rule_raises(
    events: list[Event],
) -> None:
    states: dict[str, RiskState] = {}
    for e in events:
        before = states.get(e.contract_id)
        _, states[e.contract_id] = judge(before, e)
        if before is None:
            continue
        assert evaluate(before, e, e.occurred_at) == _every_rule(before, e)
        for name, rule in RULES.items():
            if name not in RULES_ON[type(e)]:
                assert rule(before, e, e.occurred_at) == [], (name, e.type)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=histories(contracts=2, events=40))
def test_an_event_judged_on_a_fresh_copy_of_its_state_raises_the_same_and_ends_the_same(
    events: list[Event],
) -> None:
    states: dict[str, RiskState] = {}
    for e in events:
        before = states.get(e.contract_id)
        raised, after = judge(before, e)
        states[e.contract_id] = after
        if before is None:
            continue
        fresh = decode_state(encode_state(before))
        assert fresh == before
        fresh_raised, fresh_after = judge(fresh, e)
        assert fresh_raised == raised
        assert fresh_after == after
        assert encode_state(fresh_after) == encode_state(after)
