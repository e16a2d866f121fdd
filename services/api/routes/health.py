"""GET /healthz (the process answers) and GET /readyz (Kafka, PostgreSQL, the writer and the
read models' layout, each checked with a bound: a server away makes a 503 naming it, not a
hang)."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from services.api.deps import (
    AppSettings,
    Gateway,
    KafkaAdmin,
    Metrics,
    Offsets,
    Pool,
    Readiness,
    WriterProgressCheck,
)
from services.api.gateway.submissions import SubmissionGateway
from services.api.gateway.writer_progress import WriterProgress
from services.api.http.errors import ApiError, error_body
from services.api.http.metrics import exposition
from services.api.schemas import ErrorBody, Health, NotReady, Ready
from services.kafka_log import end_offsets
from services.projector import store
from services.settings import Settings

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


def _failed(exc: BaseException) -> dict[str, Any]:
    return {"ok": False, "detail": str(exc) or type(exc).__name__}


async def _checks(
    settings: Settings,
    pool: Any,
    offsets: Any,
    admin: Any,
    writer_progress: WriterProgress,
    gateway: SubmissionGateway,
) -> dict[str, Any]:
    """Each check by name: `ok`, and a `detail` when there is one to say."""
    checks: dict[str, Any] = {}
    try:
        await asyncio.wait_for(pool.fetchval("SELECT 1"), 3)
        checks["postgres"] = {"ok": True}
    except Exception as exc:
        checks["postgres"] = _failed(exc)
    try:
        end = await asyncio.wait_for(end_offsets(offsets, settings.topics.submissions), 5)
        checks["kafka"] = {"ok": True}
        ok, detail = await asyncio.wait_for(writer_progress.check(admin, end), 5)
        checks["writer"] = {"ok": ok, "detail": detail}
    except Exception as exc:
        checks.setdefault("kafka", _failed(exc))
        checks.setdefault("writer", {"ok": False, "detail": "unknown: Kafka did not answer"})
    idle = gateway.recorder_idle_s()
    checks["verdict_recorder"] = {
        "ok": idle < settings.writer_stall_s,
        "detail": "holds partitions of the verdicts topic"
        if idle == 0
        else f"has held no partition of the verdicts topic for {idle:.0f} s"
        " (rejoining its group: 202 answers are not resolved meanwhile)",
    }
    try:
        current = await store.layout_is_current(pool, settings.projection_schema)
        checks["projections"] = {
            "ok": current,
            "detail": "current" if current else "being rebuilt to this version's layout",
        }
    except Exception as exc:
        checks["projections"] = _failed(exc)
    return checks


@router.get(
    "/readyz",
    summary="Kafka, PostgreSQL and the writer work; the read models are current",
    response_model=Ready,
    responses={503: {"model": NotReady, "description": "some check failed: see `checks`"}},
)
async def readyz(
    settings: AppSettings,
    pool: Pool,
    offsets: Offsets,
    admin: KafkaAdmin,
    writer_progress: WriterProgressCheck,
    gateway: Gateway,
    readiness: Readiness,
) -> Any:
    checks = await _checks(settings, pool, offsets, admin, writer_progress, gateway)
    # For /metrics (ledger_readiness_check): the latest outcome of each check.
    readiness.clear()
    readiness.update((name, bool(c["ok"])) for name, c in checks.items())
    if all(c["ok"] for c in checks.values()):
        return Ready.model_validate({"status": "ready", "checks": checks})
    failed = [
        {"field": name, "reason": str(c.get("detail") or "failed")}
        for name, c in checks.items()
        if not c["ok"]
    ]
    body = error_body("not ready: " + ", ".join(f["field"] for f in failed), failed)  # type: ignore[arg-type]
    return JSONResponse({**body, "status": "not ready", "checks": checks}, status_code=503)


@router.get(
    "/metrics",
    summary="Prometheus metrics (bearer LEDGER_METRICS_TOKEN when it is set)",
    response_class=Response,
    responses={
        200: {
            "description": "the Prometheus text exposition format",
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
        },
        401: {"model": ErrorBody, "description": "LEDGER_METRICS_TOKEN is set, not sent"},
    },
)
async def prometheus(
    request: Request,
    settings: AppSettings,
    metrics: Metrics,
    pool: Pool,
    offsets: Offsets,
    admin: KafkaAdmin,
    readiness: Readiness,
) -> Response:
    expected = settings.metrics_token
    if expected is not None:
        sent = request.headers.get("authorization", "")
        want = f"Bearer {expected.get_secret_value()}"
        if not hmac.compare_digest(sent.encode(), want.encode()):
            raise ApiError.field(
                401,
                "Authorization",
                "the scrape token (LEDGER_METRICS_TOKEN) is required",
                {"WWW-Authenticate": "Bearer"},
            )
    text = await exposition(metrics, settings, pool, offsets, admin, readiness)
    return Response(text, media_type=CONTENT_TYPE_LATEST)
