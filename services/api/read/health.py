"""The API's read of a client's health (projections.health): its relationship events from the
audit index, its open raise and markup pressure, its weekly gross profit over 13 weeks (the
trend of its portfolio) and its reported hours against plan; the score as of a day and on each
of the 26 weeks before it, computed from one read of each (`client_health_of`). And every
client's score on a day at once, from one read of each fact for all of them (`client_scores`),
with each account manager's mean of their clients' (`health_columns`): the sortable health
column of the client and account-manager tables."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
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
from projections.trend import TrendAssignment, weekly_trend
from services.api.read.margin_facts import Portfolio, portfolio

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
    plans, hours = await _plans_and_hours(pool, s, cids)
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


async def _plans_and_hours(
    pool: asyncpg.Pool, s: str, cids: list[str]
) -> tuple[dict[tuple[str, str], Decimal], dict[tuple[str, str], list[tuple[date, Decimal]]]]:
    """Each assignment's planned week, and its reported weeks' hours by week."""
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
    return plans, hours


async def client_scores(
    pool: asyncpg.Pool, schema: str, owner: str | None, as_of: date, p: Portfolio
) -> dict[str, int]:
    """Each client's health score on `as_of` over the contracts the reader may read (`p`: the
    reader's portfolio, already read for the tables): what `client_health_of` answers for each,
    from one read of each fact for every client."""
    s = schema
    where, args = ("true", []) if owner is None else ("c.account_manager_id = $1", [owner])
    client_of: dict[str, str] = {
        r["contract_id"]: r["client_id"]
        for r in await pool.fetch(
            f"SELECT contract_id, client_id FROM {s}.contracts c WHERE {where}", *args
        )
    }
    if not client_of:
        return {}
    cids = list(client_of)
    events: dict[str, list[Relationship]] = {}
    for r in await pool.fetch(
        f"""SELECT contract_id, body FROM {s}.event_log
            WHERE contract_id = ANY($1::text[]) AND event_type = ANY($2::text[])""",
        cids,
        _RELATIONSHIP,
    ):
        events.setdefault(client_of[r[0]], []).append(_relationship(decode_json(r[1])))
    pressure: dict[str, int] = {}
    for r in await pool.fetch(
        f"""SELECT contract_id, count(*) FROM {s}.open_items
            WHERE contract_id = ANY($1::text[]) AND kind IN ('negotiation', 'raise_request')
            GROUP BY contract_id""",
        cids,
    ):
        client = client_of[r[0]]
        pressure[client] = pressure.get(client, 0) + int(r[1])
    plans, hours = await _plans_and_hours(pool, s, cids)
    by_client: dict[str, list[TrendAssignment]] = {}
    for a, ids in zip(p.assignments, p.ids, strict=True):
        by_client.setdefault(ids["client_id"], []).append(a)
    contracts_of: dict[str, list[str]] = {}
    for cid, client in client_of.items():
        contracts_of.setdefault(client, []).append(cid)
    before = as_of - timedelta(weeks=TREND_WEEKS)
    scores = {}
    for client in sorted(contracts_of):
        # Only the client's own terms: the trend reads every history it is given.
        terms = {c: p.terms_history[c] for c in contracts_of[client] if c in p.terms_history}
        gp = {
            t.day: t.weekly_gross_profit
            for t in weekly_trend(by_client.get(client, []), terms, [before, as_of])
        }
        mine = {k: v for k, v in hours.items() if client_of[k[0]] == client}
        facts = facts_from(
            events.get(client, []),
            as_of,
            pressure.get(client, 0),
            change_pct(gp[before], gp[as_of]),
            _short_weeks(mine, plans, as_of),
        )
        scores[client] = client_health(facts).score
    return scores


def health_columns(
    scores: dict[str, int], ids: Iterable[dict[str, Any]], key: str
) -> dict[str, dict[str, Any]]:
    """The health column of the table of `key` (client_id: each client's score; or
    account_manager_id: the mean of the scores of the clients they have a contract with,
    rounded half up), by the group's id."""
    if key == "client_id":
        return {c: {"health_score": n} for c, n in scores.items()}
    clients: dict[str, set[str]] = {}
    for i in ids:
        clients.setdefault(i[key], set()).add(i["client_id"])
    out = {}
    for group, mine in clients.items():
        known = [scores[c] for c in mine if c in scores]
        if known:
            mean = Decimal(sum(known)) / len(known)
            out[group] = {"health_score": int(mean.to_integral_value(rounding=ROUND_HALF_UP))}
    return out


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
