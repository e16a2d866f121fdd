"""A batch of the risk agent that waits for the log's index says so once, then, once it has
waited `INDEX_STUCK_S`, says at WARNING that it is stuck; and is judged when the index has the
events it lacked."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, cast

import pytest

from events.alerts import Alert
from events.catalogue import EventBase
from events.serialization import encode_event
from projections.risk.state import RiskState
from services.risk import agent, outlets, states
from simulation.examples import example, stamped


class _Index:
    """The projector's index of the log, which lacks the contract's first event for `lacking`
    reads."""

    def __init__(self, first: EventBase, lacking: int) -> None:
        self.first = first
        self.lacking = lacking
        self.saved: list[dict[str, int]] = []

    async def gap_from_log(self, state: RiskState | None, event: EventBase) -> list[EventBase]:
        if self.lacking > 0:
            self.lacking -= 1
            raise outlets.LogNotIndexedYet(f"contract {event.contract_id}: 0 of its events 1 to 1")
        return [self.first]

    async def save(self, alerts: Sequence[Alert], judged: dict[str, int]) -> None:
        self.saved.append(judged)

    async def publish(self, owns: Any) -> None:
        pass


def _record(event: EventBase, offset: int) -> Any:
    message = SimpleNamespace(topic="t.events", partition=0, offset=offset, timestamp=0)
    return SimpleNamespace(value=encode_event(event), message=message)


async def test_a_batch_that_waits_for_the_index_says_so_then_warns_that_it_is_stuck(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(agent, "_INDEX_WAIT_S", 0.01)
    monkeypatch.setattr(agent, "INDEX_STUCK_S", 0.05)
    signed, started = stamped(
        [example("ContractSigned", contract_id="C-1"),
         example("AssignmentStarted", contract_id="C-1")]
    )  # fmt: skip
    # 30 waits of at least 0.01 s: past INDEX_STUCK_S whatever the machine's speed.
    index = _Index(signed, lacking=30)
    table: dict[bytes, bytes] = {}
    risk_agent = agent.RiskAgent(states.States(cast(Any, table), 6), cast(Any, index))
    with caplog.at_level(logging.INFO, logger="ledger.risk"):
        await asyncio.wait_for(risk_agent.judge([_record(started, 1)]), 30)
    said = [r for r in caplog.records if "log's index" in r.getMessage()]
    assert [r.levelno for r in said][:1] == [logging.INFO]
    assert len([r for r in said if r.levelno == logging.INFO]) == 1  # not once per retry
    stuck = [r for r in said if r.levelno == logging.WARNING]
    assert stuck and "has waited" in stuck[0].getMessage() and "C-1" in stuck[0].getMessage()
    # Then judged, the gap with it: the contract at its second event.
    assert index.saved == [{"C-1": 2}]
    state = risk_agent.states.get(b"C-1")
    assert state is not None and state.version == 2
