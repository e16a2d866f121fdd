"""The HTTP API process (FastAPI). It only moves data between HTTP, Kafka and PostgreSQL."""

from __future__ import annotations

from fastapi import FastAPI

from services.api.http import errors, metrics, openapi, unavailable
from services.api.http.guards import Guards
from services.api.http.rate_limit import TokenBuckets
from services.api.margin_cache import SingleFlight
from services.api.resources import lifespan
from services.api.routes.alerting import router as alerting_router
from services.api.routes.alerts import router as alerts_router
from services.api.routes.contracts import router as contracts_router
from services.api.routes.events import router as events_router
from services.api.routes.health import router as health_router
from services.api.routes.imports import router as imports_router
from services.api.routes.margins import router as margins_router
from services.api.routes.preview import router as preview_router
from services.api.routes.sign_in import router as sign_in_router
from services.api.routes.web import router as web_router
from services.oidc import OidcClient
from services.settings import Settings


def worker_app() -> FastAPI:
    """The app of one of several API worker processes (LEDGER_API_WORKERS > 1)."""
    from services import watchdog
    from services.settings import load_settings

    settings = load_settings()
    watchdog.install("api", settings.watchdog_s)
    return create_app(settings)


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="Markup Ledger",
        version="1",
        description="Negotiation, raise and contract events of a staffing agency, and the "
        "margin impact they cause.",
        lifespan=lifespan(settings),
        # operationId = the handler's name (`contract`, `submit_events`): what a generated
        # client calls its functions.
        generate_unique_id_function=lambda route: route.name,
        docs_url=None,  # served by services/api/routes/web.py from swagger-ui-dist, with no CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = metrics.install(app)
    app.state.margin_cache = SingleFlight()
    app.state.rate_limits = TokenBuckets(settings.rate_limit_per_s, 5 * settings.rate_limit_per_s)
    # Single sign-on, when an identity provider is configured (else API tokens only).
    app.state.oidc = OidcClient(settings) if settings.single_sign_on else None
    app.state.readiness = {}  # the latest /readyz's checks, for /metrics
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
    app.include_router(alerting_router)
    app.include_router(contracts_router)
    app.include_router(imports_router)
    app.include_router(web_router)
    app.include_router(sign_in_router)
    app.include_router(health_router)

    return app
