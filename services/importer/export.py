"""`ledger export events`: the log of record (the events topic) as JSON lines, and a manifest.

Each partition is read from its start to its end as it is when the export starts (committed
records only), one record at a time, so an export of any size streams. Every event is written
as it is logged (stamps and stream version kept), one a line, a contract's events in stream
order: `ledger import placements` of the file (JSON lines are told from their first `{`)
replays it through the writer, each event expecting its stream at the version before its own.
The manifest counts events per type, gives each partition's first and last offset exported,
and the SHA-256 of the exported bytes.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, BinaryIO, Final

from events.catalogue import ContractSigned
from events.serialization import decode_event, encode_event
from events.topics import TopicSpec
from services.kafka_log import read_partition

MANIFEST_FORMAT: Final = "markup-ledger events export 1"


@dataclass(frozen=True)
class ExportFilter:
    """What to export: every event, or those of some contracts, of one client, or of a span
    of event time (occurred_at's date, both ends included)."""

    contract_ids: frozenset[str] = frozenset()
    client_id: str | None = None
    since: date | None = None
    until: date | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "contract_ids": sorted(self.contract_ids),
            "client_id": self.client_id,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }


@dataclass
class Manifest:
    topic: str
    filter: ExportFilter
    counts: Counter[str] = field(default_factory=Counter)
    partitions: dict[int, dict[str, int]] = field(default_factory=dict)
    digest: Any = field(default_factory=hashlib.sha256)

    def as_json(self, exported_at: datetime) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "topic": self.topic,
            "exported_at": exported_at.isoformat(),
            "filter": self.filter.describe(),
            "events": sum(self.counts.values()),
            "counts": dict(sorted(self.counts.items())),
            "partitions": {str(p): v for p, v in sorted(self.partitions.items())},
            "sha256": self.digest.hexdigest(),
        }


async def export(bootstrap: str, topic: TopicSpec, out: BinaryIO, keep: ExportFilter) -> Manifest:
    """Writes the events `keep` picks to `out`, partition by partition; the manifest of it."""
    manifest = Manifest(topic.name, keep)
    for partition in range(topic.partitions):
        clients: dict[str, str] = {}  # contract id -> client id, from its ContractSigned
        async for record in read_partition(bootstrap, topic.name, partition):
            if not record.value:
                continue
            event = decode_event(record.value)
            if isinstance(event, ContractSigned):
                clients[event.contract_id] = event.client_id
            if not _kept(event, keep, clients):
                continue
            line = encode_event(event) + b"\n"
            out.write(line)
            manifest.digest.update(line)
            manifest.counts[event.type] += 1
            span = manifest.partitions.setdefault(
                partition,
                {"first_offset": record.offset, "last_offset": record.offset, "events": 0},
            )
            span["last_offset"] = record.offset
            span["events"] += 1
    return manifest


def _kept(event: Any, keep: ExportFilter, clients: dict[str, str]) -> bool:
    if keep.contract_ids and event.contract_id not in keep.contract_ids:
        return False
    if keep.client_id is not None and clients.get(event.contract_id) != keep.client_id:
        return False
    day = event.occurred_at.astimezone(UTC).date()
    if keep.since is not None and day < keep.since:
        return False
    return keep.until is None or day <= keep.until


__all__ = ["MANIFEST_FORMAT", "ExportFilter", "Manifest", "export"]
