"""The API's writes of alerts: an alert acknowledged or resolved (a change that never goes
back). The reads are in `services/reads/alerts.py`."""

from __future__ import annotations

from typing import Any

from services.reads.alerts import COLUMNS, Db
from services.reads.formatters import alert_json


async def alert_moved_to(
    db: Db, alert_id: str, to: str, by: str, allowed_from: tuple[str, ...]
) -> dict[str, Any] | None:
    """The alert after moving it to `to` (acknowledged or resolved); None when its status was
    not one of `allowed_from` (nothing changed)."""
    column = "acknowledged" if to == "acknowledged" else "resolved"
    row = await db.fetchrow(
        f"""UPDATE alerts a SET status = $2, {column}_by = $3, {column}_at = now(),
                   change_seq = nextval('alert_change_seq')
            WHERE alert_id = $1 AND status = ANY($4::text[])
            RETURNING {COLUMNS.replace("a.", "")}""",
        alert_id,
        to,
        by,
        list(allowed_from),
    )
    return None if row is None else alert_json(row)
