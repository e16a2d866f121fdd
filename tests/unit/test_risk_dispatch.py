"""The risk step's fast paths against the straightforward one: `evaluate` calls only the rules
an event's type can make fire (`rules/triggers.py`), and the fold and the rules remember what
they priced and measured by the identity of immutable parts of a state. Over generated
histories of every type: every rule run on every event raises exactly what `evaluate` raises
(a rule left out of a type's row raises nothing), and judging an event on a copy of its state
with no part in common with it (decoded from the changelog's JSON: nothing remembered applies)
gives the same alerts and the same state after."""

from __future__ import annotations

from collections.abc import Iterator

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


def _steps(events: list[Event]) -> Iterator[tuple[RiskState, Event, list[Alert], RiskState]]:
    """Each event judged on its contract's state (but a contract's first): the state before,
    the event, the alerts and the state after."""
    states: dict[str, RiskState] = {}
    for e in events:
        before = states.get(e.contract_id)
        raised, states[e.contract_id] = judge(before, e)
        if before is not None:
            yield before, e, raised, states[e.contract_id]


_EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_HISTORIES = given(events=histories(contracts=2, events=40))


@_EXAMPLES
@_HISTORIES
def test_the_rules_a_type_dispatches_to_raise_what_every_rule_does(events: list[Event]) -> None:
    for before, e, _, _ in _steps(events):
        assert evaluate(before, e, e.occurred_at) == _every_rule(before, e)
        for name, rule in RULES.items():
            if name not in RULES_ON[type(e)]:
                assert rule(before, e, e.occurred_at) == [], (name, e.type)


@_EXAMPLES
@_HISTORIES
def test_a_step_on_a_fresh_copy_of_the_state_is_the_same_step(events: list[Event]) -> None:
    # No part of `fresh` is one of `before`'s: nothing remembered by identity applies to it.
    for before, e, raised, after in _steps(events):
        fresh = decode_state(encode_state(before))
        assert fresh == before
        fresh_raised, fresh_after = judge(fresh, e)
        assert fresh_raised == raised
        assert fresh_after == after
        assert encode_state(fresh_after) == encode_state(after)
