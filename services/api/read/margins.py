"""The API's reads of the margin read models: one function per read, named after what it
returns, each answering rows as the API shows them (money rounded to cents half-up, the rest
to 2 places, as strings). Account managers are scoped by `owner`: None reads every contract."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any, TypeAlias

import asyncpg

from projections import margin
from projections.read_model import ImpactRow
from projections.rollup import AssignmentMargin, RollUp, RollUpFigures, margin_status, roll_up
from projections.trend import TrendPoint, weekly_trend
from services.api.read.margin_facts import Portfolio, assignment_margins, terms_on
from services.api.read.margin_facts import portfolio as read_portfolio

Db: TypeAlias = asyncpg.Pool | asyncpg.Connection

MONEY = {
    "pay_rate",
    "bill_rate",
    "spread",
    "burdened_cost",
    "margin_per_hour",
    "margin_per_ot_hour",
    "margin_per_dt_hour",
    "weekly_gross_profit",
    "remaining_gross_profit",
    "conversion_fee_due",
    "weekly_billing",
    "at_risk_weekly_gross_profit",
}


class Found:
    """Each assignment's roll-up figures as of a day with its contract's ids (client, account
    manager), and the roll-ups made of them, each made once: the portfolio's are shared by the
    requests of its page (services/api/margin_cache.py) and by every sort and page of them."""

    def __init__(self, figures: list[RollUpFigures], ids: list[dict[str, Any]]) -> None:
        self.figures, self.ids = figures, ids
        self._by_contract: list[tuple[str, dict[str, Any], list[RollUpFigures]]] | None = None
        self._total: RollUp | None = None
        self._groups: dict[str, list[tuple[dict[str, Any], RollUp]]] = {}

    def by_contract(self) -> list[tuple[str, dict[str, Any], list[RollUpFigures]]]:
        """Each contract's id, ids and assignments' figures, by contract id."""
        if self._by_contract is None:
            groups: dict[str, tuple[str, dict[str, Any], list[RollUpFigures]]] = {}
            for m, ids in zip(self.figures, self.ids, strict=True):
                group = groups.get(m.contract_id)
                if group is None:
                    group = groups[m.contract_id] = (m.contract_id, ids, [])
                group[2].append(m)
            self._by_contract = sorted(groups.values(), key=lambda g: g[0])
        return self._by_contract

    def total(self) -> RollUp:
        if self._total is None:
            self._total = roll_up(self.figures)
        return self._total

    def groups(self, key: str, name_key: str | None) -> list[tuple[dict[str, Any], RollUp]]:
        """Every group (`key`: client_id or account_manager_id) with its name, its number of
        contracts and its roll-up, in the order each first appears."""
        rows = self._groups.get(key)
        if rows is None:
            groups: dict[str, tuple[dict[str, Any], list[RollUpFigures]]] = {}
            for m, ids in zip(self.figures, self.ids, strict=True):
                group = groups.get(ids[key])
                if group is None:
                    group = groups[ids[key]] = (ids, [])
                group[1].append(m)
            rows = []
            for gid, (ids, items) in groups.items():
                head: dict[str, Any] = {key: gid}
                head["name"] = ids[name_key] if name_key else gid
                head["contracts_count"] = len({m.contract_id for m in items})
                rows.append((head, roll_up(items)))
            self._groups[key] = rows
        return rows


def show(name: str, value: Any) -> Any:
    if isinstance(value, Decimal):
        if name in MONEY or name.endswith(tuple(MONEY)):
            return str(margin.round_money(value))
        return str(margin.round_pct(value))  # percentages, weeks, hours: 2 places
    if isinstance(value, date):
        return value.isoformat()
    return value


def assignment_json(
    m: AssignmentMargin, ids: dict[str, Any], floor: Decimal | None = None
) -> dict[str, Any]:
    """An assignment's margin; `floor`: its contract's markup floor on the day (its
    `margin_status` is amber below it)."""
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
    out["markup_floor_pct"] = floor
    out["margin_status"] = margin_status(f.margin_per_hour, f.markup_pct, floor)
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


async def margin_impacts(
    db: Db,
    schema: str,
    owner: str | None,
    filters: dict[str, str | None],
    since: date | None,
    until: date | None,
    largest_first: bool,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """Margin impacts matching the filters (column = value) made between `since` and `until`
    (days, both included), in the order they happened or, `largest_first`, by the size of the
    change in weekly gross profit."""
    conds: list[str] = ["true"]
    args: list[object] = []
    # Each condition with its argument ("{}": the argument's number), kept when it is given.
    for cond, value in (
        *((f"i.{column} = ${{}}", value) for column, value in filters.items()),
        ("i.occurred_at >= ${}::date", since),
        ("i.occurred_at < ${}::date + 1", until),
        ("c.account_manager_id = ${}", owner),
    ):
        if value is not None:
            args.append(value)
            conds.append(cond.format(len(args)))
    # The size of a change is computed from its stored facts, so `largest_first` ranks here;
    # a window (since/until) keeps that to the impacts it covers.
    page = ""
    if not largest_first:
        args += [limit, offset]
        page = f"LIMIT ${len(args) - 1} OFFSET ${len(args)}"
    rows = [
        dict(r)
        for r in await db.fetch(
            f"""SELECT i.*, c.client_id, c.client_name FROM {schema}.margin_impacts i
                JOIN {schema}.contracts c USING (contract_id)
                WHERE {" AND ".join(conds)}
                ORDER BY i.occurred_at, i.contract_id, i.stream_version, i.assignment_id
                {page}""",
            *args,
        )
    ]
    if largest_first:
        rows.sort(key=_impact_size, reverse=True)
        rows = rows[offset : offset + limit]
    return [impact_json(r) for r in rows]


def _impact_size(r: dict[str, Any]) -> Decimal:
    impact = ImpactRow(**{k: r[k] for k in _IMPACT_FIELDS}).impact
    return abs(impact.delta.weekly_gross_profit)


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


def group_margin(
    found: Found,
    as_of: date,
    head: dict[str, Any],
    limit: int,
    offset: int,
) -> dict[str, Any]:
    """The roll-up of the assignments' margins (a client's, an account manager's, the
    portfolio), with a page of its contracts' roll-ups (only the page is rolled up)."""
    by_contract = found.by_contract()
    contracts = [
        {"contract_id": cid, **ids, **rollup_json(roll_up(items))}
        for cid, ids, items in by_contract[offset : offset + limit]
    ]
    return {
        "as_of": as_of,
        **head,
        "contracts_count": len(by_contract),
        **rollup_json(found.total()),
        "contracts": contracts,
        "limit": limit,
        "offset": offset,
    }


def ranked(
    found: Found,
    key: str,
    name_key: str | None,
    sort: str,
    limit: int,
    offset: int,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """How many groups (`key`: client_id or account_manager_id) there are, and a page of them
    with their roll-ups and the `extra` columns of each (by the group's id), sorted by a column
    (`-` first: descending); groups without a value for it last."""
    rows = found.groups(key, name_key)
    if extra:
        rows = [({**head, **extra.get(head[key], {})}, r) for head, r in rows]
    column, descending = sort.lstrip("-"), sort.startswith("-")

    def value(item: tuple[dict[str, Any], RollUp]) -> Any:
        head, r = item
        return head[column] if column in head else getattr(r, column)

    present = [i for i in rows if value(i) is not None]
    present.sort(key=lambda i: (value(i), i[0][key]), reverse=descending)
    ordered = present + sorted((i for i in rows if value(i) is None), key=lambda i: i[0][key])
    page = ordered[offset : offset + limit]
    return len(ordered), [{**head, **rollup_json(r)} for head, r in page]


async def portfolio(db: asyncpg.Pool, schema: str, owner: str | None) -> Portfolio:
    """Every assignment of the owner's contracts with its rate and terms histories: the
    portfolio's figures on any day (`Portfolio.on`) and its trend (`trend`), in one read."""
    if owner is None:
        return await read_portfolio(db, schema, "true")
    return await read_portfolio(db, schema, "c.account_manager_id = $1", owner)


def trend(p: Portfolio, days: list[date]) -> list[TrendPoint]:
    """The weekly gross profit of the portfolio's assignments on each day."""
    return weekly_trend(p.assignments, p.terms_history, days)


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
    return [
        {
            "contract_id": r["contract_id"],
            "assignment_id": r["assignment_id"],
            "effective_date": r["effective_date"].isoformat(),
            "stream_version": r["stream_version"],
            "event_id": str(r["event_id"]),
            "pay_rate": show("pay_rate", r["pay_rate"]),
            "bill_rate": show("bill_rate", r["bill_rate"]),
            "markup_pct": show(
                "markup_pct",
                margin.markup_pct(margin.Rates(r["pay_rate"], r["bill_rate"], Decimal(0))),
            ),
        }
        for r in rows
    ]


async def projector_positions(db: Db, schema: str) -> dict[int, int]:
    """The next offset of the events topic the margin projector will apply, per partition."""
    rows = await db.fetch(f"SELECT partition, next_offset FROM {schema}.positions")
    return {r["partition"]: r["next_offset"] for r in rows}
