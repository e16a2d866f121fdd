"""The API's read of a client's health (projections.health): its relationship events from the
audit index, its open raise and markup pressure, its weekly gross profit over 13 weeks (the
trend of its portfolio) and its reported hours against plan; the score as of a day and on each
of the 26 weeks before it, computed from one read of each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from events.serialization import decode_json
from projections.health import (
    TREND_WEEKS,
    Health,
    Relationship,
    change_pct,
    client_health,
    facts_from,
)
from projections.trend import weekly_trend
from services.reads.margin_facts import portfolio

_RELATIONSHIP = ["ClientContactLogged", "ClientComplaintLogged", "BypassThreatReported"]
SPARKLINE_WEEKS = 26
_SHORT = Decimal("0.6")
_KEPT = 4


@dataclass(frozen=True)
class ClientHealth:
    client_id: str
    client_name: str
    as_of: date
    health: Health
    history: list[tuple[date, int]]  # the score on each of the last 26 weeks, oldest first


async def client_health_of(
    pool: asyncpg.Pool, schema: str, owner: str | None, client_id: str, as_of: date
) -> ClientHealth | None:
    """None when the client has no contract the reader may read."""
    s = schema
    where, args = "c.client_id = $1", [client_id]
    if owner is not None:
        where, args = f"{where} AND c.account_manager_id = $2", [client_id, owner]
    contracts = await pool.fetch(
        f"SELECT contract_id, client_name FROM {s}.contracts c WHERE {where}", *args
    )
    if not contracts:
        return None
    cids = [r["contract_id"] for r in contracts]
    events = [
        _relationship(decode_json(r["body"]))
        for r in await pool.fetch(
            f"""SELECT body FROM {s}.event_log
                WHERE contract_id = ANY($1::text[]) AND event_type = ANY($2::text[])""",
            cids,
            _RELATIONSHIP,
        )
    ]
    pressure = await pool.fetchval(
        f"""SELECT count(*) FROM {s}.open_items
            WHERE contract_id = ANY($1::text[]) AND kind IN ('negotiation', 'raise_request')""",
        cids,
    )
    plans = {
        (r["contract_id"], r["assignment_id"]): (
            r["hours_per_week"] + (0 if r["ot_exempt"] else r["planned_ot_hours_per_week"])
        )
        for r in await pool.fetch(
            f"""SELECT contract_id, assignment_id, hours_per_week, planned_ot_hours_per_week,
                       ot_exempt FROM {s}.assignments WHERE contract_id = ANY($1::text[])""",
            cids,
        )
    }
    hours: dict[tuple[str, str], list[tuple[date, Decimal]]] = {}
    for h in await pool.fetch(
        f"""SELECT contract_id, assignment_id, week, regular_hours + ot_hours + dt_hours AS total
            FROM {s}.hours_reported WHERE contract_id = ANY($1::text[]) ORDER BY week""",
        cids,
    ):
        hours.setdefault((h[0], h[1]), []).append((h[2], h[3]))
    p = await portfolio(pool, s, where, *args)
    days = [as_of - timedelta(weeks=k) for k in range(SPARKLINE_WEEKS)][::-1]
    wanted = sorted({d for day in days for d in (day, day - timedelta(weeks=TREND_WEEKS))})
    gp = {
        t.day: t.weekly_gross_profit for t in weekly_trend(p.assignments, p.terms_history, wanted)
    }
    scores = []
    for day in days:
        trend = change_pct(gp[day - timedelta(weeks=TREND_WEEKS)], gp[day])
        facts = facts_from(events, day, int(pressure), trend, _short_weeks(hours, plans, day))
        scores.append((day, client_health(facts)))
    return ClientHealth(
        client_id,
        contracts[0]["client_name"],
        as_of,
        scores[-1][1],
        [(day, h.score) for day, h in scores],
    )


def _relationship(e: dict[str, Any]) -> Relationship:
    return Relationship(
        occurred_at=datetime.fromisoformat(e["occurred_at"]),
        type=e["type"],
        outbound=e.get("direction") == "outbound",
        responded=bool(e.get("responded")),
        legal_threat=bool(e.get("legal_threat")),
    )


def _short_weeks(
    hours: dict[tuple[str, str], list[tuple[date, Decimal]]],
    plans: dict[tuple[str, str], Decimal],
    day: date,
) -> int:
    """Of each assignment's last 4 weeks reported by `day`, those under 60 % of its plan."""
    short = 0
    for key, weeks in hours.items():
        plan = plans.get(key)
        if plan is None:
            continue
        recent: Sequence[tuple[date, Decimal]] = [w for w in weeks if w[0] <= day][-_KEPT:]
        short += sum(total < _SHORT * plan for _, total in recent)
    return short
