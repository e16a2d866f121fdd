"""GET /v1/margins/... and /v1/margin-impacts: what finance reads, as of any date.

Money is shown rounded to cents half-up and percentages to 2 places, as strings; what is
stored stays exact. Account managers see their own contracts; finance and admin see all.
Every answer also comes as CSV (its rows), with `Accept: text/csv` or `?format=csv` (a plain
GET link the web app's download buttons use, carrying the session cookie).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from events.alerts import Basis
from projections import actuals, margin
from projections.trend import TrendPoint
from services.api import margin_groups
from services.api.deps import ReadModels, ReadSide
from services.api.http.auth import Reader
from services.api.http.errors import ApiError
from services.api.http.ownership import ensure_may_read, owner_scope
from services.api.http.params import (
    AccountManagerIdPath,
    AsOf,
    AssignmentIdPath,
    AssignmentIdQuery,
    ClientIdPath,
    ContractIdPath,
    ContractIdQuery,
    Day,
    Limit,
    Offset,
    Since,
)
from services.api.margin_cache import data_version, gc_paused
from services.api.margin_groups import Found, group_margin, ranked
from services.api.schemas import (
    AssignmentHours,
    AssignmentMarginAsOf,
    AssignmentMargins,
    AssignmentRates,
    ClientHealth,
    ContractMargin,
    GroupHours,
    GroupMargin,
    MarginImpactList,
    PortfolioTrend,
    RankedGroups,
    errors,
)
from services.csv_cells import write_csv
from services.reads import health as read_health
from services.reads import hours as read_hours
from services.reads import margins as read
from services.reads.formatters import show, totals_json, week_json
from services.reads.margin_facts import Portfolio
from services.tokens import Principal

router = APIRouter(prefix="/v1", tags=["margins"])

_CSV = {"text/csv": {"schema": {"type": "string"}}}
_DISPOSITION = {
    "Content-Disposition": {
        "schema": {"type": "string"},
        "description": "CSV only: attachment; filename=...",
    }
}

Format = Annotated[
    Literal["json", "csv"] | None, Query(description="csv: as `Accept: text/csv` does")
]
WeeksSince = Annotated[
    Day | None,
    Query(
        description="list the weeks from this day's week on (and every reported week before); "
        "the to-date sums and the forecast are the same; default every week"
    ),
]
Until = Annotated[Day | None, Query(description="changes made on or before this day, YYYY-MM-DD")]

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
    "health_score",
)
Sort = Annotated[
    str,
    Query(
        pattern=f"^-?({'|'.join(_SORTS)})$",
        description="a column, `-` first for descending (largest first)",
    ),
]


def _answers(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "content": _CSV,
            "description": "JSON, or its rows as CSV",
            "headers": _DISPOSITION,
        },
        **errors(*codes),
    }


def _respond(
    request: Request, body: BaseModel, rows: Sequence[dict[str, Any]], name: str = "margins"
) -> Any:
    """The model, or the rows as CSV when the client asks for text/csv (Accept or
    ?format=csv)."""
    fmt = request.query_params.get("format")
    if fmt == "csv" or (fmt is None and "text/csv" in request.headers.get("accept", "")):
        text = ""
        if rows:
            fields = [k for k in rows[0] if not isinstance(rows[0][k], list | dict)]
            text = write_csv(rows, fields)
        as_of = getattr(body, "as_of", None)
        day = as_of.isoformat() if isinstance(as_of, date) else _today(None).isoformat()
        return Response(
            text,
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}-{day}.csv"'},
        )
    return body


def _today(as_of: date | None) -> date:
    return as_of or datetime.now(UTC).date()


def _unknown(field: str, subject: str) -> ApiError:
    """The 404 of a subject unknown or managed by someone the reader may not read for: the
    same answer for both, so that ids cannot be enumerated."""
    return ApiError.field(404, field, f"{subject} is not known (yet)")


def _unknown_assignment(assignment_id: str) -> ApiError:
    return _unknown("assignment_id", assignment_id)


def _scope(key: Hashable) -> tuple[Hashable, ...]:
    """The (scope, data version) every key of the margin cache ends with."""
    return cast(tuple[tuple[Hashable, ...], ...], key)[-1]


async def _portfolio(reads: ReadModels, who: Principal) -> tuple[Portfolio, Hashable]:
    """Every assignment the reader may see with its histories, read once per data version
    and shared (services/api/margin_cache) by the portfolio's figures on every day and its
    trend; with the key (scope, data version) of what it was read from."""
    owner = owner_scope(who)
    key = (owner, await data_version(reads.pool, reads.schema))
    # What was computed for this reader's scope from read models since changed goes.
    reads.cache.forget(lambda k: _scope(k)[0] == owner and _scope(k) != key)
    p: Portfolio = await reads.cache.get(
        ("portfolio", key), lambda: read.portfolio(reads.pool, reads.schema, owner)
    )
    return p, key


async def _health_columns(
    reads: ReadModels, who: Principal, day: date, key: str
) -> dict[str, dict[str, Any]]:
    """The health column of the clients' (or account managers') table on the day: every
    client's score computed once per day and data version (both tables share it), as the
    roll-ups are."""
    p, version = await _portfolio(reads, who)

    async def compute() -> dict[str, int]:
        return await read_health.client_scores(reads.pool, reads.schema, owner_scope(who), day, p)

    scores: dict[str, int] = await reads.cache.get(("health", day, version), compute)
    return read_health.health_columns(scores, p.ids, key)


async def _every_margin(reads: ReadModels, who: Principal, day: date) -> Found:
    """Every assignment the reader may see, as of the day: computed once per day and data
    version, shared by the portfolio's lists for that day."""
    p, key = await _portfolio(reads, who)

    async def compute() -> Found:
        return Found(p.on(day), p.ids)

    found: Found = await reads.cache.get(("on", day, key), compute)
    return found


async def _trend(
    reads: ReadModels, who: Principal, day: date, weeks: int, days: list[date]
) -> list[TrendPoint]:
    """The portfolio's weekly gross profit on each of `days` (the `weeks` ending on `day`):
    computed once per data version and shared, as `_every_margin`."""
    p, key = await _portfolio(reads, who)

    async def compute() -> list[TrendPoint]:
        return margin_groups.trend(p, days)

    trend: list[TrendPoint] = await reads.cache.get(("trend", day, weeks, key), compute)
    return trend


@router.get(
    "/margins/assignments/{assignment_id}",
    summary="One assignment's margin",
    response_model=AssignmentMarginAsOf | AssignmentMargins,
    responses=_answers(401, 403, 404, 422),
)
async def assignment(
    assignment_id: AssignmentIdPath,
    request: Request,
    who: Reader,
    reads: ReadSide,
    as_of: AsOf = None,
    format: Format = None,
) -> Any:
    day = _today(as_of)
    rows = await read.assignment_rows(
        reads.pool, reads.schema, owner_scope(who), day, assignment_id
    )
    if not rows:
        raise _unknown_assignment(assignment_id)
    body: BaseModel = (
        AssignmentMarginAsOf.model_validate({"as_of": day, **rows[0]})
        if len(rows) == 1
        else AssignmentMargins.model_validate({"as_of": day, "assignments": rows})
    )
    return _respond(request, body, rows, f"assignment-{assignment_id}")


@router.get(
    "/margins/contracts/{contract_id}",
    summary="A contract's margin roll-up",
    response_model=ContractMargin,
    responses=_answers(401, 403, 404, 422),
)
async def contract(
    contract_id: ContractIdPath,
    request: Request,
    who: Reader,
    reads: ReadSide,
    as_of: AsOf = None,
    format: Format = None,
) -> Any:
    day, pool, s = _today(as_of), reads.pool, reads.schema
    found = await read.contract_margin(pool, s, contract_id, day)
    missing = _unknown("contract_id", f"contract {contract_id}")
    if found is None:
        raise missing
    ensure_may_read(who, found["account_manager_id"], missing)
    return _respond(
        request,
        ContractMargin.model_validate(found),
        found["assignments"],
        f"contract-{contract_id}",
    )


async def _group(
    request: Request,
    reads: ReadModels,
    who: Principal,
    as_of: date | None,
    limit: int,
    offset: int,
    column: str | None = None,
    value: str = "",
) -> Any:
    """The roll-up of the contracts whose `column` (client_id, account_manager_id) is `value`,
    or of the whole portfolio the reader may see (no column)."""
    day = _today(as_of)
    if column is None:
        found = await _every_margin(reads, who, day)
    else:
        margins = await read.margins_of_assignments(
            reads.pool,
            reads.schema,
            owner_scope(who),
            day,
            f"c.{column} = $2",
            value,
        )
        found = Found([m.for_roll_up for m, _ in margins], [ids for _, ids in margins])
    head = {} if column is None else {column: value}
    with gc_paused():
        body = group_margin(found, day, head, limit, offset)
    return _respond(request, GroupMargin.model_validate(body), body["contracts"])


@router.get(
    "/margins/clients/{client_id}",
    summary="A client's margin roll-up",
    response_model=GroupMargin,
    responses=_answers(401, 422),
)
async def client(
    client_id: ClientIdPath,
    request: Request,
    who: Reader,
    reads: ReadSide,
    as_of: AsOf = None,
    limit: Limit = 100,
    offset: Offset = 0,
    format: Format = None,
) -> Any:
    return await _group(request, reads, who, as_of, limit, offset, "client_id", client_id)


@router.get(
    "/margins/account-managers/{account_manager_id}",
    summary="An account manager's margin roll-up",
    response_model=GroupMargin,
    responses=_answers(401, 403, 422),
)
async def account_manager(
    account_manager_id: AccountManagerIdPath,
    request: Request,
    who: Reader,
    reads: ReadSide,
    as_of: AsOf = None,
    limit: Limit = 100,
    offset: Offset = 0,
    format: Format = None,
) -> Any:
    missing = _unknown("account_manager_id", f"account manager {account_manager_id}")
    ensure_may_read(who, account_manager_id, missing)
    return await _group(
        request, reads, who, as_of, limit, offset, "account_manager_id", account_manager_id
    )


@router.get(
    "/margins/portfolio",
    summary="The whole portfolio (an account manager's own)",
    response_model=GroupMargin,
    responses=_answers(401, 422),
)
async def portfolio(
    request: Request,
    who: Reader,
    reads: ReadSide,
    as_of: AsOf = None,
    limit: Limit = 100,
    offset: Offset = 0,
    format: Format = None,
) -> Any:
    return await _group(request, reads, who, as_of, limit, offset)


async def _ranked(
    request: Request,
    reads: ReadModels,
    who: Principal,
    as_of: date | None,
    key: str,
    name_key: str | None,
    sort: str,
    limit: int,
    offset: int,
) -> Any:
    """Every client (or account manager) with its roll-up and health as of the day, sorted and
    paged."""
    day = _today(as_of)
    found = await _every_margin(reads, who, day)
    health = await _health_columns(reads, who, day, key)
    with gc_paused():
        total, rows = ranked(found, key, name_key, sort, limit, offset, health)
    body = RankedGroups.model_validate(
        {
            "as_of": day,
            "sort": sort,
            "total": total,
            "limit": limit,
            "offset": offset,
            "rows": rows,
        }
    )
    return _respond(request, body, rows, "clients" if key == "client_id" else "account-managers")


@router.get(
    "/margins/clients",
    summary="Every client's roll-up, ranked",
    response_model=RankedGroups,
    responses=_answers(401, 422),
)
async def clients(
    request: Request,
    who: Reader,
    reads: ReadSide,
    as_of: AsOf = None,
    sort: Sort = "-weekly_gross_profit",
    limit: Limit = 50,
    offset: Offset = 0,
    format: Format = None,
) -> Any:
    return await _ranked(
        request, reads, who, as_of, "client_id", "client_name", sort, limit, offset
    )


@router.get(
    "/margins/account-managers",
    summary="Every account manager's roll-up, ranked",
    response_model=RankedGroups,
    responses=_answers(401, 422),
)
async def account_managers(
    request: Request,
    who: Reader,
    reads: ReadSide,
    as_of: AsOf = None,
    sort: Sort = "-weekly_gross_profit",
    limit: Limit = 50,
    offset: Offset = 0,
    format: Format = None,
) -> Any:
    return await _ranked(
        request, reads, who, as_of, "account_manager_id", None, sort, limit, offset
    )


@router.get(
    "/margins/portfolio/trend",
    summary="The portfolio's weekly gross profit on each of the last `weeks` weeks",
    response_model=PortfolioTrend,
    responses=_answers(401, 422),
)
async def portfolio_trend(
    request: Request,
    who: Reader,
    reads: ReadSide,
    as_of: AsOf = None,
    weeks: Annotated[int, Query(ge=1, le=156)] = 26,
    format: Format = None,
) -> Any:
    """One point a week, the last on `as_of`, each the weekly gross profit of the assignments
    active that day at the rates and terms in force that day (equal to `/margins/portfolio`'s
    figure for that day). Computed from the portfolio's histories, read once per data version
    and shared with the portfolio's other reads (`_portfolio`), whatever the number of weeks."""
    day = _today(as_of)
    # Weeks before the calendar's first day (as_of early in year 1) have no point.
    ordinals = (day.toordinal() - 7 * k for k in range(weeks - 1, -1, -1))
    days = [date.fromordinal(n) for n in ordinals if n >= 1]
    trend = await _trend(reads, who, day, weeks, days)
    points = [
        {
            "week_ending": p.day.isoformat(),
            "active_assignments": p.active_assignments,
            "weekly_gross_profit": show("weekly_gross_profit", p.weekly_gross_profit),
        }
        for p in trend
    ]
    body = PortfolioTrend.model_validate({"as_of": day, "weeks": weeks, "points": points})
    return _respond(request, body, points, "portfolio-trend")


@router.get(
    "/margins/assignments/{assignment_id}/rates",
    summary="An assignment's rate history: pay and bill from each effective date",
    response_model=AssignmentRates,
    responses=_answers(401, 403, 404, 422),
)
async def assignment_rates(
    assignment_id: AssignmentIdPath,
    request: Request,
    who: Reader,
    reads: ReadSide,
    format: Format = None,
) -> Any:
    pool, s = reads.pool, reads.schema
    rates = await read.rate_history(pool, s, owner_scope(who), assignment_id)
    if not rates:
        raise _unknown_assignment(assignment_id)
    body = AssignmentRates.model_validate({"assignment_id": assignment_id, "rates": rates})
    return _respond(request, body, rates, f"rates-{assignment_id}")


@router.get(
    "/margin-impacts",
    summary="The margin impact of each applied or proposed change",
    response_model=MarginImpactList,
    responses=_answers(401, 422),
)
async def margin_impacts(
    request: Request,
    who: Reader,
    reads: ReadSide,
    contract_id: ContractIdQuery = None,
    assignment_id: AssignmentIdQuery = None,
    basis: Annotated[Basis | None, Query()] = None,
    since: Since = None,
    until: Until = None,
    sort: Annotated[
        Literal["occurred_at", "largest"],
        Query(description="largest: by the size of the change in weekly gross profit"),
    ] = "occurred_at",
    limit: Limit = 100,
    offset: Offset = 0,
    format: Format = None,
) -> Any:
    items = await read.margin_impacts(
        reads.pool,
        reads.schema,
        owner_scope(who),
        {"contract_id": contract_id, "assignment_id": assignment_id, "basis": basis},
        since,
        until,
        sort == "largest",
        limit,
        offset,
    )
    body = MarginImpactList.model_validate(
        {"margin_impacts": items, "limit": limit, "offset": offset}
    )
    return _respond(request, body, items, "impacts")


# --- hours actually worked against the plan (HoursReported) ---------------------------------


@router.get(
    "/margins/assignments/{assignment_id}/hours",
    summary="One assignment's hours worked and gross profit per week, against plan",
    response_model=AssignmentHours,
    responses=_answers(401, 403, 404, 422),
)
async def assignment_hours(
    assignment_id: AssignmentIdPath,
    request: Request,
    who: Reader,
    reads: ReadSide,
    as_of: AsOf = None,
    format: Format = None,
) -> Any:
    day, pool, s = _today(as_of), reads.pool, reads.schema
    found = await read_hours.assignment_hours(
        pool, s, owner_scope(who), day, "a.assignment_id = $1", assignment_id
    )
    if not found:
        raise _unknown_assignment(assignment_id)
    x = found[0]
    weeks = [week_json(w) for w in x.actuals.weeks]
    body = AssignmentHours.model_validate(
        {
            "as_of": day,
            "assignment_id": assignment_id,
            "contract_id": x.row.contract_id,
            **x.ids,
            **totals_json(x.actuals),
            "forecast_basis": x.actuals.forecast_basis,
            "forecast_weekly_gross_profit": str(
                margin.round_money(x.actuals.forecast_weekly_gross_profit)
            ),
            "weeks": weeks,
        }
    )
    return _respond(request, body, weeks, f"assignment-{assignment_id}-hours")


async def _group_hours(
    request: Request,
    reads: ReadModels,
    who: Principal,
    as_of: date | None,
    where: str,
    *args: Any,
    since: date | None = None,
) -> Any:
    body, weeks = await _hours_of(reads, who, _today(as_of), where, *args, since=since)
    return _respond(request, body, weeks, "hours")


async def _portfolio_hours(
    reads: ReadModels, who: Principal, day: date, since: date | None
) -> tuple[GroupHours, list[dict[str, Any]]]:
    """The portfolio's hours answer, computed once per day, `since` and data version (the
    portfolio page reads it at every load), as the portfolio's other figures."""
    version = (owner_scope(who), await data_version(reads.pool, reads.schema))

    async def compute() -> tuple[GroupHours, list[dict[str, Any]]]:
        return await _hours_of(reads, who, day, "true", since=since)

    found: tuple[GroupHours, list[dict[str, Any]]] = await reads.cache.get(
        ("hours", day, since, version), compute
    )
    return found


async def _hours_of(
    reads: ReadModels,
    who: Principal,
    day: date,
    where: str,
    *args: Any,
    since: date | None = None,
) -> tuple[GroupHours, list[dict[str, Any]]]:
    """The hours answer of the assignments `where` picks, and its weeks as rows."""
    found = await read_hours.assignment_hours(
        reads.pool, reads.schema, owner_scope(who), day, where, *args, since=since
    )
    r = actuals.roll_up([x.actuals for x in found])
    weeks = [week_json(w) for w in r.weeks]
    body = GroupHours.model_validate(
        {
            "as_of": day,
            **totals_json(r),
            "run_rate_assignments": r.run_rate_assignments,
            "plan_assignments": r.plan_assignments,
            "weeks": weeks,
        }
    )
    return body, weeks


@router.get(
    "/margins/contracts/{contract_id}/hours",
    summary="A contract's hours worked and gross profit per week, against plan",
    response_model=GroupHours,
    responses=_answers(401, 403, 404, 422),
)
async def contract_hours(
    contract_id: ContractIdPath,
    request: Request,
    who: Reader,
    reads: ReadSide,
    as_of: AsOf = None,
    format: Format = None,
) -> Any:
    c = await read.contract(reads.pool, reads.schema, contract_id)
    missing = _unknown("contract_id", f"contract {contract_id}")
    if c is None:
        raise missing
    ensure_may_read(who, c["account_manager_id"], missing)
    return await _group_hours(request, reads, who, as_of, "c.contract_id = $1", contract_id)


@router.get(
    "/margins/clients/{client_id}/hours",
    summary="A client's hours worked and gross profit per week, against plan",
    response_model=GroupHours,
    responses=_answers(401, 422),
)
async def client_hours(
    client_id: ClientIdPath,
    request: Request,
    who: Reader,
    reads: ReadSide,
    as_of: AsOf = None,
    format: Format = None,
) -> Any:
    return await _group_hours(request, reads, who, as_of, "c.client_id = $1", client_id)


@router.get(
    "/margins/account-managers/{account_manager_id}/hours",
    summary="An account manager's hours worked and gross profit per week, against plan",
    response_model=GroupHours,
    responses=_answers(401, 403, 422),
)
async def account_manager_hours(
    account_manager_id: AccountManagerIdPath,
    request: Request,
    who: Reader,
    reads: ReadSide,
    as_of: AsOf = None,
    format: Format = None,
) -> Any:
    missing = _unknown("account_manager_id", f"account manager {account_manager_id}")
    ensure_may_read(who, account_manager_id, missing)
    return await _group_hours(
        request, reads, who, as_of, "c.account_manager_id = $1", account_manager_id
    )


@router.get(
    "/margins/portfolio/hours",
    summary="The portfolio's hours worked and gross profit per week, against plan",
    response_model=GroupHours,
    responses=_answers(401, 422),
)
async def portfolio_hours(
    request: Request,
    who: Reader,
    reads: ReadSide,
    as_of: AsOf = None,
    since: WeeksSince = None,
    format: Format = None,
) -> Any:
    body, weeks = await _portfolio_hours(reads, who, _today(as_of), since)
    return _respond(request, body, weeks, "hours")


@router.get(
    "/margins/clients/{client_id}/health",
    summary="A client's health score as of a day, its parts and its last 26 weeks",
    response_model=ClientHealth,
    responses=_answers(401, 404, 422),
)
async def client_health(
    client_id: ClientIdPath,
    request: Request,
    who: Reader,
    reads: ReadSide,
    as_of: AsOf = None,
    format: Format = None,
) -> Any:
    day = _today(as_of)
    found = await read_health.client_health_of(
        reads.pool, reads.schema, owner_scope(who), client_id, day
    )
    if found is None:
        raise _unknown("client_id", f"client {client_id}")
    parts = [
        {"name": p.name, "points": p.points, "cap": p.cap, "why": p.why} for p in found.health.parts
    ]
    body = ClientHealth.model_validate(
        {
            "as_of": day,
            "client_id": client_id,
            "client_name": found.client_name,
            "score": found.health.score,
            "parts": parts,
            "history": [{"day": d, "score": sc} for d, sc in found.history],
        }
    )
    return _respond(request, body, parts, f"client-{client_id}-health")
