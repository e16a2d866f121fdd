"""POST /v1/events/preview: what POST /v1/events would answer, and what it would cause, without
appending, storing or sending anything.

The route only moves data: the body read as POST reads it (`submission_body.py`), handed to
`submitting.previewed`, which reads the named contracts' accepted events from the log and
runs the pure `writemodel.preview.preview` (the writer's `decide`, the read model and the
risk agent's `judge`); the answer in POST's shapes (`formatters.py`).
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from services.api.deps import AppSettings, Pool
from services.api.gateway.submitting import previewed
from services.api.http.openapi import SUBMISSION_BODY
from services.api.http.submission_body import PreviewedEvents
from services.api.schemas import ErrorBody, PreviewBatch, PreviewResult, errors

router = APIRouter(prefix="/v1", tags=["events"])


_RESULT = {"model": PreviewResult | PreviewBatch}


@router.post(
    "/events/preview",
    summary="What POST /v1/events would answer for the same body, and the margin impacts and "
    "alerts it would cause; appends nothing",
    responses={
        200: {"description": "each event's result, as POST would answer it"},
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
    body: PreviewedEvents, response: Response, settings: AppSettings, pool: Pool
) -> PreviewResult | PreviewBatch:
    response.status_code, answer = await previewed(body, settings, pool)
    return answer
