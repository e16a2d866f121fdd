"""POST /v1/events, GET /v1/events (audit) and GET /v1/submissions/{event_id}."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from events.errors import EventValidationError
from events.messages import Submission, Verdict
from events.serialization import decode_json, parse_submission
from services.api import results
from services.api.auth import Reader, Submitter
from services.api.event_log import contract_events
from services.api.routes_alerts import ALERT_COLUMNS, alert_json
from services.api.routes_margins import impact_json
from services.tokens import Principal

router = APIRouter(prefix="/v1", tags=["events"])
MAX_BATCH = 500


def _events_of(body: Any) -> tuple[list[Any], bool]:
    if isinstance(body, dict) and set(body) == {"events"}:
        items = body["events"]
        if not isinstance(items, list) or not items:
            raise _unprocessable("events", "must be a non-empty list of events")
        if len(items) > MAX_BATCH:
            raise _unprocessable("events", f"at most {MAX_BATCH} events per request")
        return items, True
    if isinstance(body, dict):
        return [body], False
    raise _unprocessable("(body)", 'must be one event object or {"events": [...]}')


def _unprocessable(field: str, reason: str) -> HTTPException:
    return HTTPException(422, {"errors": [{"field": field, "reason": reason}]})


async def read_submissions(
    request: Request, who: Principal, now: datetime
) -> tuple[list[dict[str, Any] | None], list[tuple[int, Submission]], bool]:
    """The body of POST /v1/events (and of its preview) as submissions stamped by `who` at
    `now`: (the result of each event invalid in shape, else None; the valid ones with their
    index; whether the body was a batch). A body that is no event at all raises 422."""
    try:
        body = decode_json(await request.body())
    except (ValueError, json.JSONDecodeError) as exc:
        raise _unprocessable("(body)", f"is not valid JSON: {exc}") from exc
    items, is_batch = _events_of(body)
    out: list[dict[str, Any] | None] = [None] * len(items)
    valid: list[tuple[int, Submission]] = []
    for i, raw in enumerate(items):
        try:
            event, expected = parse_submission(raw)
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


@router.post("/events", summary="Submit one event or a batch; answers the writer's verdicts")
async def submit_events(request: Request, who: Submitter) -> JSONResponse:
    now = datetime.now(UTC)
    deadline = time.monotonic() + request.app.state.settings.verdict_timeout_s
    out, to_send, is_batch = await read_submissions(request, who, now)

    if to_send:
        gateway = request.app.state.gateway
        verdicts = await gateway.submit(
            [s for _, s in to_send], request.app.state.settings.verdict_timeout_s
        )
        for (i, s), v in zip(to_send, verdicts, strict=True):
            ev = s.event
            out[i] = (
                results.from_verdict(v)
                if v is not None
                else results.pending(str(ev.event_id), ev.contract_id, ev.type)
            )

    final = [r for r in out if r is not None]
    request.app.state.metrics.count_results(final)
    accepted = [r for r in final if r["status"] == "accepted"]
    if accepted:
        remaining = deadline - time.monotonic()
        await attach_impacts(request, accepted, remaining)
    status = results.overall_status(final)
    if not is_batch:
        headers = {"Location": final[0]["location"]} if final[0]["status"] == "pending" else None
        return JSONResponse(final[0], status_code=status, headers=headers)
    return JSONResponse({"results": final}, status_code=status)


@router.get("/submissions/{event_id}", summary="The verdict on a submission answered 202")
async def submission(event_id: uuid.UUID, request: Request, who: Reader) -> JSONResponse:
    row = await request.app.state.pool.fetchrow(
        """SELECT event_id, contract_id, submitted_by, verdict FROM submissions
           WHERE event_id = $1 AND ($2 OR submitted_by = $3)
           ORDER BY (verdict IS NULL), submitted_at DESC LIMIT 1""",
        event_id,
        who.may_read_all(),
        who.name,
    )
    if row is None:
        raise HTTPException(404, f"no submission of event {event_id} is known")
    if row["verdict"] is None:
        return JSONResponse(
            results.pending(str(event_id), row["contract_id"], "?"), status_code=202
        )
    # The poll itself succeeded: 200, with the verdict's own http_status in the body.
    verdict = Verdict.model_validate_json(row["verdict"])
    return JSONResponse(results.from_verdict(verdict), status_code=200)


@router.get("/events", summary="A contract's accepted events, in order, for audit")
async def audit_log(
    request: Request,
    who: Reader,
    contract_id: Annotated[str, Query(min_length=1, max_length=64)],
    after_version: Annotated[int, Query(ge=0)] = 0,
) -> JSONResponse:
    settings = request.app.state.settings
    events = await contract_events(
        settings.kafka_bootstrap_servers, settings.topics.events, contract_id
    )
    if not events:
        raise HTTPException(404, f"contract {contract_id} has no events")
    signed = events[0]
    owner = getattr(signed, "account_manager_id", None)
    if not who.may_read_all() and owner != who.account_manager_id:
        raise HTTPException(403, f"contract {contract_id} is not managed by you")
    shown = [e for e in events if (e.stream_version or 0) > after_version]
    return JSONResponse(
        {
            "contract_id": contract_id,
            "stream_version": events[-1].stream_version,
            "events": [e.model_dump(mode="json", exclude_none=True) for e in shown],
        }
    )


async def attach_impacts(request: Request, accepted: list[dict[str, Any]], wait_s: float) -> None:
    """Adds the margin impacts and the alerts each accepted event caused, once the projector
    and the rules have applied it (waiting at most `wait_s`); each is null when not yet."""
    st = request.app.state
    s = st.settings.projection_schema
    topic = st.settings.topics.events.name
    want = {(r["contract_id"], r["stream_version"]) for r in accepted}
    cids = sorted({c for c, _ in want})
    deadline = time.monotonic() + max(wait_s, 0.0)
    while True:
        projected = {
            r["contract_id"]: r["stream_version"]
            for r in await st.pool.fetch(
                f"SELECT contract_id, stream_version FROM {s}.contracts"
                " WHERE contract_id = ANY($1)",
                cids,
            )
        }
        judged = {
            r["contract_id"]: r["stream_version"]
            for r in await st.pool.fetch(
                """SELECT contract_id, stream_version FROM risk_progress
                   WHERE events_topic = $1 AND contract_id = ANY($2)""",
                topic,
                cids,
            )
        }
        done = {(c, v) for c, v in want if projected.get(c, 0) >= v}
        ruled = {(c, v) for c, v in want if judged.get(c, 0) >= v}
        if (done == want and ruled == want) or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.05)
    impacts: dict[tuple[str, int], list[dict[str, Any]]] = {k: [] for k in done}
    if done:
        for r in await st.pool.fetch(
            f"""SELECT i.* FROM {s}.margin_impacts i
                JOIN unnest($1::text[], $2::int[]) AS w(cid, v)
                  ON i.contract_id = w.cid AND i.stream_version = w.v
                ORDER BY i.assignment_id""",
            [c for c, _ in done],
            [v for _, v in done],
        ):
            impacts[(r["contract_id"], r["stream_version"])].append(impact_json(dict(r)))
    alerts: dict[tuple[str, int], list[dict[str, Any]]] = {k: [] for k in ruled}
    if ruled:
        for r in await st.pool.fetch(
            f"""SELECT {ALERT_COLUMNS} FROM alerts a
                JOIN unnest($1::text[], $2::int[]) AS w(cid, v)
                  ON a.contract_id = w.cid AND a.stream_version = w.v
                ORDER BY a.seq""",
            [c for c, _ in ruled],
            [v for _, v in ruled],
        ):
            alerts[(r["contract_id"], r["stream_version"])].append(alert_json(r))
    for r in accepted:
        key = (r["contract_id"], r["stream_version"])
        r["margin_impacts"] = impacts.get(key)
        r["alerts"] = alerts.get(key)
