"""The API's reads of the margin read models: one function per read, named after what it
returns, each answering rows as the API shows them (`services/reads/formatters.py`). Account
managers are scoped by `owner`: None reads every contract."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, TypeAlias

import asyncpg

from projections.rollup import AssignmentMargin, roll_up
from services.reads.formatters import (
    assignment_json,
    impact_json,
    rate_json,
    rollup_json,
    show,
    stored_impact,
)
from services.reads.margin_facts import Portfolio, assignment_margins, terms_on
from services.reads.margin_facts import portfolio as read_portfolio

Db: TypeAlias = asyncpg.Pool | asyncpg.Connection


async def margins_of_assignments(
    db: Db, schema: str, owner: str | None, as_of: date, where: str, *args: Any
) -> list[tuple[AssignmentMargin, dict[str, Any]]]:
    """Each assignment's margin as of the date, for those `where` picks (its arguments from
    $2), limited to the owner's contracts."""
    scope, scope_args = ("true", []) if owner is None else (
        f"c.account_manager_id = ${len(args) + 2}", [owner]
    )  # fmt: skip
    return await assignment_margins(db, schema, as_of, f"({where}) AND {scope}", *args, *scope_args)


async def assignment_rows(
    db: Db, schema: str, owner: str | None, as_of: date, assignment_id: str
) -> list[dict[str, Any]]:
    """The margins as of the date of the assignments of this id (one per contract that has
    one) among the owner's contracts, each against its contract's floor that day; none when
    not known."""
    found = await margins_of_assignments(
        db, schema, owner, as_of, "a.assignment_id = $2", assignment_id
    )
    if not found:
        return []
    floors = await floors_on(db, schema, found, as_of)
    return [assignment_json(m, ids, floors.get(m.facts.contract_id)) for m, ids in found]


async def contract(db: Db, schema: str, contract_id: str) -> asyncpg.Record | None:
    """A contract's row of the read model; None when not known (yet)."""
    return await db.fetchrow(
        f"SELECT * FROM {schema}.contracts WHERE contract_id = $1", contract_id
    )


async def markup_floor_on(db: Db, schema: str, contract_id: str, on: date) -> Decimal | None:
    """The contract's markup floor in force on the date (None: no terms history)."""
    terms = await terms_on(db, schema, [contract_id], on)
    return terms[contract_id].markup_floor_pct if contract_id in terms else None


@dataclass(frozen=True)
class ImpactQuery:
    """Which margin impacts to read: those matching the filters (column = value) made between
    `since` and `until` (days, both included), in the order they happened or, `largest_first`,
    by the size of the change in weekly gross profit; `limit` of them from `offset`."""

    filters: dict[str, str | None]
    since: date | None
    until: date | None
    largest_first: bool
    limit: int
    offset: int


async def margin_impacts(
    db: Db, schema: str, owner: str | None, query: ImpactQuery
) -> list[dict[str, Any]]:
    """The margin impacts `query` asks for, of the contracts `owner` manages (None: all)."""
    conds: list[str] = ["true"]
    args: list[object] = []
    # Each condition with its argument ("{}": the argument's number), kept when it is given.
    for cond, value in (
        *((f"i.{column} = ${{}}", value) for column, value in query.filters.items()),
        ("i.occurred_at >= ${}::date", query.since),
        ("i.occurred_at < ${}::date + 1", query.until),
        ("c.account_manager_id = ${}", owner),
    ):
        if value is not None:
            args.append(value)
            conds.append(cond.format(len(args)))
    # The size of a change is computed from its stored facts, so `largest_first` ranks here;
    # a window (since/until) keeps that to the impacts it covers.
    page = ""
    if not query.largest_first:
        args += [query.limit, query.offset]
        page = f"LIMIT ${len(args) - 1} OFFSET ${len(args)}"
    rows = [
        stored_impact(r)
        for r in await db.fetch(
            f"""SELECT i.*, c.client_id, c.client_name FROM {schema}.margin_impacts i
                JOIN {schema}.contracts c USING (contract_id)
                WHERE {" AND ".join(conds)}
                ORDER BY i.occurred_at, i.contract_id, i.stream_version, i.assignment_id
                {page}""",
            *args,
        )
    ]
    if query.largest_first:
        rows.sort(key=lambda r: abs(r[0].impact.delta.weekly_gross_profit), reverse=True)
        rows = rows[query.offset : query.offset + query.limit]
    return [impact_json(i, joined) for i, joined in rows]


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
            out[(r["contract_id"], r["stream_version"])].append(impact_json(*stored_impact(r)))
    return out


async def contract_margin(
    db: Db, schema: str, contract_id: str, as_of: date
) -> dict[str, Any] | None:
    """A contract's margin roll-up as of the date, with each of its assignments' margins and
    its account manager (for the access check); None when the contract is not known (yet)."""
    c = await contract(db, schema, contract_id)
    if c is None:
        return None
    found = await margins_of_assignments(db, schema, None, as_of, "a.contract_id = $2", contract_id)
    on_day = await markup_floor_on(db, schema, contract_id, as_of)
    floor = on_day if on_day is not None else c["markup_floor_pct"]
    return {
        "as_of": as_of,
        "contract_id": contract_id,
        "client_id": c["client_id"],
        "client_name": c["client_name"],
        "account_manager_id": c["account_manager_id"],
        "status": c["status"],
        "markup_floor_pct": show("markup_floor_pct", floor),
        "min_assignment_weeks": c["min_assignment_weeks"],
        "stream_version": c["stream_version"],
        **rollup_json(roll_up(m.for_roll_up for m, _ in found)),
        "assignments": [assignment_json(m, ids, floor) for m, ids in found],
    }


async def floors_on(
    db: Db, schema: str, found: list[tuple[AssignmentMargin, dict[str, Any]]], on: date
) -> dict[str, Decimal]:
    """The markup floor in force on the day of each contract the margins are on."""
    cids = sorted({m.facts.contract_id for m, _ in found})
    return {cid: t.markup_floor_pct for cid, t in (await terms_on(db, schema, cids, on)).items()}


async def portfolio(db: asyncpg.Pool, schema: str, owner: str | None) -> Portfolio:
    """Every assignment of the owner's contracts with its rate and terms histories: the
    portfolio's figures on any day (`Portfolio.on`) and its trend (`trend`), in one read."""
    if owner is None:
        return await read_portfolio(db, schema, "true")
    return await read_portfolio(db, schema, "c.account_manager_id = $1", owner)


async def rate_history(
    db: Db, schema: str, owner: str | None, assignment_id: str
) -> list[dict[str, Any]]:
    """An assignment's pay and bill rates from each effective date, with their markup."""
    scope, scope_args = ("true", []) if owner is None else ("c.account_manager_id = $2", [owner])
    rows = await db.fetch(
        f"""SELECT h.contract_id, h.assignment_id, h.effective_date, h.stream_version,
                   h.pay_rate, h.bill_rate, h.event_id
            FROM {schema}.rate_history h JOIN {schema}.contracts c USING (contract_id)
            WHERE h.assignment_id = $1 AND {scope}
            ORDER BY h.contract_id, h.effective_date, h.stream_version""",
        assignment_id,
        *scope_args,
    )
    return [rate_json(r) for r in rows]


async def projector_positions(db: Db, schema: str) -> dict[int, int]:
    """The next offset of the events topic the margin projector will apply, per partition."""
    rows = await db.fetch(f"SELECT partition, next_offset FROM {schema}.positions")
    return {r["partition"]: r["next_offset"] for r in rows}
