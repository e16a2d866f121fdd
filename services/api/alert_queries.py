"""Reading alerts for GET /v1/alerts: the filtered page and the exposure totals by severity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

ALERT_COLUMNS = """a.alert_id, a.rule, a.severity, a.basis, a.contract_id, a.client_name,
    a.assignment_id, a.staffer_id, a.exposure, a.message, a.event_ids, a.raised_at,
    a.stream_version, a.status, a.acknowledged_by, a.acknowledged_at, a.resolved_by,
    a.resolved_at, a.seq, a.change_seq"""

SEVERITIES = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class AlertFilter:
    status: str | None = None
    severity: str | None = None
    rule: str | None = None
    contract_id: str | None = None
    client_id: str | None = None
    account_manager_id: str | None = None
    scope_manager_id: str | None = None  # an account manager's own contracts only

    def where(self) -> tuple[str, list[Any]]:
        conds, args = ["true"], []
        for column, value in (
            ("a.status", self.status),
            ("a.severity", self.severity),
            ("a.rule", self.rule),
            ("a.contract_id", self.contract_id),
            ("c.client_id", self.client_id),
            ("c.account_manager_id", self.account_manager_id),
            ("c.account_manager_id", self.scope_manager_id),
        ):
            if value is not None:
                args.append(value)
                conds.append(f"{column} = ${len(args)}")
        return " AND ".join(conds), args


def _join(schema: str) -> str:
    return f"LEFT JOIN {schema}.contracts c ON c.contract_id = a.contract_id"


async def alert_page(
    pool: asyncpg.Pool, schema: str, f: AlertFilter, limit: int, offset: int
) -> list[asyncpg.Record]:
    where, args = f.where()
    return await pool.fetch(
        f"""SELECT {ALERT_COLUMNS}, c.client_id, c.account_manager_id FROM alerts a {_join(schema)}
            WHERE {where} ORDER BY a.seq DESC LIMIT {limit} OFFSET {offset}""",
        *args,
    )


async def alert_totals(pool: asyncpg.Pool, schema: str, f: AlertFilter) -> list[asyncpg.Record]:
    """Per severity: how many alerts match and the sum of their exposure (exact)."""
    where, args = f.where()
    return await pool.fetch(
        f"""SELECT a.severity, count(*) AS count, coalesce(sum(a.exposure), 0) AS exposure
            FROM alerts a {_join(schema)} WHERE {where} GROUP BY a.severity""",
        *args,
    )
