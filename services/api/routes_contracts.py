"""GET /v1/contracts: an account manager's contracts at a glance (finance and admin: all), and
GET /v1/schema/events: the catalogue's JSON Schema, from which the web app builds its forms."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from events.schema import event_json_schemas
from projections import margin
from projections.margin_status import status_text
from services.api.auth import Reader
from services.api.contract_queries import contract_owner, contracts_overview
from services.tokens import Principal

router = APIRouter(prefix="/v1", tags=["contracts"])

_MONEY = ("pay_rate", "bill_rate", "margin_per_hour", "weekly_gross_profit")


def _show(name: str, v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(margin.round_money(v) if name in _MONEY else margin.round_pct(v))
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, list):
        return [_show(name, x) for x in v]
    if isinstance(v, dict):
        return {k: _show(k, x) for k, x in v.items()}
    return v


def _contract_json(c: dict[str, Any]) -> dict[str, Any]:
    out = _show("", c)
    out["margin_status_text"] = status_text(c["margin_status"])
    return dict(out)


def _manager_scope(who: Principal, account_manager_id: str | None) -> str | None:
    if who.may_read_all():
        return account_manager_id
    if account_manager_id is not None and account_manager_id != who.account_manager_id:
        raise HTTPException(403, "account managers see only their own contracts")
    return who.account_manager_id


@router.get("/contracts", summary="Contracts with their margin status and open items")
async def contracts(
    request: Request,
    who: Reader,
    account_manager_id: Annotated[
        str | None, Query(description="finance and admin: one manager's; default all")
    ] = None,
    as_of: Annotated[date | None, Query(description="YYYY-MM-DD; default today (UTC)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JSONResponse:
    """An account manager sees their own contracts; finance and admin every contract, or one
    manager's. Each contract carries its status colour (red: an active assignment loses money
    per hour; amber: a markup below the contract's floor; green otherwise), its active
    assignments, open negotiations, raise requests, bypass threats and unresolved alerts."""
    st = request.app.state
    day = as_of or datetime.now(UTC).date()
    total, rows = await contracts_overview(
        st.pool, st.settings.projection_schema, day, _manager_scope(who, account_manager_id),
        limit, offset,
    )  # fmt: skip
    return JSONResponse(
        {
            "as_of": day.isoformat(),
            "total": total,
            "contracts": [_contract_json(c) for c in rows],
            "limit": limit,
            "offset": offset,
        }
    )


@router.get("/contracts/{contract_id}", summary="One contract's status and open items")
async def one_contract(
    contract_id: str,
    request: Request,
    who: Reader,
    as_of: Annotated[date | None, Query(description="YYYY-MM-DD; default today (UTC)")] = None,
) -> JSONResponse:
    st = request.app.state
    s = st.settings.projection_schema
    owner = await contract_owner(st.pool, s, contract_id)
    if owner is None:
        raise HTTPException(404, f"contract {contract_id} is not known (yet)")
    if not who.may_read_all() and owner != who.account_manager_id:
        raise HTTPException(403, f"contract {contract_id} is not managed by you")
    day = as_of or datetime.now(UTC).date()
    _, rows = await contracts_overview(st.pool, s, day, None, 1, 0, contract_id=contract_id)
    return JSONResponse({"as_of": day.isoformat(), **_contract_json(rows[0])})


@router.get("/schema/events", tags=["events"], summary="The JSON Schema of every event type")
async def event_schemas(who: Reader) -> dict[str, dict[str, Any]]:
    """Keyed by event type, as `ledger schema` prints it; forms are generated from it."""
    return event_json_schemas()
