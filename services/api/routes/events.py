"""POST /v1/events, GET /v1/events (audit) and GET /v1/submissions/{event_id}."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from events.messages import Verdict
from events.serialization import decode_event
from services.api import results
from services.api.deps import (
    AppSettings,
    Gateway,
    Metrics,
    Offsets,
    Pool,
    ProjectionProgress,
    ReadSide,
)
from services.api.gateway.event_log import audit_page
from services.api.gateway.submitting import submit
from services.api.http.auth import Reader
from services.api.http.errors import ApiError
from services.api.http.openapi import SUBMISSION_BODY
from services.api.http.ownership import ensure_may_read, submitter_scope
from services.api.http.submission_body import SubmittedEvents
from services.api.http.unavailable import Unavailable
from services.api.schemas import AuditLog, BatchResult, ErrorBody, EventResult, errors
from services.reads import submissions as stored_submissions

router = APIRouter(prefix="/v1", tags=["events"])
MAX_AUDIT_PAGE = 1000  # events per page of GET /v1/events

_RESULT = {"model": EventResult | BatchResult}
_SUBMIT_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {**_RESULT, "description": "a duplicate: the original result, nothing appended"},
    # 201 (the default status code): typed by the response model.
    201: {"description": "accepted: appended, with the margin impacts and alerts"},
    202: {
        **_RESULT,
        "description": "the writer has not decided within the deadline: poll `location`",
        "headers": {"Location": {"schema": {"type": "string"}, "description": "where to poll"}},
    },
    207: {"model": BatchResult, "description": "a batch whose events had different outcomes"},
    **errors(401, 403, 413, 415, 429),
    # A role that may not submit gets the error body; an event for another manager's contract
    # is refused by the writer and answered as every refused event (`forbidden_contract`).
    403: {
        "model": EventResult | BatchResult | ErrorBody,
        "description": "refused: forbidden_contract (an event result), or the role may not "
        "submit (the error body)",
    },
    404: {**_RESULT, "description": "refused: unknown contract, assignment, ..."},
    409: {**_RESULT, "description": "refused: conflicts with the contract's state"},
    422: {"model": EventResult | BatchResult | ErrorBody, "description": "invalid: named fields"},
}


@router.post(
    "/events",
    summary="Submit one event or a batch; answers the writer's verdicts",
    status_code=201,
    responses=_SUBMIT_ANSWERS,
    openapi_extra={"requestBody": SUBMISSION_BODY},
)
async def submit_events(
    body: SubmittedEvents,
    response: Response,
    gateway: Gateway,
    progress: ProjectionProgress,
    reads: ReadSide,
    metrics: Metrics,
    settings: AppSettings,
) -> EventResult | BatchResult:
    answered = await submit(body, gateway, progress, reads, metrics, settings.verdict_timeout_s)
    response.status_code = answered.status
    if answered.location is not None:
        response.headers["Location"] = answered.location
    return answered.body


@router.get(
    "/submissions/{event_id}",
    summary="The verdict on a submission answered 202",
    response_model=EventResult,
    responses={
        202: {"model": EventResult, "description": "still pending"},
        **errors(401, 404, 422),
    },
)
async def submission(event_id: uuid.UUID, who: Reader, pool: Pool) -> Any:
    row = await stored_submissions.submission(pool, event_id, submitter_scope(who))
    if row is None:
        raise ApiError.field(404, "event_id", f"no submission of event {event_id} is known")
    if row["verdict"] is None:
        pending = results.pending(str(event_id), row["contract_id"], None)
        return JSONResponse(EventResult.model_validate(pending).model_dump(mode="json"), 202)
    # The poll itself succeeded: 200, with the verdict's own http_status in the body.
    return EventResult.model_validate(
        results.from_verdict(Verdict.model_validate_json(row["verdict"]))
    )


@router.get(
    "/events",
    summary="A page of a contract's accepted events, in order, for audit",
    description="Read from the audit index the projector keeps beside the read models, a page "
    "at a time: `after_version` and `limit` page through long histories (`next_after_version` "
    "names the next page). Read-your-writes: the answer waits (at most "
    "LEDGER_VERDICT_TIMEOUT_S) until the projector has applied everything accepted before the "
    "request; `up_to_date` says whether it had.",
    response_model=AuditLog,
    response_model_exclude_none=True,
    responses=errors(401, 403, 404, 422),
)
async def audit_log(
    who: Reader,
    settings: AppSettings,
    pool: Pool,
    offsets: Offsets,
    contract_id: Annotated[str, Query(pattern=r"^[A-Za-z0-9._:-]{1,64}$")],
    after_version: Annotated[int, Query(ge=0, le=2_000_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_PAGE)] = MAX_AUDIT_PAGE,
) -> Any:
    try:
        page, up_to_date = await audit_page(
            offsets,
            pool,
            settings.projection_schema,
            settings.topics.events,
            contract_id,
            after_version,
            limit,
            settings.verdict_timeout_s,
        )
    except asyncpg.UndefinedTableError as exc:  # tables of an older layout: being rebuilt
        raise Unavailable("projections", "being rebuilt to this version's layout") from exc
    missing = ApiError.field(404, "contract_id", f"contract {contract_id} has no events")
    if page is None:
        raise missing
    ensure_may_read(who, page.account_manager_id, missing)
    events = [decode_event(body.encode()) for body in page.bodies]
    return AuditLog(
        contract_id=contract_id,
        stream_version=page.stream_version,
        events=events,
        next_after_version=(events[-1].stream_version or 0) if page.more else None,
        up_to_date=up_to_date,
    )
