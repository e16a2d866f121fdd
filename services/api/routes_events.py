"""POST /v1/events, GET /v1/events (audit) and GET /v1/submissions/{event_id}."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from events.errors import WHOLE_EVENT, EventValidationError
from events.messages import Submission, Verdict
from events.serialization import decode_event, parse_submission
from services.api import results
from services.api.auth import Reader, Submitter
from services.api.body import counts_as_ints, fractions_refused, read_json
from services.api.deps import (
    AppSettings,
    Gateway,
    Metrics,
    Offsets,
    Pool,
    ProjectionProgress,
    RateLimits,
    ReadModels,
    ReadSide,
)
from services.api.errors import ApiError
from services.api.event_log import caught_up
from services.api.openapi import SUBMISSION_BODY
from services.api.ownership import ensure_may_read
from services.api.rate_limit import RateLimited, TokenBuckets
from services.api.read import alerts as read_alerts
from services.api.read import event_log as read_event_log
from services.api.read import margins as read_margins
from services.api.read import submissions as stored_submissions
from services.api.schemas import AuditLog, BatchResult, ErrorBody, EventResult, errors
from services.api.unavailable import Unavailable
from services.progress import Progress
from services.settings import Settings
from services.tokens import Principal

router = APIRouter(prefix="/v1", tags=["events"])
MAX_BATCH = 500
MAX_AUDIT_PAGE = 1000  # events per page of GET /v1/events
JSON = "application/json"

_RESULT = {"model": EventResult | BatchResult}
_SUBMIT_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {**_RESULT, "description": "a duplicate: the original result, nothing appended"},
    201: {**_RESULT, "description": "accepted: appended, with the margin impacts and alerts"},
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


def _events_of(body: Any) -> tuple[list[Any], bool]:
    if isinstance(body, dict) and set(body) == {"events"}:
        items = body["events"]
        if not isinstance(items, list) or not items:
            raise ApiError.field(422, "events", "must be a non-empty list of events")
        if len(items) > MAX_BATCH:
            raise ApiError.field(422, "events", f"at most {MAX_BATCH} events per request")
        return items, True
    if isinstance(body, dict):
        return [body], False
    raise ApiError.field(422, "(body)", 'must be one event object or {"events": [...]}')


async def read_submissions(
    request: Request,
    who: Principal,
    now: datetime,
    settings: Settings,
    rate_limits: TokenBuckets,
    cost_per_event: int = 1,
) -> tuple[list[dict[str, Any] | None], list[tuple[int, Submission]], bool]:
    """The body of POST /v1/events (and of its preview) as submissions stamped by `who` at
    `now`: (the result of each event invalid in shape, else None; the valid ones with their
    index; whether the body was a batch). A body that is no event at all raises ApiError
    (413, 415 or 422, as body.read_json); one over the token's rate (`cost_per_event` units an
    event, services/api/rate_limit.py), a 429 with Retry-After."""
    body = await read_json(request, settings.max_json_depth)
    items, is_batch = _events_of(body)
    try:
        rate_limits.take(who.key, len(items) * cost_per_event)
    except RateLimited as limited:
        raise ApiError.field(
            429,
            "(token)",
            f"this token has asked for more than the API serves one token; "
            f"send again in {limited.retry_after_s} s",
            headers={"Retry-After": str(limited.retry_after_s)},
        ) from None
    out: list[dict[str, Any] | None] = [None] * len(items)
    valid: list[tuple[int, Submission]] = []
    for i, raw in enumerate(items):
        if not isinstance(raw, dict):
            err = EventValidationError.single(WHOLE_EVENT, "must be a JSON object")
            out[i] = results.invalid(i, raw, err)
            continue
        if fractions := fractions_refused(raw):
            out[i] = results.invalid(i, raw, EventValidationError(fractions))
            continue
        try:
            event, expected = parse_submission(counts_as_ints(raw), now=now)
        except EventValidationError as err:
            out[i] = results.invalid(i, raw, err)
            continue
        stamped = event.model_copy(update={"recorded_by": who.name, "recorded_at": now})
        valid.append(
            (
                i,
                Submission(
                    submission_id=uuid.uuid4(),
                    submitter=who.submitter(),
                    expected_stream_version=expected,
                    event=stamped,
                ),
            )
        )
    return out, valid, is_batch


@router.post(
    "/events",
    summary="Submit one event or a batch; answers the writer's verdicts",
    status_code=201,
    response_model=None,
    responses=_SUBMIT_ANSWERS,
    openapi_extra={"requestBody": SUBMISSION_BODY},
)
async def submit_events(
    request: Request,
    who: Submitter,
    settings: AppSettings,
    rate_limits: RateLimits,
    gateway: Gateway,
    progress: ProjectionProgress,
    reads: ReadSide,
    metrics: Metrics,
) -> Response:
    now = datetime.now(UTC)
    deadline = time.monotonic() + settings.verdict_timeout_s
    out, to_send, is_batch = await read_submissions(request, who, now, settings, rate_limits)

    if to_send:
        verdicts = await gateway.submit([s for _, s in to_send], settings.verdict_timeout_s)
        for (i, s), v in zip(to_send, verdicts, strict=True):
            ev = s.event
            out[i] = (
                results.from_verdict(v)
                if v is not None
                else results.pending(str(ev.event_id), ev.contract_id, ev.type)
            )

    final = [r for r in out if r is not None]
    metrics.count_results(final)
    accepted = [r for r in final if r["status"] == "accepted"]
    if accepted:
        await attach_impacts(progress, reads, accepted, deadline - time.monotonic())
    status = results.overall_status(final)
    # Serialised by pydantic-core in one step: the same JSON text as JSONResponse's json.dumps
    # of model_dump(mode="json") (compact, UTF-8, money as strings), without the dict between.
    if not is_batch:
        headers = {"Location": final[0]["location"]} if final[0]["status"] == "pending" else None
        answer = EventResult.model_validate(final[0]).model_dump_json()
        return Response(answer, status_code=status, headers=headers, media_type=JSON)
    batch = BatchResult.model_validate(results.batch(final)).model_dump_json()
    return Response(batch, status_code=status, media_type=JSON)


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
    row = await stored_submissions.submission(
        pool, event_id, None if who.may_read_all() else who.name
    )
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
    schema = settings.projection_schema
    up_to_date = await caught_up(
        offsets, pool, schema, settings.topics.events, contract_id, settings.verdict_timeout_s
    )
    try:
        page = await read_event_log.contract_page(pool, schema, contract_id, after_version, limit)
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


async def attach_impacts(
    progress: Progress, reads: ReadModels, accepted: list[dict[str, Any]], wait_s: float
) -> None:
    """Adds the margin impacts and the alerts each accepted event caused, once the projector
    and the rules have applied it (waiting at most `wait_s`, woken by services/progress.py);
    each is null when not yet."""
    want = {(r["contract_id"], r["stream_version"]) for r in accepted}
    done, ruled = await progress.reached(want, wait_s)
    impacts = await read_margins.impacts_of_events(reads.pool, reads.schema, sorted(done))
    alerts = await read_alerts.alerts_of_events(reads.pool, sorted(ruled))
    for r in accepted:
        key = (r["contract_id"], r["stream_version"])
        r["margin_impacts"] = impacts.get(key)
        r["alerts"] = alerts.get(key)
