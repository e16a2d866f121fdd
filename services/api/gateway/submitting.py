"""What POST /v1/events and its preview do with a body once read (`submission_body.py`): the
submissions handed to the writer through the gateway, or previewed over the log, and the
answer with its HTTP status. Each route calls one of these."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from events.catalogue import Event
from services.api import results
from services.api.deps import ReadModels
from services.api.gateway.event_log import contract_events
from services.api.gateway.submissions import SubmissionGateway
from services.api.http.metrics import ApiMetrics
from services.api.http.submission_body import Submitted
from services.api.schemas import BatchResult, EventResult, PreviewBatch, PreviewResult
from services.progress import Progress
from services.reads import alerts as read_alerts
from services.reads import margins as read_margins
from services.settings import Settings
from writemodel.preview import preview


@dataclass(frozen=True)
class Answered:
    """POST /v1/events's answer: the status, the body, and where to poll (a lone pending)."""

    status: int
    body: EventResult | BatchResult
    location: str | None = None


async def submit(
    body: Submitted,
    gateway: SubmissionGateway,
    progress: Progress,
    reads: ReadModels,
    metrics: ApiMetrics,
    verdict_timeout_s: float,
) -> Answered:
    """The valid submissions handed to the writer (answered within `verdict_timeout_s`, else
    pending), each accepted one with its margin impacts and alerts once projected and judged
    (by the body's deadline), every result counted."""
    out = list(body.results)
    to_send = body.valid
    if to_send:
        verdicts = await gateway.submit([s for _, s in to_send], verdict_timeout_s)
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
        await attach_impacts(progress, reads, accepted, body.deadline - time.monotonic())
    status = results.overall_status(final)
    if not body.is_batch:
        location = final[0]["location"] if final[0]["status"] == "pending" else None
        return Answered(status, EventResult.model_validate(final[0]), location)
    return Answered(status, BatchResult.model_validate(results.batch(final)))


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


async def previewed(
    body: Submitted, settings: Settings, pool: Any
) -> tuple[int, PreviewResult | PreviewBatch]:
    """What POST would answer for the body, and what each event would cause, from the named
    contracts' accepted events (read from the log) and the pure `writemodel.preview`; with its
    status: 422 when an event is invalid, else 403 when one is for a contract the submitter
    may not write to, else 200."""
    out = list(body.results)
    past: list[Event] = []
    for contract_id in dict.fromkeys(s.event.contract_id for _, s in body.valid):
        past += await contract_events(
            settings.kafka_bootstrap_servers,
            pool,
            settings.projection_schema,
            settings.topics.events,
            contract_id,
        )
    previews = preview(past, [s for _, s in body.valid], body.now)
    for (i, _), p in zip(body.valid, previews, strict=True):
        out[i] = results.preview_json(p)

    final = [r for r in out if r is not None]
    # Shape first, as POST: any invalid event is a 422; then access: an event for a contract
    # the submitter may not write to is a 403, however the others would fare.
    if any(r["status"] == "invalid" for r in final):
        status = 422
    elif any(r.get("code") == "forbidden_contract" for r in final):
        status = 403
    else:
        status = 200
    if not body.is_batch:
        return status, PreviewResult.model_validate(final[0])
    return status, PreviewBatch.model_validate({"preview": True, **results.batch(final)})
