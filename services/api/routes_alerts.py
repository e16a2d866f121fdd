"""GET /v1/alerts, and acknowledging and resolving them (a state change that never goes back)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from events.alerts import Alert
from projections import margin
from services.api.alert_queries import (
    ALERT_COLUMNS,
    SEVERITIES,
    AlertFilter,
    alert_page,
    alert_totals,
)
from services.api.auth import Reader
from services.tokens import Principal

router = APIRouter(prefix="/v1", tags=["alerts"])


# Only rows written by transactions older than every transaction still running: a number taken
# by a transaction that commits late is never skipped by a reader that has moved past it.
COMMITTED_BEFORE_RUNNING = (
    "a.xmin::text::bigint < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint % 4294967296)"
)


def alert_json(r: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in (
        "alert_id", "rule", "severity", "basis", "contract_id", "client_name", "assignment_id",
        "staffer_id", "message", "stream_version", "status", "acknowledged_by", "resolved_by",
    ):  # fmt: skip
        out[k] = r[k]
    out["exposure"] = None if r["exposure"] is None else str(margin.round_money(r["exposure"]))
    out["event_ids"] = [str(e) for e in r["event_ids"]]
    for k in ("raised_at", "acknowledged_at", "resolved_at"):
        out[k] = r[k].isoformat() if r[k] is not None else None
    for k in ("client_id", "account_manager_id"):  # when the contract was joined
        if k in r:
            out[k] = r[k]
    return out


def unstored_alert_json(alert: Alert) -> dict[str, Any]:
    """An alert not stored (a preview's) shown by `alert_json`, as a stored one would be: open,
    nobody has acknowledged or resolved it."""
    never = dict.fromkeys(("acknowledged_by", "acknowledged_at", "resolved_by", "resolved_at"))
    return alert_json(alert.model_dump() | never)


def _owner_join(request: Request) -> str:
    s = request.app.state.settings.projection_schema
    return f"LEFT JOIN {s}.contracts c ON c.contract_id = a.contract_id"


@router.get("/alerts/stream", summary="New and changed alerts as server-sent events")
async def stream(
    request: Request,
    who: Reader,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """Each event's id is the alert's change number: reconnect with Last-Event-ID to resume.
    Without it the stream starts with what happens from now on."""
    pool = request.app.state.pool
    if last_event_id is not None and not last_event_id.isdigit():
        raise HTTPException(422, "Last-Event-ID must be a number given by this stream")
    cursor = (
        int(last_event_id)
        if last_event_id is not None
        else await pool.fetchval("SELECT coalesce(max(change_seq), 0) FROM alerts")
    )
    scope, args = (
        ("true", [])
        if who.may_read_all()
        else ("c.account_manager_id = $2", [who.account_manager_id])
    )

    async def events() -> AsyncIterator[str]:
        nonlocal cursor
        quiet = 0.0
        while not await request.is_disconnected():
            rows = await pool.fetch(
                f"""SELECT {ALERT_COLUMNS}, c.client_id, c.account_manager_id
                    FROM alerts a {_owner_join(request)}
                    WHERE a.change_seq > $1 AND {scope} AND {COMMITTED_BEFORE_RUNNING}
                    ORDER BY a.change_seq LIMIT 100""",
                cursor,
                *args,
            )
            for r in rows:
                cursor = r["change_seq"]
                yield f"id: {cursor}\nevent: alert\ndata: {json.dumps(alert_json(r))}\n\n"
            if rows:
                quiet = 0.0
                continue
            await asyncio.sleep(0.5)
            quiet += 0.5
            if quiet >= 15:  # a comment line keeps proxies from closing an idle stream
                quiet = 0.0
                yield ": keep-alive\n\n"

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


@router.get("/alerts", summary="Contract-risk alerts, newest first, with exposure totals")
async def alerts(
    request: Request,
    who: Reader,
    status: Annotated[str | None, Query(pattern="^(open|acknowledged|resolved)$")] = None,
    severity: Annotated[str | None, Query(pattern="^(critical|high|medium|low)$")] = None,
    rule: str | None = None,
    contract_id: str | None = None,
    client_id: str | None = None,
    account_manager_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JSONResponse:
    """`totals` counts every alert the filters match (not only this page) and sums their
    exposure, per severity."""
    f = AlertFilter(
        status, severity, rule, contract_id, client_id, account_manager_id,
        scope_manager_id=None if who.may_read_all() else who.account_manager_id,
    )  # fmt: skip
    st = request.app.state
    schema = st.settings.projection_schema
    rows = await alert_page(st.pool, schema, f, limit, offset)
    sums = {r["severity"]: r for r in await alert_totals(st.pool, schema, f)}
    totals = {
        sev: {
            "count": sums[sev]["count"] if sev in sums else 0,
            "exposure": str(
                margin.round_money(sums[sev]["exposure"] if sev in sums else Decimal(0))
            ),
        }
        for sev in SEVERITIES
    }
    return JSONResponse(
        {
            "alerts": [alert_json(r) for r in rows],
            "totals": totals,
            "limit": limit,
            "offset": offset,
        }
    )


async def _transition(
    request: Request, who: Principal, alert_id: str, to: str, allowed_from: tuple[str, ...]
) -> JSONResponse:
    pool = request.app.state.pool
    row = await pool.fetchrow(
        f"""SELECT a.status, c.account_manager_id FROM alerts a {_owner_join(request)}
            WHERE a.alert_id = $1""",
        alert_id,
    )
    if row is None:
        raise HTTPException(404, f"alert {alert_id} is not known")
    own = who.role == "account_manager" and row["account_manager_id"] == who.account_manager_id
    may = who.may_read_all() or (to == "acknowledged" and own)
    if not may:
        raise HTTPException(403, f"you may not mark alert {alert_id} {to}")
    column = "acknowledged" if to == "acknowledged" else "resolved"
    updated = await pool.fetchrow(
        f"""UPDATE alerts a SET status = $2, {column}_by = $3, {column}_at = now(),
                   change_seq = nextval('alert_change_seq')
            WHERE alert_id = $1 AND status = ANY($4::text[])
            RETURNING {ALERT_COLUMNS.replace("a.", "")}""",
        alert_id,
        to,
        who.name,
        list(allowed_from),
    )
    if updated is None:
        raise HTTPException(409, f"alert {alert_id} is already {row['status']}; it cannot go back")
    return JSONResponse(alert_json(updated))


@router.post("/alerts/{alert_id}/acknowledge", summary="Someone is on it")
async def acknowledge(alert_id: str, request: Request, who: Reader) -> JSONResponse:
    return await _transition(request, who, alert_id, "acknowledged", ("open",))


@router.post("/alerts/{alert_id}/resolve", summary="Dealt with (finance, admin)")
async def resolve(alert_id: str, request: Request, who: Reader) -> JSONResponse:
    return await _transition(request, who, alert_id, "resolved", ("open", "acknowledged"))
