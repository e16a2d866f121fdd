"""The margin reads as the API answers them (GET /v1/margins/..., /v1/margin-impacts): each
composed from the read side (`services/reads/`) and the margin cache, and returned as one
`Answer`, its model for JSON and its rows for CSV. The routes (`routes/margins.py`) parse,
call one of these, and respond in the format asked for.

A subject unknown, or managed by someone the reader may not read for, is the same 404, so
that ids cannot be enumerated.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from pydantic import BaseModel

from projections import actuals, margin
from projections.trend import TrendPoint
from services.api import margin_groups, schemas
from services.api.deps import ReadModels
from services.api.http.errors import ApiError
from services.api.http.ownership import ensure_may_read, owner_scope
from services.api.margin_cache import data_version, gc_paused
from services.api.margin_groups import Found, ranked
from services.reads import health as read_health
from services.reads import hours as read_hours
from services.reads import margins as read
from services.reads.formatters import show, totals_json, week_json
from services.reads.margin_facts import Portfolio
from services.tokens import Principal


@dataclass(frozen=True)
class Answer:
    """A margin read's answer: its model (the JSON) and its rows (the CSV, `name`-<day>.csv)."""

    body: BaseModel
    rows: Sequence[dict[str, Any]]
    name: str


def unknown(field: str, subject: str) -> ApiError:
    """The 404 of a subject unknown or not the reader's to read: one answer for both."""
    return ApiError.field(404, field, f"{subject} is not known (yet)")


def _unknown_assignment(assignment_id: str) -> ApiError:
    return unknown("assignment_id", assignment_id)


def may_read_manager(who: Principal, account_manager_id: str) -> None:
    """404 unless the reader may read the account manager's contracts."""
    missing = unknown("account_manager_id", f"account manager {account_manager_id}")
    ensure_may_read(who, account_manager_id, missing)


# --- the portfolio, read once per data version and shared ----------------------------------


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


# --- margins ---------------------------------------------------------------------------------


async def assignment(reads: ReadModels, who: Principal, assignment_id: str, day: date) -> Answer:
    rows = await read.assignment_rows(
        reads.pool, reads.schema, owner_scope(who), day, assignment_id
    )
    if not rows:
        raise _unknown_assignment(assignment_id)
    body: BaseModel = (
        schemas.AssignmentMarginAsOf.model_validate({"as_of": day, **rows[0]})
        if len(rows) == 1
        else schemas.AssignmentMargins.model_validate({"as_of": day, "assignments": rows})
    )
    return Answer(body, rows, f"assignment-{assignment_id}")


async def contract(reads: ReadModels, who: Principal, contract_id: str, day: date) -> Answer:
    found = await read.contract_margin(reads.pool, reads.schema, contract_id, day)
    missing = unknown("contract_id", f"contract {contract_id}")
    if found is None:
        raise missing
    ensure_may_read(who, found["account_manager_id"], missing)
    return Answer(
        schemas.ContractMargin.model_validate(found),
        found["assignments"],
        f"contract-{contract_id}",
    )


async def group(
    reads: ReadModels,
    who: Principal,
    day: date,
    limit: int,
    offset: int,
    column: str | None = None,
    value: str = "",
) -> Answer:
    """The roll-up of the contracts whose `column` (client_id, account_manager_id) is `value`,
    or of the whole portfolio the reader may see (no column)."""
    if column is None:
        found = await _every_margin(reads, who, day)
    else:
        margins = await read.margins_of_assignments(
            reads.pool, reads.schema, owner_scope(who), day, f"c.{column} = $2", value
        )
        found = Found([m.for_roll_up for m, _ in margins], [ids for _, ids in margins])
    head = {} if column is None else {column: value}
    with gc_paused():
        body = found.margin(day, head, limit, offset)
    return Answer(schemas.GroupMargin.model_validate(body), body["contracts"], "margins")


async def ranked_groups(
    reads: ReadModels,
    who: Principal,
    day: date,
    key: str,
    name_key: str | None,
    sort: str,
    limit: int,
    offset: int,
) -> Answer:
    """Every client (or account manager) with its roll-up and health as of the day, sorted and
    paged."""
    found = await _every_margin(reads, who, day)
    health = await _health_columns(reads, who, day, key)
    with gc_paused():
        total, rows = ranked(found, key, name_key, sort, limit, offset, health)
    body = schemas.RankedGroups.model_validate(
        {"as_of": day, "sort": sort, "total": total, "limit": limit, "offset": offset, "rows": rows}
    )
    return Answer(body, rows, "clients" if key == "client_id" else "account-managers")


async def portfolio_trend(reads: ReadModels, who: Principal, day: date, weeks: int) -> Answer:
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
    body = schemas.PortfolioTrend.model_validate({"as_of": day, "weeks": weeks, "points": points})
    return Answer(body, points, "portfolio-trend")


async def assignment_rates(reads: ReadModels, who: Principal, assignment_id: str) -> Answer:
    rates = await read.rate_history(reads.pool, reads.schema, owner_scope(who), assignment_id)
    if not rates:
        raise _unknown_assignment(assignment_id)
    body = schemas.AssignmentRates.model_validate({"assignment_id": assignment_id, "rates": rates})
    return Answer(body, rates, f"rates-{assignment_id}")


async def margin_impacts(reads: ReadModels, who: Principal, query: read.ImpactQuery) -> Answer:
    items = await read.margin_impacts(reads.pool, reads.schema, owner_scope(who), query)
    body = schemas.MarginImpactList.model_validate(
        {"margin_impacts": items, "limit": query.limit, "offset": query.offset}
    )
    return Answer(body, items, "impacts")


# --- hours actually worked against the plan (HoursReported) ---------------------------------


async def assignment_hours(
    reads: ReadModels, who: Principal, assignment_id: str, day: date
) -> Answer:
    found = await read_hours.assignment_hours(
        reads.pool, reads.schema, owner_scope(who), day, "a.assignment_id = $1", assignment_id
    )
    if not found:
        raise _unknown_assignment(assignment_id)
    x = found[0]
    weeks = [week_json(w) for w in x.actuals.weeks]
    body = schemas.AssignmentHours.model_validate(
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
    return Answer(body, weeks, f"assignment-{assignment_id}-hours")


async def group_hours(
    reads: ReadModels,
    who: Principal,
    day: date,
    where: str,
    *args: Any,
    since: date | None = None,
) -> Answer:
    """The hours answer of the assignments `where` picks, its weeks as rows."""
    found = await read_hours.assignment_hours(
        reads.pool, reads.schema, owner_scope(who), day, where, *args, since=since
    )
    r = actuals.roll_up([x.actuals for x in found])
    weeks = [week_json(w) for w in r.weeks]
    body = schemas.GroupHours.model_validate(
        {
            "as_of": day,
            **totals_json(r),
            "run_rate_assignments": r.run_rate_assignments,
            "plan_assignments": r.plan_assignments,
            "weeks": weeks,
        }
    )
    return Answer(body, weeks, "hours")


async def contract_hours(reads: ReadModels, who: Principal, contract_id: str, day: date) -> Answer:
    c = await read.contract(reads.pool, reads.schema, contract_id)
    missing = unknown("contract_id", f"contract {contract_id}")
    if c is None:
        raise missing
    ensure_may_read(who, c["account_manager_id"], missing)
    return await group_hours(reads, who, day, "c.contract_id = $1", contract_id)


async def portfolio_hours(
    reads: ReadModels, who: Principal, day: date, since: date | None
) -> Answer:
    """The portfolio's hours answer, computed once per day, `since` and data version (the
    portfolio page reads it at every load), as the portfolio's other figures."""
    version = (owner_scope(who), await data_version(reads.pool, reads.schema))

    async def compute() -> Answer:
        return await group_hours(reads, who, day, "true", since=since)

    found: Answer = await reads.cache.get(("hours", day, since, version), compute)
    return found


async def client_health(reads: ReadModels, who: Principal, client_id: str, day: date) -> Answer:
    found = await read_health.client_health_of(
        reads.pool, reads.schema, owner_scope(who), client_id, day
    )
    if found is None:
        raise unknown("client_id", f"client {client_id}")
    parts = [
        {"name": p.name, "points": p.points, "cap": p.cap, "why": p.why} for p in found.health.parts
    ]
    body = schemas.ClientHealth.model_validate(
        {
            "as_of": day,
            "client_id": client_id,
            "client_name": found.client_name,
            "score": found.health.score,
            "parts": parts,
            "history": [{"day": d, "score": sc} for d, sc in found.history],
        }
    )
    return Answer(body, parts, f"client-{client_id}-health")
