"""GET /v1/margins/... and /v1/margin-impacts: what finance reads, as of any date.

Money is shown rounded to cents half-up and percentages to 2 places, as strings; what is
stored stays exact. Account managers see their own contracts; finance and admin see all.
Every list also answers CSV, with `Accept: text/csv` or `?format=csv` (a plain GET link the
web app's download buttons use, carrying the session cookie).
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from projections import margin
from projections.read_model import ImpactRow, TermsRow
from projections.rollup import AssignmentMargin, RollUp, margin_status, roll_up
from projections.trend import RatePoint, TrendAssignment, TrendPoint, weekly_trend
from services.api.auth import Reader
from services.api.margin_cache import data_version
from services.api.margin_queries import TERMS_FIELDS, assignment_margins, terms_on
from services.tokens import Principal

router = APIRouter(prefix="/v1", tags=["margins"])

AsOf = Annotated[date | None, Query(description="YYYY-MM-DD; default today (UTC)")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]
Format = Annotated[
    str | None, Query(pattern="^(json|csv)$", description="csv: as Accept: text/csv does")
]

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


def _show(name: str, value: Any) -> Any:
    if isinstance(value, Decimal):
        if name in MONEY or name.endswith(tuple(MONEY)):
            return str(margin.round_money(value))
        return str(margin.round_pct(value))  # percentages, weeks, hours: 2 places
    if isinstance(value, date):
        return value.isoformat()
    return value


def _assignment_json(
    m: AssignmentMargin, ids: dict[str, Any], floor: Decimal | None = None
) -> dict[str, Any]:
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
    return {k: _show(k, v) for k, v in out.items()}


def _rollup_json(r: RollUp) -> dict[str, Any]:
    return {k: _show(k, getattr(r, k)) for k in r.__dataclass_fields__}


def _respond(
    request: Request, body: dict[str, Any], rows: Sequence[dict[str, Any]], name: str = "margins"
) -> Response:
    """JSON, or the rows as CSV when the client asks for text/csv (Accept or ?format=csv)."""
    fmt = request.query_params.get("format")
    if fmt == "csv" or (fmt is None and "text/csv" in request.headers.get("accept", "")):
        buf = io.StringIO()
        if rows:
            fields = [k for k in rows[0] if not isinstance(rows[0][k], list | dict)]
            w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        day = body.get("as_of") or datetime.now(UTC).date().isoformat()
        return Response(
            buf.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}-{day}.csv"'},
        )
    return JSONResponse(body)


def _today(as_of: date | None) -> date:
    return as_of or datetime.now(UTC).date()


def _scope(who: Principal) -> tuple[str, list[Any]]:
    """A WHERE fragment limiting account managers to their own contracts."""
    if who.may_read_all():
        return "true", []
    return "c.account_manager_id = ${n}", [who.account_manager_id]


async def _margins(
    request: Request, who: Principal, as_of: date, where: str, *args: Any
) -> list[tuple[AssignmentMargin, dict[str, Any]]]:
    scope, scope_args = _scope(who)
    scope = scope.replace("${n}", f"${len(args) + 2}")
    st = request.app.state
    schema = st.settings.projection_schema

    def compute() -> Any:
        return assignment_margins(
            st.pool, schema, as_of, f"({where}) AND {scope}", *args, *scope_args
        )

    if where != "true":
        return await compute()
    # Every assignment the reader may see: shared by the portfolio's lists for the same day.
    key = (as_of, tuple(scope_args), await data_version(st.pool, schema))
    found: list[tuple[AssignmentMargin, dict[str, Any]]] = await st.margin_cache.get(key, compute)
    return found


@router.get("/margins/assignments/{assignment_id}", summary="One assignment's margin")
async def assignment(
    assignment_id: str, request: Request, who: Reader, as_of: AsOf = None
) -> Response:
    day = _today(as_of)
    found = await _margins(request, who, day, "a.assignment_id = $2", assignment_id)
    if not found:
        await _forbidden_or_missing(request, who, "assignments", "assignment_id", assignment_id)
    st = request.app.state
    cids = sorted({m.facts.contract_id for m, _ in found})
    terms = await terms_on(st.pool, st.settings.projection_schema, cids, day)
    rows = [
        _assignment_json(
            m, ids, terms[m.facts.contract_id].markup_floor_pct if m.facts.contract_id in terms
            else None,
        )
        for m, ids in found
    ]  # fmt: skip
    body = (
        {"as_of": day.isoformat(), **rows[0]}
        if len(rows) == 1
        else {"as_of": day.isoformat(), "assignments": rows}
    )
    return _respond(request, body, rows, f"assignment-{assignment_id}")


@router.get("/margins/contracts/{contract_id}", summary="A contract's margin roll-up")
async def contract(contract_id: str, request: Request, who: Reader, as_of: AsOf = None) -> Response:
    day = _today(as_of)
    st = request.app.state
    c = await st.pool.fetchrow(
        f"SELECT * FROM {st.settings.projection_schema}.contracts WHERE contract_id = $1",
        contract_id,
    )
    if c is None:
        raise HTTPException(404, f"contract {contract_id} is not known (yet)")
    if not who.may_read_all() and c["account_manager_id"] != who.account_manager_id:
        raise HTTPException(403, f"contract {contract_id} is not managed by you")
    found = await _margins(request, who, day, "a.contract_id = $2", contract_id)
    terms = await terms_on(st.pool, st.settings.projection_schema, [contract_id], day)
    floor = terms[contract_id].markup_floor_pct if contract_id in terms else c["markup_floor_pct"]
    rows = [_assignment_json(m, ids, floor) for m, ids in found]
    body = {
        "as_of": day.isoformat(),
        "contract_id": contract_id,
        "client_id": c["client_id"],
        "client_name": c["client_name"],
        "account_manager_id": c["account_manager_id"],
        "status": c["status"],
        "markup_floor_pct": _show("markup_floor_pct", floor),
        "min_assignment_weeks": c["min_assignment_weeks"],
        "stream_version": c["stream_version"],
        **_rollup_json(roll_up(m for m, _ in found)),
        "assignments": rows,
    }
    return _respond(request, body, rows, f"contract-{contract_id}")


async def _group(
    request: Request,
    who: Principal,
    day: date,
    where: str,
    args: list[Any],
    head: dict[str, Any],
    limit: int,
    offset: int,
) -> Response:
    found = await _margins(request, who, day, where, *args)
    by_contract: dict[str, list[tuple[AssignmentMargin, dict[str, Any]]]] = {}
    for m, ids in found:
        by_contract.setdefault(m.facts.contract_id, []).append((m, ids))
    page = sorted(by_contract.items())[offset : offset + limit]  # only the page is rolled up
    contracts = [
        {
            "contract_id": cid,
            **items[0][1],
            **_rollup_json(roll_up(m for m, _ in items)),
        }
        for cid, items in page
    ]
    body = {
        "as_of": day.isoformat(),
        **head,
        "contracts_count": len(by_contract),
        **_rollup_json(roll_up(m for m, _ in found)),
        "contracts": contracts,
        "limit": limit,
        "offset": offset,
    }
    return _respond(request, body, contracts)


@router.get("/margins/clients/{client_id}", summary="A client's margin roll-up")
async def client(
    client_id: str,
    request: Request,
    who: Reader,
    as_of: AsOf = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    day = _today(as_of)
    return await _group(
        request, who, day, "c.client_id = $2", [client_id], {"client_id": client_id}, limit, offset
    )


@router.get("/margins/account-managers/{account_manager_id}", summary="An account manager's")
async def account_manager(
    account_manager_id: str,
    request: Request,
    who: Reader,
    as_of: AsOf = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Response:
    if not who.may_read_all() and account_manager_id != who.account_manager_id:
        raise HTTPException(403, "account managers see only their own roll-up")
    day = _today(as_of)
    return await _group(
        request,
        who,
        day,
        "c.account_manager_id = $2",
        [account_manager_id],
        {"account_manager_id": account_manager_id},
        limit,
        offset,
    )


@router.get("/margins/portfolio", summary="The whole portfolio (an account manager's own)")
async def portfolio(
    request: Request, who: Reader, as_of: AsOf = None, limit: Limit = 100, offset: Offset = 0
) -> Response:
    day = _today(as_of)
    return await _group(request, who, day, "true", [], {}, limit, offset)


_SORTS = (
    "name",
    "contracts_count",
    "active_assignments",
    "weekly_gross_profit",
    "weekly_billing",
    "markup_pct",
    "margin_pct",
    "remaining_gross_profit",
    "at_risk_weekly_gross_profit",
    "loss_making_assignments",
)
Sort = Annotated[
    str,
    Query(
        pattern=f"^-?({'|'.join(_SORTS)})$",
        description="a column, `-` first for descending (largest first)",
    ),
]


async def _ranked(
    request: Request,
    who: Principal,
    as_of: date | None,
    key: str,
    name_key: str | None,
    sort: str,
    limit: int,
    offset: int,
) -> Response:
    """Every client (or account manager) with its roll-up as of the day, sorted and paged."""
    day = _today(as_of)
    found = await _margins(request, who, day, "true")
    groups: dict[str, list[tuple[AssignmentMargin, dict[str, Any]]]] = {}
    for m, ids in found:
        groups.setdefault(ids[key], []).append((m, ids))
    ranked: list[tuple[dict[str, Any], RollUp]] = []
    for gid, items in groups.items():
        r = roll_up(m for m, _ in items)
        head: dict[str, Any] = {key: gid}
        head["name"] = items[0][1][name_key] if name_key else gid
        head["contracts_count"] = len({m.facts.contract_id for m, _ in items})
        ranked.append((head, r))
    column, descending = sort.lstrip("-"), sort.startswith("-")

    def value(item: tuple[dict[str, Any], RollUp]) -> Any:
        head, r = item
        return head[column] if column in head else getattr(r, column)

    present = [i for i in ranked if value(i) is not None]
    present.sort(key=lambda i: (value(i), i[0][key]), reverse=descending)
    ordered = present + sorted((i for i in ranked if value(i) is None), key=lambda i: i[0][key])
    rows = [{**head, **_rollup_json(r)} for head, r in ordered[offset : offset + limit]]
    body = {
        "as_of": day.isoformat(),
        "sort": sort,
        "total": len(ordered),
        "limit": limit,
        "offset": offset,
        "rows": rows,
    }
    return _respond(request, body, rows, "clients" if key == "client_id" else "account-managers")


@router.get("/margins/clients", summary="Every client's roll-up, ranked")
async def clients(
    request: Request,
    who: Reader,
    as_of: AsOf = None,
    sort: Sort = "-weekly_gross_profit",
    limit: Limit = 50,
    offset: Offset = 0,
    format: Format = None,
) -> Response:
    return await _ranked(request, who, as_of, "client_id", "client_name", sort, limit, offset)


@router.get("/margins/account-managers", summary="Every account manager's roll-up, ranked")
async def account_managers(
    request: Request,
    who: Reader,
    as_of: AsOf = None,
    sort: Sort = "-weekly_gross_profit",
    limit: Limit = 50,
    offset: Offset = 0,
    format: Format = None,
) -> Response:
    return await _ranked(request, who, as_of, "account_manager_id", None, sort, limit, offset)


@router.get(
    "/margins/portfolio/trend",
    summary="The portfolio's weekly gross profit on each of the last `weeks` weeks",
)
async def portfolio_trend(
    request: Request,
    who: Reader,
    as_of: AsOf = None,
    weeks: Annotated[int, Query(ge=1, le=156)] = 26,
    format: Format = None,
) -> Response:
    """One point a week, the last on `as_of`, each the weekly gross profit of the assignments
    active that day at the rates and terms in force that day (equal to `/margins/portfolio`'s
    figure for that day). One read of the rate history and one of the terms history, whatever
    the number of weeks."""
    day = _today(as_of)
    st = request.app.state
    s = st.settings.projection_schema
    scope, scope_args = _scope(who)
    scope = scope.replace("${n}", "$1")
    days = [date.fromordinal(day.toordinal() - 7 * k) for k in range(weeks - 1, -1, -1)]
    key = ("trend", day, weeks, tuple(scope_args), await data_version(st.pool, s))
    trend = await st.margin_cache.get(key, lambda: _trend(st.pool, s, scope, scope_args, days))
    points = [
        {
            "week_ending": p.day.isoformat(),
            "active_assignments": p.active_assignments,
            "weekly_gross_profit": _show("weekly_gross_profit", p.weekly_gross_profit),
        }
        for p in trend
    ]
    body = {"as_of": day.isoformat(), "weeks": weeks, "points": points}
    return _respond(request, body, points, "portfolio-trend")


async def _trend(
    pool: asyncpg.Pool, s: str, scope: str, scope_args: list[Any], days: list[date]
) -> list[TrendPoint]:
    rows = await pool.fetch(
        f"""SELECT a.contract_id, a.start_date, a.end_date, a.hours_per_week, a.burden_pct,
                   c.terminated_on,
                   array_agg(h.effective_date) AS eff, array_agg(h.stream_version) AS ver,
                   array_agg(h.pay_rate) AS pay, array_agg(h.bill_rate) AS bill
            FROM {s}.assignments a
            JOIN {s}.contracts c USING (contract_id)
            JOIN {s}.rate_history h
              ON h.contract_id = a.contract_id AND h.assignment_id = a.assignment_id
            WHERE {scope}
            GROUP BY a.contract_id, a.assignment_id, c.terminated_on""",
        *scope_args,
    )
    items = [
        TrendAssignment(
            contract_id=r["contract_id"],
            start_date=r["start_date"],
            end_date=r["end_date"],
            contract_terminated_on=r["terminated_on"],
            hours_per_week=r["hours_per_week"],
            own_burden_pct=r["burden_pct"],
            rates=tuple(map(RatePoint, r["eff"], r["ver"], r["pay"], r["bill"])),
        )
        for r in rows
    ]
    history: dict[str, list[TermsRow]] = {}
    for t in await pool.fetch(
        f"""SELECT {", ".join("t." + f for f in TERMS_FIELDS)} FROM {s}.terms_history t
            JOIN {s}.contracts c USING (contract_id)
            WHERE {scope} ORDER BY t.contract_id, t.stream_version""",
        *scope_args,
    ):
        history.setdefault(t["contract_id"], []).append(TermsRow(*t.values()))
    return weekly_trend(items, history, days)


@router.get(
    "/margins/assignments/{assignment_id}/rates",
    summary="An assignment's rate history: pay and bill from each effective date",
)
async def assignment_rates(
    assignment_id: str, request: Request, who: Reader, format: Format = None
) -> Response:
    st = request.app.state
    s = st.settings.projection_schema
    scope, scope_args = _scope(who)
    rows = await st.pool.fetch(
        f"""SELECT h.contract_id, h.assignment_id, h.effective_date, h.stream_version,
                   h.pay_rate, h.bill_rate, h.event_id
            FROM {s}.rate_history h JOIN {s}.contracts c USING (contract_id)
            WHERE h.assignment_id = $1 AND {scope.replace("${n}", "$2")}
            ORDER BY h.contract_id, h.effective_date, h.stream_version""",
        assignment_id,
        *scope_args,
    )
    if not rows:
        await _forbidden_or_missing(request, who, "assignments", "assignment_id", assignment_id)
    rates = [
        {
            "contract_id": r["contract_id"],
            "assignment_id": r["assignment_id"],
            "effective_date": r["effective_date"].isoformat(),
            "stream_version": r["stream_version"],
            "event_id": str(r["event_id"]),
            "pay_rate": _show("pay_rate", r["pay_rate"]),
            "bill_rate": _show("bill_rate", r["bill_rate"]),
            "markup_pct": _show(
                "markup_pct",
                margin.markup_pct(margin.Rates(r["pay_rate"], r["bill_rate"], Decimal(0))),
            ),
        }
        for r in rows
    ]
    body = {"assignment_id": assignment_id, "rates": rates}
    return _respond(request, body, rates, f"rates-{assignment_id}")


@router.get("/margin-impacts", summary="The margin impact of each applied or proposed change")
async def margin_impacts(
    request: Request,
    who: Reader,
    contract_id: str | None = None,
    assignment_id: str | None = None,
    basis: Annotated[str | None, Query(pattern="^(applied|proposed)$")] = None,
    since: Annotated[date | None, Query(description="changes made on or after this day")] = None,
    until: Annotated[date | None, Query(description="changes made on or before this day")] = None,
    sort: Annotated[
        str,
        Query(
            pattern="^(occurred_at|largest)$",
            description="largest: by the size of the change in weekly gross profit",
        ),
    ] = "occurred_at",
    limit: Limit = 100,
    offset: Offset = 0,
    format: Format = None,
) -> Response:
    st = request.app.state
    s = st.settings.projection_schema
    conds, args = ["true"], []
    for column, value in (("i.contract_id", contract_id), ("i.assignment_id", assignment_id),
                          ("i.basis", basis)):  # fmt: skip
        if value is not None:
            args.append(value)
            conds.append(f"{column} = ${len(args)}")
    if since is not None:
        args.append(since)
        conds.append(f"i.occurred_at >= ${len(args)}::date")
    if until is not None:
        args.append(until)
        conds.append(f"i.occurred_at < ${len(args)}::date + 1")
    if not who.may_read_all():
        args.append(who.account_manager_id)
        conds.append(f"c.account_manager_id = ${len(args)}")
    # The size of a change is computed from its stored facts, so `largest` ranks in Python;
    # a window (since/until) keeps that to the impacts it covers.
    page = "" if sort == "largest" else f"LIMIT {limit} OFFSET {offset}"
    rows = await st.pool.fetch(
        f"""SELECT i.*, c.client_id, c.client_name FROM {s}.margin_impacts i
            JOIN {s}.contracts c USING (contract_id)
            WHERE {" AND ".join(conds)}
            ORDER BY i.occurred_at, i.contract_id, i.stream_version, i.assignment_id
            {page}""",
        *args,
    )
    if sort == "largest":
        sized = [(_impact_size(dict(r)), dict(r)) for r in rows]
        sized.sort(key=lambda x: x[0], reverse=True)
        rows = [r for _, r in sized[offset : offset + limit]]
    items = [impact_json(dict(r)) for r in rows]
    return _respond(
        request, {"margin_impacts": items, "limit": limit, "offset": offset}, items, "impacts"
    )


def _impact_size(r: dict[str, Any]) -> Decimal:
    impact = ImpactRow(**{k: r[k] for k in _IMPACT_FIELDS}).impact
    return abs(impact.delta.weekly_gross_profit)


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
    return {k: v if k in ("event_id", "occurred_at") else _show(k, v) for k, v in out.items()}


async def _forbidden_or_missing(
    request: Request, who: Principal, table: str, column: str, value: str
) -> None:
    st = request.app.state
    s = st.settings.projection_schema
    owner = await st.pool.fetchval(
        f"""SELECT c.account_manager_id FROM {s}.{table} x JOIN {s}.contracts c USING (contract_id)
            WHERE x.{column} = $1 LIMIT 1""",
        value,
    )
    if owner is not None and not who.may_read_all():
        raise HTTPException(403, f"{value} is on a contract not managed by you")
    raise HTTPException(404, f"{value} is not known (yet)")
