"""Reading an account manager's contracts, with their margin status and open items."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Final

import asyncpg

from projections.margin_status import worst
from projections.rollup import AssignmentMargin, margin_status
from services.reads.margin_facts import assignment_margins, terms_on

_ITEM_LISTS: Final = {
    "negotiation": "open_negotiations",
    "raise_request": "open_raise_requests",
    "bypass_threat": "bypass_threats",
}


async def contracts_overview(
    pool: asyncpg.Pool,
    schema: str,
    as_of: date,
    account_manager_id: str | None,
    limit: int,
    offset: int,
    contract_id: str | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """(how many contracts match, the page of them): each with its terms, its active
    assignments' figures and status colour, its open negotiations, raise requests and bypass
    threats and its open alerts. `account_manager_id` None means every manager's contracts."""
    total, rows = await _page(pool, schema, account_manager_id, contract_id, limit, offset)
    ids = [r["contract_id"] for r in rows]
    if not ids:
        return total, []
    margins = await assignment_margins(pool, schema, as_of, "a.contract_id = ANY($2::text[])", ids)
    terms = await terms_on(pool, schema, ids, as_of)
    items = await pool.fetch(
        f"""SELECT contract_id, kind, item_id, assignment_id FROM {schema}.open_items
            WHERE contract_id = ANY($1::text[]) ORDER BY contract_id, opened_version""",
        ids,
    )
    alerts = await pool.fetch(
        """SELECT contract_id, severity, count(*) AS n FROM alerts
           WHERE contract_id = ANY($1::text[]) AND status <> 'resolved'
           GROUP BY contract_id, severity""",
        ids,
    )
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        floor = terms[r["contract_id"]].markup_floor_pct if r["contract_id"] in terms else None
        out[r["contract_id"]] = {
            **dict(r),
            "markup_floor_pct": floor,
            "assignments": [],
            **{name: [] for name in _ITEM_LISTS.values()},
            "open_alerts": {},
        }
    for m, _ in margins:
        if m.status == "active":
            c = out[m.facts.contract_id]
            c["assignments"].append(_active_assignment(m, c["markup_floor_pct"]))
    for i in items:
        out[i["contract_id"]][_ITEM_LISTS[i["kind"]]].append(
            {"id": i["item_id"], "assignment_id": i["assignment_id"]}
        )
    for a in alerts:
        out[a["contract_id"]]["open_alerts"][a["severity"]] = a["n"]
    for c in out.values():
        c["margin_status"] = worst(a["margin_status"] for a in c["assignments"])
    return total, list(out.values())


async def _page(
    pool: asyncpg.Pool,
    schema: str,
    account_manager_id: str | None,
    contract_id: str | None,
    limit: int,
    offset: int,
) -> tuple[int, list[asyncpg.Record]]:
    """How many contracts match, and the page of them by client name."""
    conds, args = ["true"], []
    for column, value in (("c.account_manager_id", account_manager_id),
                          ("c.contract_id", contract_id)):  # fmt: skip
        if value is not None:
            args.append(value)
            conds.append(f"{column} = ${len(args)}")
    scope = " AND ".join(conds)
    total = await pool.fetchval(f"SELECT count(*) FROM {schema}.contracts c WHERE {scope}", *args)
    rows = await pool.fetch(
        f"""SELECT c.contract_id, c.client_id, c.client_name, c.account_manager_id, c.status,
                   c.start_date, c.end_date, c.min_assignment_weeks, c.stream_version
            FROM {schema}.contracts c WHERE {scope}
            ORDER BY c.client_name, c.contract_id LIMIT {limit} OFFSET {offset}""",
        *args,
    )
    return total, list(rows)


def _active_assignment(m: AssignmentMargin, floor: Decimal | None) -> dict[str, Any]:
    f = m.figures
    return {
        "assignment_id": m.facts.assignment_id,
        "staffer_id": m.facts.staffer_id,
        "staffer_name": m.facts.staffer_name,
        "job_title": m.facts.job_title,
        "pay_rate": f.pay_rate,
        "bill_rate": f.bill_rate,
        "markup_pct": f.markup_pct,
        "margin_per_hour": f.margin_per_hour,
        "weekly_gross_profit": f.weekly_gross_profit,
        "margin_status": margin_status(f.margin_per_hour, f.markup_pct, floor),
    }


async def contract_overview(
    pool: asyncpg.Pool, schema: str, contract_id: str, as_of: date
) -> dict[str, Any] | None:
    """One contract's overview, as `contracts_overview` gives it (its account manager
    included, for the access check); None when the contract is not known (yet)."""
    _, rows = await contracts_overview(pool, schema, as_of, None, 1, 0, contract_id=contract_id)
    return rows[0] if rows else None
