"""GET /v1/margins/... and /v1/margin-impacts: what finance reads, as of any date.

Money is shown rounded to cents half-up and percentages to 2 places, as strings; what is
stored stays exact. Account managers see their own contracts; finance and admin see all.
Every answer also comes as CSV (its rows), with `Accept: text/csv` or `?format=csv` (a plain
GET link the web app's download buttons use, carrying the session cookie).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any, Concatenate, Literal, ParamSpec

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from events.alerts import Basis
from services.api import margin_answers as answers
from services.api.deps import ReadModels, ReadSide
from services.api.http.auth import Reader
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
from services.reads.margins import ImpactQuery
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


def _respond(request: Request, answer: answers.Answer) -> Any:
    """The answer's model, or its rows as CSV when the client asks for text/csv (Accept or
    ?format=csv)."""
    fmt = request.query_params.get("format")
    if fmt == "csv" or (fmt is None and "text/csv" in request.headers.get("accept", "")):
        rows = answer.rows
        text = ""
        if rows:
            fields = [k for k in rows[0] if not isinstance(rows[0][k], list | dict)]
            text = write_csv(rows, fields)
        as_of = getattr(answer.body, "as_of", None)
        day = as_of.isoformat() if isinstance(as_of, date) else _today(None).isoformat()
        return Response(
            text,
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{answer.name}-{day}.csv"'},
        )
    return answer.body


def _today(as_of: date | None) -> date:
    return as_of or datetime.now(UTC).date()


P = ParamSpec("P")


class Asked:
    """What every read here takes besides its own parameters: who asks, the read side, and the
    format of the answer (`format` declared for the OpenAPI; `_respond` reads it back from the
    request, with the Accept header)."""

    def __init__(self, request: Request, who: Reader, reads: ReadSide, format: Format = None):
        self.request = request
        self.who = who
        self.reads = reads

    async def answer(
        self,
        read: Callable[Concatenate[ReadModels, Principal, P], Awaitable[answers.Answer]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Any:
        """`read`'s answer for this reader, in the format asked for."""
        return _respond(self.request, await read(self.reads, self.who, *args, **kwargs))


# Wherever it stands in a route's signature, FastAPI lists a dependency's query parameters
# after the route's own: `format` stays the last, as it was when each route declared it.
Ask = Annotated[Asked, Depends()]


@router.get(
    "/margins/assignments/{assignment_id}",
    summary="One assignment's margin",
    response_model=AssignmentMarginAsOf | AssignmentMargins,
    responses=_answers(401, 403, 404, 422),
)
async def assignment(assignment_id: AssignmentIdPath, ask: Ask, as_of: AsOf = None) -> Any:
    return await ask.answer(answers.assignment, assignment_id, _today(as_of))


@router.get(
    "/margins/contracts/{contract_id}",
    summary="A contract's margin roll-up",
    response_model=ContractMargin,
    responses=_answers(401, 403, 404, 422),
)
async def contract(contract_id: ContractIdPath, ask: Ask, as_of: AsOf = None) -> Any:
    return await ask.answer(answers.contract, contract_id, _today(as_of))


@router.get(
    "/margins/clients/{client_id}",
    summary="A client's margin roll-up",
    response_model=GroupMargin,
    responses=_answers(401, 422),
)
async def client(
    client_id: ClientIdPath, ask: Ask, as_of: AsOf = None, limit: Limit = 100, offset: Offset = 0
) -> Any:
    return await ask.answer(answers.group, _today(as_of), limit, offset, "client_id", client_id)


@router.get(
    "/margins/account-managers/{account_manager_id}",
    summary="An account manager's margin roll-up",
    response_model=GroupMargin,
    responses=_answers(401, 403, 422),
)
async def account_manager(
    account_manager_id: AccountManagerIdPath,
    ask: Ask,
    as_of: AsOf = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Any:
    answers.may_read_manager(ask.who, account_manager_id)
    return await ask.answer(
        answers.group, _today(as_of), limit, offset, "account_manager_id", account_manager_id
    )


@router.get(
    "/margins/portfolio",
    summary="The whole portfolio (an account manager's own)",
    response_model=GroupMargin,
    responses=_answers(401, 422),
)
async def portfolio(ask: Ask, as_of: AsOf = None, limit: Limit = 100, offset: Offset = 0) -> Any:
    return await ask.answer(answers.group, _today(as_of), limit, offset)


@router.get(
    "/margins/clients",
    summary="Every client's roll-up, ranked",
    response_model=RankedGroups,
    responses=_answers(401, 422),
)
async def clients(
    ask: Ask,
    as_of: AsOf = None,
    sort: Sort = "-weekly_gross_profit",
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    return await ask.answer(
        answers.ranked_groups, _today(as_of), "client_id", "client_name", sort, limit, offset
    )


@router.get(
    "/margins/account-managers",
    summary="Every account manager's roll-up, ranked",
    response_model=RankedGroups,
    responses=_answers(401, 422),
)
async def account_managers(
    ask: Ask,
    as_of: AsOf = None,
    sort: Sort = "-weekly_gross_profit",
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    return await ask.answer(
        answers.ranked_groups, _today(as_of), "account_manager_id", None, sort, limit, offset
    )


@router.get(
    "/margins/portfolio/trend",
    summary="The portfolio's weekly gross profit on each of the last `weeks` weeks",
    response_model=PortfolioTrend,
    responses=_answers(401, 422),
)
async def portfolio_trend(
    ask: Ask, as_of: AsOf = None, weeks: Annotated[int, Query(ge=1, le=156)] = 26
) -> Any:
    """One point a week, the last on `as_of`, each the weekly gross profit of the assignments
    active that day at the rates and terms in force that day (equal to `/margins/portfolio`'s
    figure for that day). Computed from the portfolio's histories, read once per data version
    and shared with the portfolio's other reads (`_portfolio`), whatever the number of weeks."""
    return await ask.answer(answers.portfolio_trend, _today(as_of), weeks)


@router.get(
    "/margins/assignments/{assignment_id}/rates",
    summary="An assignment's rate history: pay and bill from each effective date",
    response_model=AssignmentRates,
    responses=_answers(401, 403, 404, 422),
)
async def assignment_rates(assignment_id: AssignmentIdPath, ask: Ask) -> Any:
    return await ask.answer(answers.assignment_rates, assignment_id)


@router.get(
    "/margin-impacts",
    summary="The margin impact of each applied or proposed change",
    response_model=MarginImpactList,
    responses=_answers(401, 422),
)
async def margin_impacts(
    ask: Ask,
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
) -> Any:
    filters = {"contract_id": contract_id, "assignment_id": assignment_id, "basis": basis}
    query = ImpactQuery(filters, since, until, sort == "largest", limit, offset)
    return await ask.answer(answers.margin_impacts, query)


@router.get(
    "/margins/assignments/{assignment_id}/hours",
    summary="One assignment's hours worked and gross profit per week, against plan",
    response_model=AssignmentHours,
    responses=_answers(401, 403, 404, 422),
)
async def assignment_hours(assignment_id: AssignmentIdPath, ask: Ask, as_of: AsOf = None) -> Any:
    return await ask.answer(answers.assignment_hours, assignment_id, _today(as_of))


@router.get(
    "/margins/contracts/{contract_id}/hours",
    summary="A contract's hours worked and gross profit per week, against plan",
    response_model=GroupHours,
    responses=_answers(401, 403, 404, 422),
)
async def contract_hours(contract_id: ContractIdPath, ask: Ask, as_of: AsOf = None) -> Any:
    return await ask.answer(answers.contract_hours, contract_id, _today(as_of))


@router.get(
    "/margins/clients/{client_id}/hours",
    summary="A client's hours worked and gross profit per week, against plan",
    response_model=GroupHours,
    responses=_answers(401, 422),
)
async def client_hours(client_id: ClientIdPath, ask: Ask, as_of: AsOf = None) -> Any:
    return await ask.answer(answers.group_hours, _today(as_of), "c.client_id = $1", client_id)


@router.get(
    "/margins/account-managers/{account_manager_id}/hours",
    summary="An account manager's hours worked and gross profit per week, against plan",
    response_model=GroupHours,
    responses=_answers(401, 403, 422),
)
async def account_manager_hours(
    account_manager_id: AccountManagerIdPath, ask: Ask, as_of: AsOf = None
) -> Any:
    answers.may_read_manager(ask.who, account_manager_id)
    return await ask.answer(
        answers.group_hours, _today(as_of), "c.account_manager_id = $1", account_manager_id
    )


@router.get(
    "/margins/portfolio/hours",
    summary="The portfolio's hours worked and gross profit per week, against plan",
    response_model=GroupHours,
    responses=_answers(401, 422),
)
async def portfolio_hours(ask: Ask, as_of: AsOf = None, since: WeeksSince = None) -> Any:
    return await ask.answer(answers.portfolio_hours, _today(as_of), since)


@router.get(
    "/margins/clients/{client_id}/health",
    summary="A client's health score as of a day, its parts and its last 26 weeks",
    response_model=ClientHealth,
    responses=_answers(401, 404, 422),
)
async def client_health(client_id: ClientIdPath, ask: Ask, as_of: AsOf = None) -> Any:
    return await ask.answer(answers.client_health, client_id, _today(as_of))
