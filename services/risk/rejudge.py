"""`ledger risk rejudge --since DATE [--rule RULE ...] [--dry-run]`: the alerts that the rules
raise on the events logged since a day, raised now, on an admin's request.

The risk agent raises a rule's alert only for an event logged on or after the rule's release
(`projections/risk/rules/releases.py`): a running system gains a rule without a flood over its
history. An admin who wants the history judged too asks for it here. The command reads the
events topic from its start (committed records, partition by partition: a contract's events in
order), folds every contract with the agent's own pure step (`projections.risk.judge`), in its
own memory, beside the live agents (their tables and offsets are not touched), and keeps the
alerts raised by the events logged (appended to the topic) on or after DATE, of the rules
named (default every rule). Those not already stored are inserted (`ON CONFLICT DO NOTHING`
on their deterministic ids, as the agent does: run it twice, it raises nothing twice); the
live agent publishes them to the alerts topic from its outbox at its next tick, so the
webhooks and routes get them as any alert. `--dry-run` stores nothing and prints the counts.

RELATIONSHIP_NEGLECT is judged at each event's own time here, as in the preview; the agent's
timer, which also judges quiet contracts at the latest event time, is not replayed.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TextIO

from events.alerts import Alert
from events.serialization import decode_event
from projections.risk.log_pass import LogPass
from services.db import connection
from services.kafka_log import log_ends, read_partition
from services.projector.commands import _Reporter as Reporter  # the rebuild's progress
from services.risk.storage import store_alerts
from services.settings import Settings

log = logging.getLogger("ledger.risk.rejudge")

_LOOKUP_CHUNK = 10_000


@dataclass
class Rejudged:
    events: int = 0
    skipped: int = 0  # records not decoded or not folded (the agent skips them too)
    raised: Counter[str] = field(default_factory=Counter)  # by rule: raised since the day
    new: Counter[str] = field(default_factory=Counter)  # by rule: of those, not yet stored


async def rejudge(
    settings: Settings,
    since: date,
    rules: frozenset[str] | None = None,
    dry_run: bool = False,
    out: TextIO = sys.stdout,
    progress: TextIO = sys.stderr,
) -> Rejudged:
    topic = settings.topics.events
    ends = await log_ends(settings.kafka_bootstrap_servers, topic)
    report = Reporter(sum(ends.values()), progress)
    started = time.time()
    result = Rejudged()
    wanted: list[Alert] = []
    for partition in sorted(ends):
        fold = LogPass(releases=False)  # a partition's contracts are its own
        async for record in read_partition(settings.kafka_bootstrap_servers, topic.name, partition):
            result.events += 1
            report(result.events, started)
            try:
                raised = fold.judge(decode_event(record.value), None)
            except Exception:
                log.warning("%s/%d offset %d skipped", topic.name, partition, record.offset,
                            exc_info=True)  # fmt: skip
                result.skipped += 1
                continue
            logged = datetime.fromtimestamp(record.timestamp / 1000, UTC)
            if logged.date() < since:
                continue
            wanted += [a for a in raised if rules is None or a.rule in rules]
    report.finish()
    async with connection(settings.dsn) as conn:
        stored: set[str] = set()
        ids = [a.alert_id for a in wanted]
        for i in range(0, len(ids), _LOOKUP_CHUNK):
            stored.update(
                r["alert_id"]
                for r in await conn.fetch(
                    "SELECT alert_id FROM alerts WHERE alert_id = ANY($1::text[])",
                    ids[i : i + _LOOKUP_CHUNK],
                )
            )
        new = [a for a in wanted if a.alert_id not in stored]
        result.raised.update(a.rule for a in wanted)
        result.new.update(a.rule for a in new)
        if new and not dry_run:
            async with conn.transaction():
                await store_alerts(conn, new)
    _print(result, since, dry_run, out)
    return result


def _print(r: Rejudged, since: date, dry_run: bool, out: TextIO) -> None:
    verb = "would raise" if dry_run else "raised now"
    print(f"{r.events:,} events judged ({r.skipped} skipped); alerts of the events logged "
          f"since {since.isoformat()}:", file=out)  # fmt: skip
    print(f"{'rule':<24}{'since the day':>14}{'stored already':>16}{verb:>14}", file=out)
    for rule in sorted(r.raised):
        print(f"{rule:<24}{r.raised[rule]:>14,}{r.raised[rule] - r.new[rule]:>16,}"
              f"{r.new[rule]:>14,}", file=out)  # fmt: skip
    print(f"{'total':<24}{r.raised.total():>14,}{r.raised.total() - r.new.total():>16,}"
          f"{r.new.total():>14,}", file=out)  # fmt: skip
