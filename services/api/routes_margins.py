"""GET /v1/margins/... and /v1/margin-impacts: what finance reads, as of any date.

Money is shown rounded to cents half-up and percentages to 2 places, as strings; what is
stored stays exact. Account managers see their own contracts; finance and admin see all.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from projections import margin
from projections.read_model import ImpactRow
from projections.rollup import AssignmentMargin, RollUp, roll_up
from services.api.auth import Reader
from services.api.margin_queries import assignment_margins, terms_on
from services.tokens import Principal

router = APIRouter(prefix="/v1", tags=["margins"])

AsOf = Annotated[date | None, Query(description="YYYY-MM-DD; default today (UTC)")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]

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


def _assignment_json(m: AssignmentMargin, ids: dict[str, Any]) -> dict[str, Any]:
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
    return {k: _show(k, v) for k, v in out.items()}


def _rollup_json(r: RollUp) -> dict[str, Any]:
    return {k: _show(k, getattr(r, k)) for k in r.__dataclass_fields__}


def _respond(request: Request, body: dict[str, Any], rows: Sequence[dict[str, Any]]) -> Response:
    """JSON, or the rows as CSV when the client asks for text/csv."""
    if "text/csv" in request.headers.get("accept", ""):
        buf = io.StringIO()
        if rows:
            fields = [k for k in rows[0] if not isinstance(rows[0][k], list | dict)]
            w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        return Response(buf.getvalue(), media_type="text/csv")
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
    return await assignment_margins(
        st.pool, st.settings.projection_schema, as_of, f"({where}) AND {scope}", *args, *scope_args
    )


@router.get("/margins/assignments/{assignment_id}", summary="One assignment's margin")
async def assignment(
    assignment_id: str, request: Request, who: Reader, as_of: AsOf = None
) -> Response:
    day = _today(as_of)
    found = await _margins(request, who, day, "a.assignment_id = $2", assignment_id)
    if not found:
        await _forbidden_or_missing(request, who, "assignments", "assignment_id", assignment_id)
    rows = [_assignment_json(m, ids) for m, ids in found]
    body = (
        {"as_of": day.isoformat(), **rows[0]}
        if len(rows) == 1
        else {"as_of": day.isoformat(), "assignments": rows}
    )
    return _respond(request, body, rows)


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
    rows = [_assignment_json(m, ids) for m, ids in found]
    terms = await terms_on(st.pool, st.settings.projection_schema, [contract_id], day)
    floor = terms[contract_id].markup_floor_pct if contract_id in terms else c["markup_floor_pct"]
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
    return _respond(request, body, rows)


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
    contracts = [
        {
            "contract_id": cid,
            **items[0][1],
            **_rollup_json(roll_up(m for m, _ in items)),
        }
        for cid, items in sorted(by_contract.items())
    ]
    body = {
        "as_of": day.isoformat(),
        **head,
        "contracts_count": len(contracts),
        **_rollup_json(roll_up(m for m, _ in found)),
        "contracts": contracts[offset : offset + limit],
        "limit": limit,
        "offset": offset,
    }
    return _respond(request, body, contracts[offset : offset + limit])


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


@router.get("/margin-impacts", summary="The margin impact of each applied or proposed change")
async def margin_impacts(
    request: Request,
    who: Reader,
    contract_id: str | None = None,
    assignment_id: str | None = None,
    basis: Annotated[str | None, Query(pattern="^(applied|proposed)$")] = None,
    since: Annotated[date | None, Query(description="changes made on or after this day")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
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
    if not who.may_read_all():
        args.append(who.account_manager_id)
        conds.append(f"c.account_manager_id = ${len(args)}")
    rows = await st.pool.fetch(
        f"""SELECT i.*, c.client_id, c.client_name FROM {s}.margin_impacts i
            JOIN {s}.contracts c USING (contract_id)
            WHERE {" AND ".join(conds)}
            ORDER BY i.occurred_at, i.contract_id, i.stream_version, i.assignment_id
            LIMIT {limit} OFFSET {offset}""",
        *args,
    )
    items = [impact_json(dict(r)) for r in rows]
    return _respond(request, {"margin_impacts": items, "limit": limit, "offset": offset}, items)


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
