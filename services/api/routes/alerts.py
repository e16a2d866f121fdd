"""GET /v1/alerts, the live stream, and acknowledging and resolving them (a state change that
never goes back)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from events.alerts import AlertStatus, RuleName, Severity
from events.errors import FieldError
from services.api.deps import AppSettings, Pool, ReadModels, ReadSide
from services.api.http.auth import Reader, still_signed_in
from services.api.http.errors import ApiError, error_body
from services.api.http.ownership import ensure_may_read, ensure_may_resolve, owner_scope
from services.api.http.params import (
    AccountManagerIdQuery,
    AlertIdPath,
    ClientIdQuery,
    ContractIdQuery,
    Limit,
    Offset,
)
from services.api.schemas import Alert, AlertList, errors
from services.api.write import alerts as write
from services.reads import alerts as read
from services.tokens import Principal

router = APIRouter(prefix="/v1", tags=["alerts"])

_SSE_DOC = (
    "Server-sent events: `id: <change number>`, `event: alert`, `data: <an Alert as JSON>`, "
    "and a `: keep-alive` comment every 15 s of quiet. When the token is revoked or expires, "
    "`event: end` with an error body, and the stream ends."
)


# What each server-sent event is (OpenAPI 3.1: the schema of the media type describes one).
_SSE_EVENT = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$"},
        "event": {"type": "string", "enum": ["alert", "end"]},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {
                "anyOf": [
                    {"$ref": "#/components/schemas/Alert"},
                    {"$ref": "#/components/schemas/ErrorBody"},
                ]
            },
        },
    },
}
_ENDED = json.dumps(
    error_body(
        "the session or token has ended (signed out, revoked or expired)",
        [
            FieldError(
                field="Authorization",
                reason="the session or token has ended (signed out, revoked or expired)",
            )
        ],
    )
)


@router.get(
    "/alerts/stream",
    summary="New and changed alerts as server-sent events",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": _SSE_DOC,
            "content": {"text/event-stream": {"schema": _SSE_EVENT}},
        },
        **errors(401, 422),
    },
)
async def stream(
    request: Request,
    who: Reader,
    pool: Pool,
    settings: AppSettings,
    # A plain string, empty when absent: documented as string-or-null, a generated client sent
    # the header `null`, which was refused (issue #21).
    last_event_id: Annotated[
        str,
        Header(
            alias="Last-Event-ID",
            pattern=r"^[0-9]{0,18}$",
            description="resume after this change number (an `id:` of this stream); "
            "empty or absent: from now on",
        ),
    ] = "",
) -> StreamingResponse:
    """Each event's id is the alert's change number: reconnect with Last-Event-ID to resume.
    Without it the stream starts with what happens from now on. The stream ends within
    LEDGER_STREAM_TOKEN_CHECK_S once its token is revoked or expires, or its web session is
    signed out."""
    schema = settings.projection_schema
    check_every = settings.stream_token_check_s
    cursor = int(last_event_id) if last_event_id else await read.latest_alert_change(pool)
    owner = owner_scope(who)

    async def events() -> AsyncIterator[str]:
        nonlocal cursor
        quiet = 0.0
        checked = time.monotonic()
        while not await request.is_disconnected():
            if time.monotonic() - checked >= check_every:
                if not await still_signed_in(request, who, pool, settings):
                    yield f"event: end\ndata: {_ENDED}\n\n"
                    return
                checked = time.monotonic()
            changes = await read.alert_changes_after(pool, schema, owner, cursor)
            for seq, alert in changes:
                cursor = seq
                yield f"id: {cursor}\nevent: alert\ndata: {json.dumps(alert)}\n\n"
            if changes:
                quiet = 0.0
                continue
            await asyncio.sleep(0.5)
            quiet += 0.5
            if quiet >= 15:  # a comment line keeps proxies from closing an idle stream
                quiet = 0.0
                yield ": keep-alive\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


@router.get(
    "/alerts",
    summary="Contract-risk alerts, newest first, with exposure totals",
    responses=errors(401, 422),
)
async def alerts(
    who: Reader,
    reads: ReadSide,
    status: Annotated[AlertStatus | None, Query()] = None,
    severity: Annotated[Severity | None, Query()] = None,
    rule: Annotated[RuleName | None, Query()] = None,
    contract_id: ContractIdQuery = None,
    client_id: ClientIdQuery = None,
    account_manager_id: AccountManagerIdQuery = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> AlertList:
    """`totals` counts every alert the filters match (not only this page) and sums their
    exposure, per severity."""
    owner = owner_scope(who)
    filters: dict[str, str | None] = {
        "a.status": status,
        "a.severity": severity,
        "a.rule": rule,
        "a.contract_id": contract_id,
        "c.client_id": client_id,
        "c.account_manager_id": account_manager_id,
    }
    page = await read.alert_page(reads.pool, reads.schema, owner, filters, limit, offset)
    return AlertList.model_validate(page)


async def _transition(
    reads: ReadModels, who: Principal, alert_id: str, to: str, allowed_from: tuple[str, ...]
) -> Alert:
    row = await read.alert_status_and_owner(reads.pool, reads.schema, alert_id)
    missing = ApiError.field(404, "alert_id", f"alert {alert_id} is not known")
    if row is None:
        raise missing
    ensure_may_read(who, row["account_manager_id"], missing)
    if to == "resolved":
        ensure_may_resolve(who, alert_id)
    moved = await write.alert_moved_to(reads.pool, alert_id, to, who.name, allowed_from)
    if moved is None:
        raise ApiError.field(
            409, "status", f"alert {alert_id} is already {row['status']}; it cannot go back"
        )
    return Alert.model_validate(moved)


@router.post(
    "/alerts/{alert_id}/acknowledge",
    summary="Someone is on it (finance, admin, the contract's account manager)",
    responses=errors(401, 403, 404, 409, 422),
)
async def acknowledge(alert_id: AlertIdPath, who: Reader, reads: ReadSide) -> Alert:
    return await _transition(reads, who, alert_id, "acknowledged", ("open",))


@router.post(
    "/alerts/{alert_id}/resolve",
    summary="Dealt with (finance, admin)",
    responses=errors(401, 403, 404, 409, 422),
)
async def resolve(alert_id: AlertIdPath, who: Reader, reads: ReadSide) -> Alert:
    return await _transition(reads, who, alert_id, "resolved", ("open", "acknowledged"))
