"""The API's reads of alerts (and the webhook deliverer's): one function per read, named after
what it returns. Account managers are scoped by `owner`: None reads every contract."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeAlias

import asyncpg

from projections import margin
from services.reads.formatters import alert_json

Db: TypeAlias = asyncpg.Pool | asyncpg.Connection

COLUMNS = """a.alert_id, a.rule, a.severity, a.basis, a.contract_id, a.client_name,
    a.assignment_id, a.staffer_id, a.exposure, a.message, a.event_ids, a.raised_at,
    a.stream_version, a.status, a.acknowledged_by, a.acknowledged_at, a.resolved_by,
    a.resolved_at, a.seq, a.change_seq"""

# Only rows written by transactions older than every transaction still running: a number taken
# by a transaction that commits late is never skipped by a reader that has moved past it.
SEVERITIES = ("critical", "high", "medium", "low")
_OWNER_COLUMNS = "c.client_id, c.account_manager_id"

COMMITTED_BEFORE_RUNNING = (
    "a.xmin::text::bigint < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint % 4294967296)"
)


def _owner_join(schema: str) -> str:
    return f"LEFT JOIN {schema}.contracts c ON c.contract_id = a.contract_id"


def _where(owner: str | None, filters: dict[str, str | None]) -> tuple[str, list[Any]]:
    """Filters are `column = value` (None is no filter); columns of `alerts a` or its
    contract `c`."""
    conds, args = ["true"], []
    for column, value in [*filters.items(), ("c.account_manager_id", owner)]:
        if value is not None:
            args.append(value)
            conds.append(f"{column} = ${len(args)}")
    return " AND ".join(conds), args


async def alert_page(
    db: Db,
    schema: str,
    owner: str | None,
    filters: dict[str, str | None],
    limit: int,
    offset: int,
) -> dict[str, Any]:
    """A page of the alerts matching the filters, newest raised first, with their contract's
    client and manager, and the `totals` of every alert they match."""
    where, args = _where(owner, filters)
    page_args = [*args, limit, offset]
    rows = await db.fetch(
        f"""SELECT {COLUMNS}, {_OWNER_COLUMNS} FROM alerts a {_owner_join(schema)}
            WHERE {where} ORDER BY a.raised_at DESC, a.seq DESC
            LIMIT ${len(page_args) - 1} OFFSET ${len(page_args)}""",
        *page_args,
    )
    return {
        "alerts": [alert_json(r) for r in rows],
        "totals": await alert_totals(db, schema, owner, filters),
        "limit": limit,
        "offset": offset,
    }


async def alert_totals(
    db: Db, schema: str, owner: str | None, filters: dict[str, str | None]
) -> dict[str, dict[str, Any]]:
    """Per severity (every one, 0 when none): how many alerts match the filters and the sum of
    their exposure, rounded to cents."""
    where, args = _where(owner, filters)
    rows = await db.fetch(
        f"""SELECT a.severity, count(*) AS count, coalesce(sum(a.exposure), 0) AS exposure
            FROM alerts a {_owner_join(schema)} WHERE {where} GROUP BY a.severity""",
        *args,
    )
    sums = {r["severity"]: (r["count"], r["exposure"]) for r in rows}
    return {
        sev: {"count": n, "exposure": str(margin.round_money(total))}
        for sev in SEVERITIES
        for n, total in [sums.get(sev, (0, Decimal(0)))]
    }


async def latest_alert_change(db: Db) -> int:
    """The number of the latest change to any alert (0: none yet)."""
    return int(await db.fetchval("SELECT coalesce(max(change_seq), 0) FROM alerts"))


async def alert_changes_after(
    db: Db, schema: str, owner: str | None, change_seq: int, limit: int = 100
) -> list[tuple[int, dict[str, Any]]]:
    """(change number, alert) of the alerts changed after `change_seq`, oldest change first."""
    scope, args = ("true", []) if owner is None else ("c.account_manager_id = $3", [owner])
    rows = await db.fetch(
        f"""SELECT {COLUMNS}, {_OWNER_COLUMNS} FROM alerts a {_owner_join(schema)}
            WHERE a.change_seq > $1 AND {scope} AND {COMMITTED_BEFORE_RUNNING}
            ORDER BY a.change_seq LIMIT $2""",
        change_seq,
        limit,
        *args,
    )
    return [(r["change_seq"], alert_json(r)) for r in rows]


async def alert_status_and_owner(db: Db, schema: str, alert_id: str) -> asyncpg.Record | None:
    """(status, account_manager_id of its contract) of one alert; None when unknown."""
    return await db.fetchrow(
        f"""SELECT a.status, c.account_manager_id FROM alerts a {_owner_join(schema)}
            WHERE a.alert_id = $1""",
        alert_id,
    )


async def alerts_of_events(
    db: Db, keys: list[tuple[str, int]]
) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """The alerts raised by each (contract_id, stream_version), in the order raised."""
    out: dict[tuple[str, int], list[dict[str, Any]]] = {k: [] for k in keys}
    if keys:
        for r in await db.fetch(
            f"""SELECT {COLUMNS} FROM alerts a
                JOIN unnest($1::text[], $2::int[]) AS w(cid, v)
                  ON a.contract_id = w.cid AND a.stream_version = w.v
                ORDER BY a.seq""",
            [c for c, _ in keys],
            [v for _, v in keys],
        ):
            out[(r["contract_id"], r["stream_version"])].append(alert_json(r))
    return out


async def judged_versions(db: Db, events_topic: str, contract_ids: list[str]) -> dict[str, int]:
    """The stream version up to which the risk rules have judged each contract."""
    rows = await db.fetch(
        """SELECT contract_id, stream_version FROM risk_progress
           WHERE events_topic = $1 AND contract_id = ANY($2)""",
        events_topic,
        contract_ids,
    )
    return {r["contract_id"]: r["stream_version"] for r in rows}


async def alerts_after_seq(db: Db, seq: int, limit: int = 100) -> list[asyncpg.Record]:
    """Alerts stored after `seq` (committed before every running transaction), in order:
    what a webhook receiver is due next. Rows keep `seq` and `severity` for its cursor."""
    rows: list[asyncpg.Record] = await db.fetch(
        f"""SELECT {COLUMNS} FROM alerts a
            WHERE a.seq > $1 AND {COMMITTED_BEFORE_RUNNING}
            ORDER BY a.seq LIMIT $2""",
        seq,
        limit,
    )
    return rows


async def active_webhook_ids(db: Db) -> set[str]:
    return {r["webhook_id"] for r in await db.fetch("SELECT webhook_id FROM webhooks WHERE active")}


async def webhook(db: Db, webhook_id: str) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT * FROM webhooks WHERE webhook_id = $1", webhook_id)


async def webhooks_status(db: Db) -> list[dict[str, Any]]:
    """Each receiver's delivery status: delivered, pending, last error."""
    rows = await db.fetch(
        """SELECT w.webhook_id, w.url, w.min_severity, w.active, w.delivered, w.attempts,
                  w.last_status, w.last_error, w.last_attempt_at,
                  (SELECT count(*) FROM alerts a WHERE a.seq > w.cursor_seq) AS pending
           FROM webhooks w ORDER BY w.created_at"""
    )
    return [dict(r) for r in rows]


async def alert_counts(db: Db) -> list[tuple[str, str, int]]:
    """(status, severity, how many) of the stored alerts."""
    rows = await db.fetch(
        "SELECT status, severity, count(*) AS n FROM alerts GROUP BY status, severity"
    )
    return [(r["status"], r["severity"], r["n"]) for r in rows]
