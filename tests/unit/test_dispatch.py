"""Every event type of the catalogue against every dispatcher over event types: a new type
fails here (and at import, for the Python ones) until each of them handles it."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from events.catalogue import EVENT_MODELS, EVENT_TYPES, EventBase
from events.dispatch import missing_event_types, require_every_event_type
from projections.read_model import ReadModel
from projections.risk import state as risk_state
from projections.risk.rules.triggers import RULES_ON as RISK_RULES_ON
from simulation import examples, histories
from writemodel import decide as writer_decide
from writemodel import state as writer_state

WEB_APP = Path(__file__).resolve().parents[2] / "web" / "app"

PYTHON_DISPATCHERS: dict[str, Any] = {
    "writer decide (_check)": writer_decide._check.registry,
    "writer fold (_apply)": writer_state._apply.registry,
    "risk fold (_apply)": risk_state._apply.registry,
    "risk rules (RULES_ON)": RISK_RULES_ON,
    "read model (_apply)": ReadModel.__dict__["_apply"].dispatcher.registry,
}


@pytest.mark.parametrize("name", sorted(PYTHON_DISPATCHERS))
def test_every_python_dispatcher_has_a_handler_of_its_own_for_every_event_type(name: str) -> None:
    assert missing_event_types(PYTHON_DISPATCHERS[name]) == []


def test_a_registry_missing_a_type_is_refused_by_name() -> None:
    partial = {model: None for model in EVENT_MODELS[1:]}
    with pytest.raises(TypeError, match=EVENT_MODELS[0].__name__):
        require_every_event_type("a dispatcher", partial)


def test_an_unhandled_event_class_is_refused_not_passed_silently() -> None:
    class Stranger(EventBase):
        pass

    stranger = Stranger.model_construct(
        type="Stranger",
        contract_id="C-1",
        event_id=uuid.UUID(int=1),
        occurred_at=datetime(2024, 3, 1, tzinfo=UTC),
    )
    # A contract the stranger would be about: the dispatch refuses before it reads the state.
    [signed] = examples.stamped([examples.example("ContractSigned", contract_id="C-1")])
    with pytest.raises(TypeError, match="Stranger"):
        writer_decide._check(stranger, writer_state.evolve(None, signed))
    with pytest.raises(TypeError, match="Stranger"):
        risk_state._apply(stranger, risk_state.evolve(None, signed))
    with pytest.raises(TypeError, match="Stranger"):
        ReadModel()._apply(stranger)


def test_the_web_app_words_every_event_type() -> None:
    source = (WEB_APP / "events.js").read_text()
    worded = set(re.findall(r'case "([A-Za-z]+)":', source))
    assert sorted(set(EVENT_TYPES) - worded) == []


def test_the_examples_and_the_history_generator_make_every_event_type() -> None:
    assert sorted(set(EVENT_TYPES) - set(examples.EVENT_TYPE_NAMES)) == []
    made = set(histories._MAKERS) | {"ContractSigned"}  # the generator opens every stream
    assert sorted(set(EVENT_TYPES) - made) == []
