"""What the API process opens at start and closes at stop: the PostgreSQL pool, the submission
gateway, the progress listener and the Kafka clients the health checks use. Each is kept on
`app.state` for the routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import FastAPI

from services import kafka_connection
from services.api.gateway.submissions import SubmissionGateway
from services.api.gateway.writer_progress import WriterProgress
from services.importer.jobs import ImportJobs
from services.progress import Progress
from services.projector.commands import ensure_schema
from services.settings import Settings


async def _rollback_only(conn: asyncpg.Connection) -> None:
    """A connection back into the API's pool: an open transaction is rolled back. asyncpg's
    default reset (a round trip of UNLISTEN, RESET ALL, ... on every release) is not needed:
    the API sets no session state on pooled connections (issue #14: it was a quarter of the
    API's PostgreSQL time)."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: everything opened in order, closed in reverse."""

    @asynccontextmanager
    async def opened(app: FastAPI) -> AsyncIterator[None]:
        st = app.state
        st.settings = settings
        async with AsyncExitStack() as stack:
            # A statement cache (issue #14: re-preparing every statement was a quarter of the
            # API's CPU). A projections rebuild swaps the tables behind the same names (schema
            # rename + drop): PostgreSQL re-analyses a prepared statement whose tables changed,
            # resolving the names anew; a changed result type is re-prepared by asyncpg.
            st.pool = await asyncpg.create_pool(
                settings.dsn,
                min_size=1,
                max_size=10,
                statement_cache_size=100,
                timeout=5,
                reset=_rollback_only,
            )
            stack.push_async_callback(st.pool.close)
            await ensure_schema(settings)
            st.progress = Progress(
                settings.dsn, st.pool, settings.projection_schema, settings.topics.events.name
            )
            await st.progress.start()
            stack.push_async_callback(st.progress.stop)
            st.gateway = SubmissionGateway(
                settings.kafka_bootstrap_servers, settings.topics, st.pool
            )
            await st.gateway.start()
            stack.push_async_callback(st.gateway.stop)
            st.imports = ImportJobs(st.pool, st.gateway, settings)
            stack.push_async_callback(st.imports.stop)
            st.admin = AIOKafkaAdminClient(
                bootstrap_servers=settings.kafka_bootstrap_servers,
                request_timeout_ms=5000,
                **kafka_connection.options(),
            )
            await st.admin.start()
            stack.push_async_callback(st.admin.close)
            # read_committed: end offsets are the last stable ones, which a consumer can reach.
            st.offsets = AIOKafkaConsumer(
                bootstrap_servers=settings.kafka_bootstrap_servers,
                **kafka_connection.options(),
                enable_auto_commit=False,
                isolation_level="read_committed",
            )
            await st.offsets.start()
            stack.push_async_callback(st.offsets.stop)
            st.writer_progress = WriterProgress(
                settings.kafka_bootstrap_servers,
                settings.topics.submissions,
                settings.writer_group,
                settings.writer_stall_s,
            )
            yield

    return opened
