"""What a route may ask for, typed: the settings, the PostgreSQL pool, the submission gateway,
the Kafka clients, the caches. A handler names them as parameters (`pool: Pool`) and FastAPI
hands them over, so that mypy and a reader follow a route into what it uses.

`AppState` is what `app.py` and `resources.py` keep on `app.state`; `app_state` is the one place
that reads it. Every dependency is `async def`: FastAPI runs a plain `def` in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Protocol, cast

from fastapi import Depends, Request

from services.api.gateway.submissions import SubmissionGateway
from services.api.gateway.writer_progress import WriterProgress
from services.api.http.metrics import ApiMetrics
from services.api.http.rate_limit import TokenBuckets
from services.api.margin_cache import SingleFlight
from services.importer.jobs import ImportJobs
from services.oidc import OidcClient
from services.progress import Progress
from services.settings import Settings


class AppState(Protocol):
    """What the app keeps for its routes: set by `create_app` (the first five) and opened by
    the lifespan (`resources.py`, the rest)."""

    settings: Settings
    metrics: ApiMetrics
    margin_cache: SingleFlight
    rate_limits: TokenBuckets
    oidc: OidcClient | None
    readiness: dict[str, bool]
    """The outcome of each check of the latest GET /readyz, for /metrics (empty before one)."""
    pool: Any  # asyncpg.Pool (asyncpg ships no types)
    progress: Progress
    gateway: SubmissionGateway
    imports: ImportJobs
    admin: Any  # aiokafka's AIOKafkaAdminClient
    offsets: Any  # aiokafka's AIOKafkaConsumer, read_committed: the end offsets of topics
    writer_progress: WriterProgress


def app_state(request: Request) -> AppState:
    return cast(AppState, request.app.state)


async def _settings(request: Request) -> Settings:
    return app_state(request).settings


async def _projection_schema(request: Request) -> str:
    return app_state(request).settings.projection_schema


async def _pool(request: Request) -> Any:
    return app_state(request).pool


async def _gateway(request: Request) -> SubmissionGateway:
    return app_state(request).gateway


async def _progress(request: Request) -> Progress:
    return app_state(request).progress


async def _imports(request: Request) -> ImportJobs:
    return app_state(request).imports


async def _admin(request: Request) -> Any:
    return app_state(request).admin


async def _offsets(request: Request) -> Any:
    return app_state(request).offsets


async def _writer_progress(request: Request) -> WriterProgress:
    return app_state(request).writer_progress


async def _margin_cache(request: Request) -> SingleFlight:
    return app_state(request).margin_cache


async def _rate_limits(request: Request) -> TokenBuckets:
    return app_state(request).rate_limits


async def _oidc(request: Request) -> OidcClient | None:
    return app_state(request).oidc


async def _metrics(request: Request) -> ApiMetrics:
    return app_state(request).metrics


async def _readiness(request: Request) -> dict[str, bool]:
    return app_state(request).readiness


AppSettings = Annotated[Settings, Depends(_settings)]
ProjectionSchema = Annotated[str, Depends(_projection_schema)]
"""The PostgreSQL schema of the read models (LEDGER_PROJECTION_SCHEMA)."""
Pool = Annotated[Any, Depends(_pool)]
"""The API's asyncpg pool."""
Gateway = Annotated[SubmissionGateway, Depends(_gateway)]
ProjectionProgress = Annotated[Progress, Depends(_progress)]
Imports = Annotated[ImportJobs, Depends(_imports)]
KafkaAdmin = Annotated[Any, Depends(_admin)]
Offsets = Annotated[Any, Depends(_offsets)]
WriterProgressCheck = Annotated[WriterProgress, Depends(_writer_progress)]
MarginCache = Annotated[SingleFlight, Depends(_margin_cache)]
RateLimits = Annotated[TokenBuckets, Depends(_rate_limits)]
Oidc = Annotated[OidcClient | None, Depends(_oidc)]
Metrics = Annotated[ApiMetrics, Depends(_metrics)]
Readiness = Annotated[dict[str, bool], Depends(_readiness)]


@dataclass(frozen=True)
class ReadModels:
    """What a read of the read models needs: the pool, their schema, and the cache of what the
    portfolio's reads share (services/api/margin_cache.py)."""

    pool: Any
    schema: str
    cache: SingleFlight


async def _read_models(request: Request) -> ReadModels:
    st = app_state(request)
    return ReadModels(st.pool, st.settings.projection_schema, st.margin_cache)


ReadSide = Annotated[ReadModels, Depends(_read_models)]
