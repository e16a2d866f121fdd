"""The API's reads of submissions: the verdict a submission answered 202 got since."""

from __future__ import annotations

import uuid
from typing import TypeAlias

import asyncpg

Db: TypeAlias = asyncpg.Pool | asyncpg.Connection


async def submission(
    db: Db, event_id: uuid.UUID, submitted_by: str | None
) -> asyncpg.Record | None:
    """The latest submission of the event (decided ones first); `submitted_by` None reads
    anyone's. Columns: event_id, contract_id, submitted_by, verdict (JSON or NULL)."""
    return await db.fetchrow(
        """SELECT event_id, contract_id, submitted_by, verdict FROM submissions
           WHERE event_id = $1 AND ($2::text IS NULL OR submitted_by = $2)
           ORDER BY (verdict IS NULL), submitted_at DESC LIMIT 1""",
        event_id,
        submitted_by,
    )
