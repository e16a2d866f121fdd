"""What a route may ask for, typed: the settings, the PostgreSQL pool, the submission gateway,
the Kafka clients, the caches. A handler names them as parameters (`pool: Pool`) and FastAPI
hands them over, so that mypy and a reader follow a route into what it uses.

`AppState` is what `app.py` and `resources.py` keep on `app.state`; `app_state` and `_kept`
are the only places that read it. Every dependency is `async def`: FastAPI runs a plain `def`
in a thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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


def _kept(name: str) -> Callable[[Request], Awaitable[Any]]:
    """The dependency that hands over what the app keeps as `name`, one of `AppState`'s (checked
    when this module is imported); the type is the one its alias below declares."""
    if name not in AppState.__annotations__:
        raise AttributeError(f"the app keeps no {name!r} (AppState)")

    async def kept(request: Request) -> Any:
        return getattr(request.app.state, name)

    return kept


async def _projection_schema(request: Request) -> str:
    return app_state(request).settings.projection_schema


AppSettings = Annotated[Settings, Depends(_kept("settings"))]
ProjectionSchema = Annotated[str, Depends(_projection_schema)]
"""The PostgreSQL schema of the read models (LEDGER_PROJECTION_SCHEMA)."""
Pool = Annotated[Any, Depends(_kept("pool"))]
"""The API's asyncpg pool."""
Gateway = Annotated[SubmissionGateway, Depends(_kept("gateway"))]
ProjectionProgress = Annotated[Progress, Depends(_kept("progress"))]
Imports = Annotated[ImportJobs, Depends(_kept("imports"))]
KafkaAdmin = Annotated[Any, Depends(_kept("admin"))]
Offsets = Annotated[Any, Depends(_kept("offsets"))]
WriterProgressCheck = Annotated[WriterProgress, Depends(_kept("writer_progress"))]
RateLimits = Annotated[TokenBuckets, Depends(_kept("rate_limits"))]
Oidc = Annotated[OidcClient | None, Depends(_kept("oidc"))]
Metrics = Annotated[ApiMetrics, Depends(_kept("metrics"))]
Readiness = Annotated[dict[str, bool], Depends(_kept("readiness"))]


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
