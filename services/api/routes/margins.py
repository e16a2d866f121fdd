"""GET /v1/margins/... and /v1/margin-impacts: what finance reads, as of any date.

Money is shown rounded to cents half-up and percentages to 2 places, as strings; what is
stored stays exact. Account managers see their own contracts; finance and admin see all.
Every answer also comes as CSV (its rows), with `Accept: text/csv` or `?format=csv` (a plain
GET link the web app's download buttons use, carrying the session cookie).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Concatenate, Literal, ParamSpec

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from events.alerts import Basis
from services.api import margin_answers as answers
from services.api.deps import ReadModels, ReadSide
from services.api.http.auth import Reader
from services.api.http.endpoints import Endpoint, endpoint, param
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


# The families of parallel routes below are made by these functions from the table ROUTES.


def _on_day(read: Callable[..., Awaitable[answers.Answer]], key: str, id_path: Any) -> Endpoint:
    """`read` of the assignment, contract or client that path parameter `key` names, as of a
    day (today by default)."""

    async def answer(ask: Asked, as_of: date | None, **path: str) -> Any:
        return await ask.answer(read, path[key], _today(as_of))

    return endpoint([param(key, id_path), param("ask", Ask), param("as_of", AsOf, None)], answer)


@dataclass(frozen=True)
class _Group:
    """Whose roll-up a group route reads: a client's or an account manager's, named by the path
    parameter `column` (the contracts' column of that name), or the portfolio's (no column).
    An account manager reads no other manager's (`own_only`)."""

    column: str | None = None
    id_path: Any = None
    own_only: bool = False

    def path(self) -> list[inspect.Parameter]:
        return [] if self.column is None else [param(self.column, self.id_path)]

    def checked(self, who: Principal, path: dict[str, str]) -> tuple[str | None, str]:
        """The column and the id the path names, once the reader may read them (the
        portfolio: none)."""
        if self.column is None:
            return None, ""
        if self.own_only:
            answers.may_read_manager(who, path[self.column])
        return self.column, path[self.column]


CLIENT = _Group("client_id", ClientIdPath)
MANAGER = _Group("account_manager_id", AccountManagerIdPath, own_only=True)
PORTFOLIO = _Group()


def _group_margin(group: _Group) -> Endpoint:
    """The group's margin roll-up as of a day, with a page of its contracts' roll-ups."""

    async def answer(ask: Asked, as_of: date | None, limit: int, offset: int, **path: str) -> Any:
        column, value = group.checked(ask.who, path)
        return await ask.answer(answers.group, _today(as_of), limit, offset, column, value)

    page = [param("limit", Limit, 100), param("offset", Offset, 0)]
    return endpoint([*group.path(), param("ask", Ask), param("as_of", AsOf, None), *page], answer)


def _group_hours(group: _Group) -> Endpoint:
    """The client's or account manager's hours and gross profit per week, as of a day."""

    async def answer(ask: Asked, as_of: date | None, **path: str) -> Any:
        column, value = group.checked(ask.who, path)
        return await ask.answer(answers.group_hours, _today(as_of), f"c.{column} = $1", value)

    return endpoint([*group.path(), param("ask", Ask), param("as_of", AsOf, None)], answer)


def _ranked(key: str, name_key: str | None) -> Endpoint:
    """Every group by `key` (client_id, account_manager_id) with its roll-up, ranked."""

    async def ranked(
        ask: Ask,
        as_of: AsOf = None,
        sort: Sort = "-weekly_gross_profit",
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> Any:
        return await ask.answer(
            answers.ranked_groups, _today(as_of), key, name_key, sort, limit, offset
        )

    return ranked


async def portfolio_trend(
    ask: Ask, as_of: AsOf = None, weeks: Annotated[int, Query(ge=1, le=156)] = 26
) -> Any:
    """One point a week, the last on `as_of`, each the weekly gross profit of the assignments
    active that day at the rates and terms in force that day (equal to `/margins/portfolio`'s
    figure for that day). Computed from the portfolio's histories, read once per data version
    and shared with the portfolio's other reads (`_portfolio`), whatever the number of weeks."""
    return await ask.answer(answers.portfolio_trend, _today(as_of), weeks)


async def assignment_rates(assignment_id: AssignmentIdPath, ask: Ask) -> Any:
    return await ask.answer(answers.assignment_rates, assignment_id)


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


async def portfolio_hours(ask: Ask, as_of: AsOf = None, since: WeeksSince = None) -> Any:
    return await ask.answer(answers.portfolio_hours, _today(as_of), since)


@dataclass(frozen=True)
class _Get:
    """One GET route: its path, name (the OpenAPI's operationId is made of it), summary,
    response model and error answers, and the endpoint that answers it."""

    path: str
    name: str
    summary: str
    model: Any
    codes: tuple[int, ...]
    endpoint: Endpoint


# What may be refused: another manager's assignment or contract (403) or an unknown one (404);
# a client's health is any reader's, of a client known (404); another manager's figures (403).
_OWN = (401, 403, 404, 422)
_KNOWN = (401, 404, 422)
_MANAGER = (401, 403, 422)
_ANY = (401, 422)

_HOURS = "hours worked and gross profit per week, against plan"

ROUTES = (
    _Get(
        "/margins/assignments/{assignment_id}",
        "assignment",
        "One assignment's margin",
        AssignmentMarginAsOf | AssignmentMargins,
        _OWN,
        _on_day(answers.assignment, "assignment_id", AssignmentIdPath),
    ),
    _Get(
        "/margins/contracts/{contract_id}",
        "contract",
        "A contract's margin roll-up",
        ContractMargin,
        _OWN,
        _on_day(answers.contract, "contract_id", ContractIdPath),
    ),
    _Get(
        "/margins/clients/{client_id}",
        "client",
        "A client's margin roll-up",
        GroupMargin,
        _ANY,
        _group_margin(CLIENT),
    ),
    _Get(
        "/margins/account-managers/{account_manager_id}",
        "account_manager",
        "An account manager's margin roll-up",
        GroupMargin,
        _MANAGER,
        _group_margin(MANAGER),
    ),
    _Get(
        "/margins/portfolio",
        "portfolio",
        "The whole portfolio (an account manager's own)",
        GroupMargin,
        _ANY,
        _group_margin(PORTFOLIO),
    ),
    _Get(
        "/margins/clients",
        "clients",
        "Every client's roll-up, ranked",
        RankedGroups,
        _ANY,
        _ranked("client_id", "client_name"),
    ),
    _Get(
        "/margins/account-managers",
        "account_managers",
        "Every account manager's roll-up, ranked",
        RankedGroups,
        _ANY,
        _ranked("account_manager_id", None),
    ),
    _Get(
        "/margins/portfolio/trend",
        "portfolio_trend",
        "The portfolio's weekly gross profit on each of the last `weeks` weeks",
        PortfolioTrend,
        _ANY,
        portfolio_trend,
    ),
    _Get(
        "/margins/assignments/{assignment_id}/rates",
        "assignment_rates",
        "An assignment's rate history: pay and bill from each effective date",
        AssignmentRates,
        _OWN,
        assignment_rates,
    ),
    _Get(
        "/margin-impacts",
        "margin_impacts",
        "The margin impact of each applied or proposed change",
        MarginImpactList,
        _ANY,
        margin_impacts,
    ),
    _Get(
        "/margins/assignments/{assignment_id}/hours",
        "assignment_hours",
        f"One assignment's {_HOURS}",
        AssignmentHours,
        _OWN,
        _on_day(answers.assignment_hours, "assignment_id", AssignmentIdPath),
    ),
    _Get(
        "/margins/contracts/{contract_id}/hours",
        "contract_hours",
        f"A contract's {_HOURS}",
        GroupHours,
        _OWN,
        _on_day(answers.contract_hours, "contract_id", ContractIdPath),
    ),
    _Get(
        "/margins/clients/{client_id}/hours",
        "client_hours",
        f"A client's {_HOURS}",
        GroupHours,
        _ANY,
        _group_hours(CLIENT),
    ),
    _Get(
        "/margins/account-managers/{account_manager_id}/hours",
        "account_manager_hours",
        f"An account manager's {_HOURS}",
        GroupHours,
        _MANAGER,
        _group_hours(MANAGER),
    ),
    _Get(
        "/margins/portfolio/hours",
        "portfolio_hours",
        f"The portfolio's {_HOURS}",
        GroupHours,
        _ANY,
        portfolio_hours,
    ),
    _Get(
        "/margins/clients/{client_id}/health",
        "client_health",
        "A client's health score as of a day, its parts and its last 26 weeks",
        ClientHealth,
        _KNOWN,
        _on_day(answers.client_health, "client_id", ClientIdPath),
    ),
)

for route in ROUTES:
    router.add_api_route(
        route.path,
        route.endpoint,
        methods=["GET"],
        name=route.name,
        summary=route.summary,
        response_model=route.model,
        responses=_answers(*route.codes),
    )
