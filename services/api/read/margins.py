"""The API's reads of the margin read models: one function per read, named after what it
returns, each answering rows as the API shows them (money rounded to cents half-up, the rest
to 2 places, as strings). Account managers are scoped by `owner`: None reads every contract."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from projections import margin
from projections.read_model import ImpactRow
from projections.rollup import AssignmentMargin, RollUp, roll_up
from services.api.read.margin_facts import assignment_margins, terms_on

Db = asyncpg.Pool | asyncpg.Connection

MONEY = {
    "pay_rate",
    "bill_rate",
    "spread",
    "burdened_cost",
    "margin_per_hour",
    "weekly_gross_profit",
    "remaining_gross_profit",
    "conversion_fee_due",
    "weekly_billing",
    "at_risk_weekly_gross_profit",
}


def show(name: str, value: Any) -> Any:
    if isinstance(value, Decimal):
        if name in MONEY or name.endswith(tuple(MONEY)):
            return str(margin.round_money(value))
        return str(margin.round_pct(value))  # percentages, weeks, hours: 2 places
    if isinstance(value, date):
        return value.isoformat()
    return value


def assignment_json(m: AssignmentMargin, ids: dict[str, Any]) -> dict[str, Any]:
    f, x = m.figures, m.facts
    out: dict[str, Any] = {
        "assignment_id": x.assignment_id,
        "contract_id": x.contract_id,
        **ids,
        "staffer_id": x.staffer_id,
        "staffer_name": x.staffer_name,
        "job_title": x.job_title,
        "status": m.status,
        "start_date": x.start_date,
        "expected_end_date": x.expected_end_date,
        "end_date": x.end_date,
        "end_reason": x.end_reason,
        "rates_effective_date": x.rates_effective,
    }
    for name in f.__dataclass_fields__:
        out[name] = getattr(f, name)
    out["open_negotiations"] = [i for k, i in x.open_items if k == "negotiation"]
    out["open_raise_requests"] = [i for k, i in x.open_items if k == "raise_request"]
    out["bypass_threats"] = [i for k, i in x.open_items if k == "bypass_threat"]
    out["at_risk"] = x.at_risk
    out["stream_version"] = x.stream_version
    return {k: show(k, v) for k, v in out.items()}


def rollup_json(r: RollUp) -> dict[str, Any]:
    return {k: show(k, getattr(r, k)) for k in r.__dataclass_fields__}


_IMPACT_HEAD = (
    "event_id",
    "assignment_id",
    "contract_id",
    "stream_version",
    "event_type",
    "basis",
    "counted_from",
    "occurred_at",
)
_IMPACT_TERMS = ("burden_pct", "msp_fee_pct", "hours_per_week", "start_date", "expected_end_date")
_IMPACT_FIGURES = tuple(f.name for f in dataclasses.fields(margin.ImpactFigures))
_IMPACT_FIELDS = tuple(f.name for f in dataclasses.fields(ImpactRow))


def impact_json(r: dict[str, Any]) -> dict[str, Any]:
    """A stored impact row with its figures (computed here from the stored facts): before,
    after and delta of each, then the terms they were computed with."""
    impact = ImpactRow(**{k: r[k] for k in _IMPACT_FIELDS}).impact
    out: dict[str, Any] = {k: r[k] for k in _IMPACT_HEAD}
    out["event_id"] = str(r["event_id"])
    out["occurred_at"] = r["occurred_at"].isoformat()
    for name in _IMPACT_FIGURES:
        for side in ("before", "after", "delta"):
            out[f"{side}_{name}"] = getattr(getattr(impact, side), name)
    for k in (*_IMPACT_TERMS, *(k for k in r if k not in out and k not in _IMPACT_TERMS)):
        out[k] = r[k]
    return {k: v if k in ("event_id", "occurred_at") else show(k, v) for k, v in out.items()}


async def margins_of_assignments(
    db: Db, schema: str, owner: str | None, as_of: date, where: str, *args: Any
) -> list[tuple[AssignmentMargin, dict[str, Any]]]:
    """Each assignment's margin as of the date, for those `where` picks (its arguments from
    $2), limited to the owner's contracts."""
    scope, scope_args = ("true", []) if owner is None else (
        f"c.account_manager_id = ${len(args) + 2}", [owner]
    )  # fmt: skip
    return await assignment_margins(db, schema, as_of, f"({where}) AND {scope}", *args, *scope_args)


async def contract(db: Db, schema: str, contract_id: str) -> asyncpg.Record | None:
    """A contract's row of the read model; None when not known (yet)."""
    return await db.fetchrow(
        f"SELECT * FROM {schema}.contracts WHERE contract_id = $1", contract_id
    )


async def markup_floor_on(db: Db, schema: str, contract_id: str, on: date) -> Decimal | None:
    """The contract's markup floor in force on the date (None: no terms history)."""
    terms = await terms_on(db, schema, [contract_id], on)
    return terms[contract_id].markup_floor_pct if contract_id in terms else None


async def account_manager_of_assignment(db: Db, schema: str, assignment_id: str) -> str | None:
    """Who manages the (first) contract an assignment id is on; None when it is on none."""
    value: str | None = await db.fetchval(
        f"""SELECT c.account_manager_id FROM {schema}.assignments x
            JOIN {schema}.contracts c USING (contract_id)
            WHERE x.assignment_id = $1 LIMIT 1""",
        assignment_id,
    )
    return value


async def margin_impacts(
    db: Db,
    schema: str,
    owner: str | None,
    filters: dict[str, str | None],
    since: date | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """Margin impacts matching the filters (column = value), in the order they happened."""
    conds, args = ["true"], []
    for column, value in filters.items():
        if value is not None:
            args.append(value)
            conds.append(f"i.{column} = ${len(args)}")
    if since is not None:
        args.append(since)
        conds.append(f"i.occurred_at >= ${len(args)}::date")
    if owner is not None:
        args.append(owner)
        conds.append(f"c.account_manager_id = ${len(args)}")
    args += [limit, offset]
    rows = await db.fetch(
        f"""SELECT i.*, c.client_id, c.client_name FROM {schema}.margin_impacts i
            JOIN {schema}.contracts c USING (contract_id)
            WHERE {" AND ".join(conds)}
            ORDER BY i.occurred_at, i.contract_id, i.stream_version, i.assignment_id
            LIMIT ${len(args) - 1} OFFSET ${len(args)}""",
        *args,
    )
    return [impact_json(dict(r)) for r in rows]


async def projected_versions(db: Db, schema: str, contract_ids: list[str]) -> dict[str, int]:
    """The stream version up to which the margin projector has applied each contract."""
    rows = await db.fetch(
        f"SELECT contract_id, stream_version FROM {schema}.contracts WHERE contract_id = ANY($1)",
        contract_ids,
    )
    return {r["contract_id"]: r["stream_version"] for r in rows}


async def impacts_of_events(
    db: Db, schema: str, keys: list[tuple[str, int]]
) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """The margin impacts each (contract_id, stream_version) caused, by assignment."""
    out: dict[tuple[str, int], list[dict[str, Any]]] = {k: [] for k in keys}
    if keys:
        for r in await db.fetch(
            f"""SELECT i.* FROM {schema}.margin_impacts i
                JOIN unnest($1::text[], $2::int[]) AS w(cid, v)
                  ON i.contract_id = w.cid AND i.stream_version = w.v
                ORDER BY i.assignment_id""",
            [c for c, _ in keys],
            [v for _, v in keys],
        ):
            out[(r["contract_id"], r["stream_version"])].append(impact_json(dict(r)))
    return out


async def contract_margin(db: Db, schema: str, c: asyncpg.Record, as_of: date) -> dict[str, Any]:
    """A contract's margin roll-up as of the date, with each of its assignments' margins
    (`c`: its row, from `contract`)."""
    contract_id = c["contract_id"]
    found = await margins_of_assignments(db, schema, None, as_of, "a.contract_id = $2", contract_id)
    floor = await markup_floor_on(db, schema, contract_id, as_of)
    return {
        "as_of": as_of,
        "contract_id": contract_id,
        "client_id": c["client_id"],
        "client_name": c["client_name"],
        "account_manager_id": c["account_manager_id"],
        "status": c["status"],
        "markup_floor_pct": show(
            "markup_floor_pct", floor if floor is not None else c["markup_floor_pct"]
        ),
        "min_assignment_weeks": c["min_assignment_weeks"],
        "stream_version": c["stream_version"],
        **rollup_json(roll_up(m for m, _ in found)),
        "assignments": [assignment_json(m, ids) for m, ids in found],
    }


async def group_margin(
    db: Db,
    schema: str,
    owner: str | None,
    as_of: date,
    where: str,
    args: list[Any],
    head: dict[str, Any],
    limit: int,
    offset: int,
) -> dict[str, Any]:
    """The roll-up of the contracts `where` picks (a client's, an account manager's, the
    portfolio), with a page of its contracts' roll-ups."""
    found = await margins_of_assignments(db, schema, owner, as_of, where, *args)
    by_contract: dict[str, list[tuple[AssignmentMargin, dict[str, Any]]]] = {}
    for m, ids in found:
        by_contract.setdefault(m.facts.contract_id, []).append((m, ids))
    contracts = [
        {"contract_id": cid, **items[0][1], **rollup_json(roll_up(m for m, _ in items))}
        for cid, items in sorted(by_contract.items())
    ]
    return {
        "as_of": as_of,
        **head,
        "contracts_count": len(contracts),
        **rollup_json(roll_up(m for m, _ in found)),
        "contracts": contracts[offset : offset + limit],
        "limit": limit,
        "offset": offset,
    }


async def projector_positions(db: Db, schema: str) -> dict[int, int]:
    """The next offset of the events topic the margin projector will apply, per partition."""
    rows = await db.fetch(f"SELECT partition, next_offset FROM {schema}.positions")
    return {r["partition"]: r["next_offset"] for r in rows}
