"""GET /healthz (the process answers) and GET /readyz (Kafka, PostgreSQL, the writer and the
read models' layout, each checked with a bound: a server away makes a 503 naming it, not a
hang)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.api.errors import error_body
from services.api.schemas import Health, NotReady, Ready
from services.kafka_log import end_offsets
from services.projector import store

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


def _failed(exc: BaseException) -> dict[str, Any]:
    return {"ok": False, "detail": str(exc) or type(exc).__name__}


@router.get(
    "/readyz",
    summary="Kafka, PostgreSQL and the writer work; the read models are current",
    response_model=Ready,
    responses={503: {"model": NotReady, "description": "some check failed: see `checks`"}},
)
async def readyz(request: Request) -> Any:
    st = request.app.state
    settings = st.settings
    checks: dict[str, Any] = {}
    try:
        await asyncio.wait_for(st.pool.fetchval("SELECT 1"), 3)
        checks["postgres"] = {"ok": True}
    except Exception as exc:
        checks["postgres"] = _failed(exc)
    try:
        end = await asyncio.wait_for(end_offsets(st.offsets, settings.topics.submissions), 5)
        checks["kafka"] = {"ok": True}
        ok, detail = await asyncio.wait_for(st.writer_progress.check(st.admin, end), 5)
        checks["writer"] = {"ok": ok, "detail": detail}
    except Exception as exc:
        checks.setdefault("kafka", _failed(exc))
        checks.setdefault("writer", {"ok": False, "detail": "unknown: Kafka did not answer"})
    idle = st.gateway.recorder_idle_s()
    checks["verdict_recorder"] = {
        "ok": idle < settings.writer_stall_s,
        "detail": "holds partitions of the verdicts topic"
        if idle == 0
        else f"has held no partition of the verdicts topic for {idle:.0f} s"
        " (rejoining its group: 202 answers are not resolved meanwhile)",
    }
    try:
        current = await store.layout_is_current(st.pool, settings.projection_schema)
        checks["projections"] = {
            "ok": current,
            "detail": "current" if current else "being rebuilt to this version's layout",
        }
    except Exception as exc:
        checks["projections"] = _failed(exc)
    # For /metrics (ledger_readiness_check): the latest outcome of each check.
    st.readiness = {name: bool(c["ok"]) for name, c in checks.items()}
    if all(c["ok"] for c in checks.values()):
        return Ready.model_validate({"status": "ready", "checks": checks})
    failed = [
        {"field": name, "reason": str(c.get("detail") or "failed")}
        for name, c in checks.items()
        if not c["ok"]
    ]
    body = error_body("not ready: " + ", ".join(f["field"] for f in failed), failed)  # type: ignore[arg-type]
    return JSONResponse({**body, "status": "not ready", "checks": checks}, status_code=503)
