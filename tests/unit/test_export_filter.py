"""What `ledger export events` keeps: a contract, a client, a span of event time."""

from __future__ import annotations

from datetime import date
from typing import Any

from events.serialization import parse_submission
from services.importer.export import ExportFilter, _kept
from simulation.examples import example


def event(type_name: str, contract_id: str, occurred_at: str) -> Any:
    return parse_submission(example(type_name, contract_id=contract_id, occurred_at=occurred_at))[0]


def test_every_event_by_default() -> None:
    e = event("ClientContactLogged", "C-1", "2026-03-01T10:00:00+00:00")
    assert _kept(e, ExportFilter(), {})


def test_contracts_clients_and_dates() -> None:
    e = event("ClientContactLogged", "C-1", "2026-03-01T23:30:00-05:00")  # 04:30 UTC, Mar 2
    clients = {"C-1": "acme"}
    assert _kept(e, ExportFilter(contract_ids=frozenset({"C-1"})), clients)
    assert not _kept(e, ExportFilter(contract_ids=frozenset({"C-2"})), clients)
    assert _kept(e, ExportFilter(client_id="acme"), clients)
    assert not _kept(e, ExportFilter(client_id="other"), clients)
    assert not _kept(e, ExportFilter(client_id="acme"), {})  # its signing not seen
    assert _kept(e, ExportFilter(since=date(2026, 3, 2), until=date(2026, 3, 2)), clients)
    assert not _kept(e, ExportFilter(since=date(2026, 3, 3)), clients)
    assert not _kept(e, ExportFilter(until=date(2026, 3, 1)), clients)
