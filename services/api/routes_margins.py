"""GET /v1/margins/... and /v1/margin-impacts: what finance reads, as of any date.

Money is shown rounded to cents half-up and percentages to 2 places, as strings; what is
stored stays exact. Account managers see their own contracts; finance and admin see all.
Every answer also comes as CSV (its rows) with `Accept: text/csv`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from events.alerts import Basis
from services.api.auth import Reader
from services.api.errors import ApiError
from services.api.ownership import ensure_may_read, owner_scope
from services.api.params import (
    AccountManagerIdPath,
    AsOf,
    AssignmentIdPath,
    AssignmentIdQuery,
    ClientIdPath,
    ContractIdPath,
    ContractIdQuery,
    Limit,
    Offset,
    Since,
)
from services.api.read import margins as read
from services.api.schemas import (
    AssignmentMarginAsOf,
    AssignmentMargins,
    ContractMargin,
    GroupMargin,
    MarginImpactList,
    errors,
)
from services.tokens import Principal

router = APIRouter(prefix="/v1", tags=["margins"])

_CSV = {"text/csv": {"schema": {"type": "string"}}}


def _answers(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": _CSV, "description": "JSON, or its rows as CSV"}, **errors(*codes)}


def _respond(request: Request, body: BaseModel, rows: Sequence[dict[str, Any]]) -> Any:
    """The model, or the rows as CSV when the client asks for text/csv."""
    if "text/csv" in request.headers.get("accept", ""):
        buf = io.StringIO()
        if rows:
            fields = [k for k in rows[0] if not isinstance(rows[0][k], list | dict)]
            w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        return Response(buf.getvalue(), media_type="text/csv")
    return body


def _today(as_of: date | None) -> date:
    return as_of or datetime.now(UTC).date()


def _schema(request: Request) -> str:
    return str(request.app.state.settings.projection_schema)


@router.get(
    "/margins/assignments/{assignment_id}",
    summary="One assignment's margin",
    response_model=AssignmentMarginAsOf | AssignmentMargins,
    responses=_answers(401, 403, 404, 422),
)
async def assignment(
    assignment_id: AssignmentIdPath, request: Request, who: Reader, as_of: AsOf = None
) -> Any:
    day, pool, s = _today(as_of), request.app.state.pool, _schema(request)
    found = await read.margins_of_assignments(
        pool, s, owner_scope(who), day, "a.assignment_id = $2", assignment_id
    )
    if not found:
        owner = await read.account_manager_of_assignment(pool, s, assignment_id)
        if owner is None:
            raise ApiError.field(404, "assignment_id", f"{assignment_id} is not known (yet)")
        ensure_may_read(who, owner, f"the contract of {assignment_id}")
    rows = [read.assignment_json(m, ids) for m, ids in found]
    body: BaseModel = (
        AssignmentMarginAsOf.model_validate({"as_of": day, **rows[0]})
        if len(rows) == 1
        else AssignmentMargins.model_validate({"as_of": day, "assignments": rows})
    )
    return _respond(request, body, rows)


@router.get(
    "/margins/contracts/{contract_id}",
    summary="A contract's margin roll-up",
    response_model=ContractMargin,
    responses=_answers(401, 403, 404, 422),
)
async def contract(
    contract_id: ContractIdPath, request: Request, who: Reader, as_of: AsOf = None
) -> Any:
    day, pool, s = _today(as_of), request.app.state.pool, _schema(request)
    c = await read.contract(pool, s, contract_id)
    if c is None:
        raise ApiError.field(404, "contract_id", f"contract {contract_id} is not known (yet)")
    ensure_may_read(who, c["account_manager_id"], f"contract {contract_id}")
    found = await read.contract_margin(pool, s, c, day)
    return _respond(request, ContractMargin.model_validate(found), found["assignments"])


async def _group(
    request: Request,
    who: Principal,
    day: date,
    where: str,
    args: list[Any],
    head: dict[str, Any],
    limit: int,
    offset: int,
) -> Any:
    found = await read.group_margin(
        request.app.state.pool,
        _schema(request),
        owner_scope(who),
        day,
        where,
        args,
        head,
        limit,
        offset,
    )
    return _respond(request, GroupMargin.model_validate(found), found["contracts"])


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
    as_of: AsOf = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Any:
    return await _group(
        request,
        who,
        _today(as_of),
        "c.client_id = $2",
        [client_id],
        {"client_id": client_id},
        limit,
        offset,
    )


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
    as_of: AsOf = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Any:
    ensure_may_read(who, account_manager_id, f"the roll-up of {account_manager_id}")
    return await _group(
        request,
        who,
        _today(as_of),
        "c.account_manager_id = $2",
        [account_manager_id],
        {"account_manager_id": account_manager_id},
        limit,
        offset,
    )


@router.get(
    "/margins/portfolio",
    summary="The whole portfolio (an account manager's own)",
    response_model=GroupMargin,
    responses=_answers(401, 422),
)
async def portfolio(
    request: Request, who: Reader, as_of: AsOf = None, limit: Limit = 100, offset: Offset = 0
) -> Any:
    return await _group(request, who, _today(as_of), "true", [], {}, limit, offset)


@router.get(
    "/margin-impacts",
    summary="The margin impact of each applied or proposed change",
    response_model=MarginImpactList,
    responses=_answers(401, 422),
)
async def margin_impacts(
    request: Request,
    who: Reader,
    contract_id: ContractIdQuery = None,
    assignment_id: AssignmentIdQuery = None,
    basis: Annotated[Basis | None, Query()] = None,
    since: Since = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Any:
    items = await read.margin_impacts(
        request.app.state.pool,
        _schema(request),
        owner_scope(who),
        {"contract_id": contract_id, "assignment_id": assignment_id, "basis": basis},
        since,
        limit,
        offset,
    )
    body = MarginImpactList.model_validate(
        {"margin_impacts": items, "limit": limit, "offset": offset}
    )
    return _respond(request, body, items)
