"""The risk fold's `replace` (projections/risk/state.py: a frozen dataclass copied without
`dataclasses.replace`'s introspection and `__init__`, a slots class's fields read at once and
written by their slots' setters) makes the copy `dataclasses.replace` makes, on the states and
assignments of generated histories, for any set of fields changed; an unknown field refused."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.catalogue import Event
from projections.risk import evolve
from projections.risk.state import RiskState, replace
from tests.support.histories import histories


def _changed(obj: Any, other: Any, data: st.DataObject) -> dict[str, Any]:
    """Some of `obj`'s fields (none, some, every one) given `other`'s values."""
    names = [f.name for f in dataclasses.fields(obj)]
    chosen = data.draw(st.lists(st.sampled_from(names), unique=True))
    return {name: getattr(other, name) for name in chosen}


@settings(max_examples=40, deadline=None)
@given(events=histories(contracts=1, events=30), data=st.data())
def test_a_copy_with_changes_is_the_one_dataclasses_makes(
    events: list[Event], data: st.DataObject
) -> None:
    states: list[RiskState] = []
    state: RiskState | None = None
    for e in events:
        state = evolve(state, e)
        states.append(state)
    assignments = [a for s in states for a in s.assignments.values()]
    objects: list[tuple[Any, Any]] = list(zip(states, reversed(states), strict=True))
    objects += list(zip(assignments, reversed(assignments), strict=True))
    objects += [(s.terms, t.terms) for s, t in objects[: len(states)]]
    for obj, other in objects:
        changes = _changed(obj, other, data)
        copy = replace(obj, **changes)
        assert copy == dataclasses.replace(obj, **changes)
        assert copy is not obj and type(copy) is type(obj)
        for name in {f.name for f in dataclasses.fields(obj)}:
            assert getattr(copy, name) is (changes[name] if name in changes else getattr(obj, name))
        with pytest.raises(TypeError):  # as dataclasses.replace refuses it
            replace(obj, not_a_field=1)
