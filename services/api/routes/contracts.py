"""GET /v1/contracts: an account manager's contracts at a glance (finance and admin: all),
GET /v1/schema/events: the catalogue's JSON Schema, from which the web app builds its forms,
and GET /v1/schema/alerts: the rule names, severities, statuses and channel kinds its alert
board and alert routing offer."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter

from events.schema import event_json_schemas
from projections import margin
from projections.margin_status import status_text
from services.api.deps import ReadSide
from services.api.http.auth import Reader
from services.api.http.errors import ApiError
from services.api.http.ownership import ensure_may_read, manager_scope
from services.api.http.params import AccountManagerIdQuery, AsOf, ContractIdPath, Limit, Offset
from services.api.schemas import (
    AlertVocabulary,
    ContractOverviewAsOf,
    ContractOverviews,
    alert_vocabulary,
    errors,
)
from services.reads.contracts import contract_overview, contracts_overview

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


@router.get(
    "/contracts",
    summary="Contracts with their margin status and open items",
    responses=errors(401, 403, 422),
)
async def contracts(
    who: Reader,
    reads: ReadSide,
    account_manager_id: AccountManagerIdQuery = None,
    as_of: AsOf = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> ContractOverviews:
    """An account manager sees their own contracts; finance and admin every contract, or one
    manager's. Each contract carries its status colour (red: an active assignment loses money
    per hour; amber: a markup below the contract's floor; green otherwise), its active
    assignments, open negotiations, raise requests, bypass threats and unresolved alerts."""
    day = as_of or datetime.now(UTC).date()
    total, rows = await contracts_overview(
        reads.pool, reads.schema, day, manager_scope(who, account_manager_id), limit, offset
    )
    return ContractOverviews.model_validate(
        {
            "as_of": day.isoformat(),
            "total": total,
            "contracts": [_contract_json(c) for c in rows],
            "limit": limit,
            "offset": offset,
        }
    )


@router.get(
    "/contracts/{contract_id}",
    summary="One contract's status and open items",
    responses=errors(401, 403, 404, 422),
)
async def one_contract(
    contract_id: ContractIdPath, who: Reader, reads: ReadSide, as_of: AsOf = None
) -> ContractOverviewAsOf:
    day = as_of or datetime.now(UTC).date()
    found = await contract_overview(reads.pool, reads.schema, contract_id, day)
    missing = ApiError.field(404, "contract_id", f"contract {contract_id} is not known (yet)")
    if found is None:
        raise missing
    ensure_may_read(who, found["account_manager_id"], missing)
    return ContractOverviewAsOf.model_validate({"as_of": day.isoformat(), **_contract_json(found)})


@router.get(
    "/schema/events",
    tags=["events"],
    summary="The JSON Schema of every event type",
    responses=errors(401),
)
async def event_schemas(who: Reader) -> dict[str, dict[str, Any]]:
    """Keyed by event type, as `ledger schema` prints it; forms are generated from it."""
    return event_json_schemas()


@router.get("/schema/alerts", tags=["alerts"], summary="Alert words", responses=errors(401))
async def alert_schema(who: Reader) -> AlertVocabulary:
    """The rule names, severities, statuses and channel kinds, from the API's own types: what
    the alert board filters by and alert routing matches on."""
    return alert_vocabulary()
