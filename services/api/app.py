"""The HTTP API process (FastAPI). It only moves data between HTTP, Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.api import errors, metrics, openapi, unavailable
from services.api.errors import error_body
from services.api.gateway import SubmissionGateway
from services.api.guards import Guards
from services.api.margin_cache import SingleFlight
from services.api.routes_alerts import router as alerts_router
from services.api.routes_contracts import router as contracts_router
from services.api.routes_events import router as events_router
from services.api.routes_margins import router as margins_router
from services.api.routes_preview import router as preview_router
from services.api.schemas import Health, NotReady, Ready
from services.api.web import router as web_router
from services.api.writer_progress import WriterProgress
from services.kafka_log import end_offsets
from services.progress import Progress
from services.projector import store
from services.projector.commands import ensure_schema
from services.settings import Settings


async def _rollback_only(conn: asyncpg.Connection) -> None:
    """A connection back into the API's pool: an open transaction is rolled back. asyncpg's
    default reset (a round trip of UNLISTEN, RESET ALL, ... on every release) is not needed:
    the API sets no session state on pooled connections (issue #14: it was a quarter of the
    API's PostgreSQL time)."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def worker_app() -> FastAPI:
    """The app of one of several API worker processes (LEDGER_API_WORKERS > 1)."""
    from services import watchdog
    from services.settings import load_settings

    settings = load_settings()
    watchdog.install("api", settings.watchdog_s)
    return create_app(settings)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        # A statement cache (issue #14: re-preparing every statement was a quarter of the API's
        # CPU). A projections rebuild swaps the tables behind the same names (schema rename +
        # drop): PostgreSQL re-analyses a prepared statement whose tables changed, resolving
        # the names anew; a changed result type is re-prepared by asyncpg.
        app.state.pool = await asyncpg.create_pool(
            settings.dsn,
            min_size=1,
            max_size=10,
            statement_cache_size=100,
            timeout=5,
            reset=_rollback_only,
        )
        await ensure_schema(settings)
        app.state.progress = Progress(
            settings.dsn, app.state.pool, settings.projection_schema, settings.topics.events.name
        )
        await app.state.progress.start()
        app.state.gateway = SubmissionGateway(
            settings.kafka_bootstrap_servers, settings.topics, app.state.pool
        )
        await app.state.gateway.start()
        app.state.admin = AIOKafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap_servers, request_timeout_ms=5000
        )
        await app.state.admin.start()
        # read_committed: end offsets are the last stable ones, which a consumer can reach.
        app.state.offsets = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        await app.state.offsets.start()
        app.state.writer_progress = WriterProgress(
            settings.kafka_bootstrap_servers,
            settings.topics.submissions,
            settings.writer_group,
            settings.writer_stall_s,
        )
        try:
            yield
        finally:
            await app.state.gateway.stop()
            await app.state.progress.stop()
            await app.state.offsets.stop()
            await app.state.admin.close()
            await app.state.pool.close()

    app = FastAPI(
        title="Markup Ledger",
        version="1",
        description="Negotiation, raise and contract events of a staffing agency, and the "
        "margin impact they cause.",
        lifespan=lifespan,
        # operationId = the handler's name (`contract`, `submit_events`): what a generated
        # client calls its functions.
        generate_unique_id_function=lambda route: route.name,
        docs_url=None,  # served by services/api/web.py from swagger-ui-dist, with no CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = metrics.install(app)
    app.state.margin_cache = SingleFlight()
    # Outermost: every answer, the metrics' and the errors' included, gets its headers.
    app.add_middleware(Guards, max_body_bytes=settings.max_body_bytes)
    errors.install(app)
    # 503 + Retry-After for a PostgreSQL or Kafka that is away: handlers of those exception
    # classes, tried before the catch-all 500 of errors.install.
    unavailable.install(app)
    openapi.install(app)
    app.include_router(events_router)
    app.include_router(preview_router)
    app.include_router(margins_router)
    app.include_router(alerts_router)
    app.include_router(contracts_router)
    app.include_router(web_router)

    @app.get("/healthz", tags=["health"], summary="The process is alive", response_model=Health)
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Kafka, PostgreSQL and the writer work; the read models are current",
        response_model=Ready,
        responses={503: {"model": NotReady, "description": "some check failed: see `checks`"}},
    )
    async def readyz(request: Request) -> Any:
        st = request.app.state
        checks: dict[str, Any] = {}
        try:
            await asyncio.wait_for(st.pool.fetchval("SELECT 1"), 3)
            checks["postgres"] = {"ok": True}
        except Exception as exc:
            checks["postgres"] = {"ok": False, "detail": str(exc) or type(exc).__name__}
        try:
            end = await asyncio.wait_for(end_offsets(st.offsets, settings.topics.submissions), 5)
            checks["kafka"] = {"ok": True}
            ok, detail = await asyncio.wait_for(st.writer_progress.check(st.admin, end), 5)
            checks["writer"] = {"ok": ok, "detail": detail}
        except Exception as exc:
            checks.setdefault("kafka", {"ok": False, "detail": str(exc) or type(exc).__name__})
            checks.setdefault("writer", {"ok": False, "detail": "unknown: Kafka did not answer"})
        try:
            current = await store.layout_is_current(st.pool, settings.projection_schema)
            checks["projections"] = {
                "ok": current,
                "detail": "current" if current else "being rebuilt to this version's layout",
            }
        except Exception as exc:
            checks["projections"] = {"ok": False, "detail": str(exc) or type(exc).__name__}
        if all(c["ok"] for c in checks.values()):
            return Ready.model_validate({"status": "ready", "checks": checks})
        failed = [
            {"field": name, "reason": str(c.get("detail") or "failed")}
            for name, c in checks.items()
            if not c["ok"]
        ]
        body = error_body("not ready: " + ", ".join(f["field"] for f in failed), failed)  # type: ignore[arg-type]
        return JSONResponse({**body, "status": "not ready", "checks": checks}, status_code=503)

    return app
