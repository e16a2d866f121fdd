"""POST /v1/events/preview: what POST /v1/events would answer, and what it would cause, without
appending, storing or sending anything.

The route only moves data: it reads the body as POST does, reads the named contracts' accepted
events from the log, and hands both to the pure `writemodel.preview.preview` (the writer's
`decide`, the read model and the risk rules); it answers with POST's serializers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from events.catalogue import Event
from services.api import results
from services.api.auth import Submitter
from services.api.deps import AppSettings, Pool, RateLimits
from services.api.event_log import contract_events
from services.api.formatters import preview_json
from services.api.openapi import SUBMISSION_BODY
from services.api.rate_limit import PREVIEW_COST
from services.api.routes_events import read_submissions
from services.api.schemas import ErrorBody, PreviewBatch, PreviewResult, errors
from writemodel.preview import preview

router = APIRouter(prefix="/v1", tags=["events"])


_RESULT = {"model": PreviewResult | PreviewBatch}


@router.post(
    "/events/preview",
    summary="What POST /v1/events would answer for the same body, and the margin impacts and "
    "alerts it would cause; appends nothing",
    response_model=None,
    responses={
        200: {**_RESULT, "description": "each event's result, as POST would answer it"},
        **errors(401, 413, 415, 429),
        403: {
            "model": PreviewResult | PreviewBatch | ErrorBody,
            "description": "an event is for a contract the submitter may not write to",
        },
        422: {"model": PreviewResult | PreviewBatch | ErrorBody, "description": "invalid"},
    },
    openapi_extra={"requestBody": SUBMISSION_BODY},
)
async def preview_events(
    request: Request,
    who: Submitter,
    settings: AppSettings,
    rate_limits: RateLimits,
    pool: Pool,
) -> JSONResponse:
    now = datetime.now(UTC)
    out, valid, is_batch = await read_submissions(
        request, who, now, settings, rate_limits, PREVIEW_COST
    )

    past: list[Event] = []
    for contract_id in dict.fromkeys(s.event.contract_id for _, s in valid):
        past += await contract_events(
            settings.kafka_bootstrap_servers,
            pool,
            settings.projection_schema,
            settings.topics.events,
            contract_id,
        )
    previews = preview(past, [s for _, s in valid], now)
    for (i, _), p in zip(valid, previews, strict=True):
        out[i] = preview_json(p)

    final = [r for r in out if r is not None]
    # Shape first, as POST: any invalid event is a 422; then access: an event for a contract
    # the submitter may not write to is a 403, however the others would fare.
    if any(r["status"] == "invalid" for r in final):
        status = 422
    elif any(r.get("code") == "forbidden_contract" for r in final):
        status = 403
    else:
        status = 200
    if not is_batch:
        return JSONResponse(_shown(PreviewResult.model_validate(final[0])), status_code=status)
    batch = PreviewBatch.model_validate({"preview": True, **results.batch(final)})
    answer = {**batch.model_dump(mode="json"), "results": [_shown(r) for r in batch.results]}
    return JSONResponse(answer, status_code=status)


def _shown(result: PreviewResult) -> dict[str, Any]:
    """A result as JSON; an invalid event's exactly as POST answers it (no `preview`)."""
    return result.model_dump(mode="json", exclude={"preview"} if result.preview is None else None)
