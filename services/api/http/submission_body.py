"""The body of POST /v1/events and of its preview, read into submissions: one parser for both,
given to their routes as a dependency (`SubmittedEvents`, `PreviewedEvents`)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request

from events.errors import WHOLE_EVENT, EventValidationError
from events.messages import Submission
from events.serialization import parse_submission
from services.api import results
from services.api.deps import AppSettings, RateLimits
from services.api.http.auth import Submitter
from services.api.http.body import counts_as_ints, fractions_refused, read_json
from services.api.http.errors import ApiError
from services.api.http.rate_limit import PREVIEW_COST, RateLimited, TokenBuckets
from services.tokens import Principal

MAX_BATCH = 500


@dataclass(frozen=True)
class Submitted:
    """A body read at `now`, its answer due by `deadline` (time.monotonic)."""

    now: datetime
    deadline: float
    results: list[dict[str, Any] | None]
    """The result of each event invalid in shape, else None (its place in the answer)."""
    valid: list[tuple[int, Submission]]
    """The valid events as submissions stamped by the submitter, with their index."""
    is_batch: bool


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
    max_json_depth: int,
    rate_limits: TokenBuckets,
    cost_per_event: int = 1,
) -> tuple[list[dict[str, Any] | None], list[tuple[int, Submission]], bool]:
    """The body of POST /v1/events (and of its preview) as submissions stamped by `who` at
    `now`: (the result of each event invalid in shape, else None; the valid ones with their
    index; whether the body was a batch). A body that is no event at all raises ApiError
    (413, 415 or 422, as body.read_json); one over the token's rate (`cost_per_event` units an
    event, services/api/http/rate_limit.py), a 429 with Retry-After."""
    body = await read_json(request, max_json_depth)
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


async def _read(
    request: Request, who: Principal, settings: AppSettings, rate_limits: RateLimits, cost: int
) -> Submitted:
    now = datetime.now(UTC)
    deadline = time.monotonic() + settings.verdict_timeout_s
    out, valid, is_batch = await read_submissions(
        request, who, now, settings.max_json_depth, rate_limits, cost
    )
    return Submitted(now, deadline, out, valid, is_batch)


async def _submitted(
    request: Request, who: Submitter, settings: AppSettings, rate_limits: RateLimits
) -> Submitted:
    return await _read(request, who, settings, rate_limits, 1)


async def _previewed(
    request: Request, who: Submitter, settings: AppSettings, rate_limits: RateLimits
) -> Submitted:
    return await _read(request, who, settings, rate_limits, PREVIEW_COST)


SubmittedEvents = Annotated[Submitted, Depends(_submitted)]
"""The body of POST /v1/events, read (an event costs one unit of the token's rate)."""
PreviewedEvents = Annotated[Submitted, Depends(_previewed)]
"""The body of POST /v1/events/preview, read (an event costs PREVIEW_COST units)."""
