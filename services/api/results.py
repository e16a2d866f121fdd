"""What POST /v1/events answers for each event: one shape for every outcome, carrying the
`errors` and `message` of the one error body (`errors` empty when the event was taken)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from events.errors import WHOLE_EVENT, EventValidationError, FieldError
from events.messages import REFUSALS, Verdict
from services.reads.formatters import impact_json, unstored_alert_json
from writemodel.preview import Preview


def from_verdict(v: Verdict) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": v.outcome,
        "http_status": v.http_status,
        "event_id": str(v.event_id),
        "contract_id": v.contract_id,
        "type": v.event_type,
        "message": v.message,
        "errors": [],
    }
    if v.code is not None:
        out["code"] = v.code
    if v.outcome == "refused":
        # The field the refusal is about (REFUSALS names it), else the whole event.
        refusal = REFUSALS.get(v.code or "")
        field = refusal.field if refusal is not None and refusal.field else WHOLE_EVENT
        out["errors"] = [FieldError(field=field, reason=v.message)]
    if v.stream_version is not None:
        out["stream_version"] = v.stream_version
    return out


def invalid(index: int, raw: object, err: EventValidationError) -> dict[str, Any]:
    event_id = raw.get("event_id") if isinstance(raw, dict) else None
    return {
        "status": "invalid",
        "http_status": 422,
        "code": err.code,
        "index": index,
        "event_id": event_id if isinstance(event_id, str) else None,
        "message": f"The event is not valid: {err}.",
        "errors": err.errors,
    }


def pending(event_id: str, contract_id: str, event_type: str | None) -> dict[str, Any]:
    return {
        "status": "pending",
        "http_status": 202,
        "event_id": event_id,
        "contract_id": contract_id,
        "type": event_type,
        "message": "The writer has not decided yet; poll the location for the verdict.",
        "errors": [],
        "location": f"/v1/submissions/{event_id}",
    }


def overall_status(results: list[dict[str, Any]]) -> int:
    statuses = {r["http_status"] for r in results}
    return statuses.pop() if len(statuses) == 1 else 207


def batch(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The answer to a batch: its results, their errors (fields prefixed `events.<i>.`) and a
    message counting the outcomes."""
    errors = [
        FieldError(field=f"events.{i}.{e['field']}", reason=e["reason"])
        for i, r in enumerate(results)
        for e in r["errors"]
    ]
    counts = Counter(r["status"] for r in results)
    message = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return {"results": results, "errors": errors, "message": f"{len(results)} events: {message}"}


def preview_json(p: Preview) -> dict[str, Any]:
    """One previewed event: POST's result for its verdict, with the margin impacts and the
    alerts it would cause in the shapes POST and GET /v1/alerts give them."""
    impacts = [impact_json(i) for i in p.impacts]
    out = {"preview": True, **from_verdict(p.verdict)}
    if p.verdict.outcome == "accepted":  # otherwise null, as POST answers (nothing caused)
        v = p.verdict
        # The writer's sentence says "was accepted": a preview appended nothing (issue #21).
        out["message"] = (
            f"{v.event_type} {v.event_id} would be accepted on contract {v.contract_id} as "
            f"stream version {v.stream_version}; this preview appended nothing."
        )
        out["margin_impacts"] = impacts
        out["alerts"] = [unstored_alert_json(a) for a in p.alerts]
    return out
