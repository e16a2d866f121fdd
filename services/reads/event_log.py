"""The API's reads of the audit index (`event_log`, written by the projector): one contract's
accepted events a page at a time, by stream version, in O(the page) whatever the log's length."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import asyncpg

Db: TypeAlias = asyncpg.Pool | asyncpg.Connection


# A page of one contract's events: the primary key's range, read in order, nothing else.
PAGE_SQL = """SELECT body FROM {schema}.event_log
    WHERE contract_id = $1 AND stream_version > $2
    ORDER BY stream_version LIMIT $3"""


@dataclass(frozen=True)
class Page:
    account_manager_id: str
    stream_version: int  # the latest version projected
    bodies: list[str]  # the events' JSON as in the log, by stream version
    more: bool  # events after the last of `bodies` are projected too


async def contract_page(
    db: Db, schema: str, contract_id: str, after_version: int, limit: int
) -> Page | None:
    """The contract's events with stream_version > after_version, at most `limit` of them;
    None when no event of the contract is projected."""
    head = await db.fetchrow(
        f"SELECT account_manager_id, stream_version FROM {schema}.contracts WHERE contract_id = $1",
        contract_id,
    )
    if head is None:
        return None
    rows = await db.fetch(
        PAGE_SQL.format(schema=schema),
        contract_id,
        after_version,
        limit + 1,
    )
    return Page(
        account_manager_id=head["account_manager_id"],
        stream_version=head["stream_version"],
        bodies=[r["body"] for r in rows[:limit]],
        more=len(rows) > limit,
    )


async def contract_bodies(db: Db, schema: str, contract_id: str) -> list[str]:
    """Every indexed event of the contract, its JSON as in the log, by stream version."""
    rows = await db.fetch(PAGE_SQL.format(schema=schema), contract_id, 0, None)
    return [r["body"] for r in rows]


async def projected_offset(db: Db, schema: str, partition: int) -> int:
    """The next offset of the events topic's `partition` the projector will apply."""
    found = await db.fetchval(
        f"SELECT next_offset FROM {schema}.positions WHERE partition = $1", partition
    )
    return int(found or 0)
