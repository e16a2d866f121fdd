"""Where the tests find Kafka and PostgreSQL: always real servers, never an in-memory fake.

1. KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL set: those servers.
2. Else, a Docker engine reachable: testcontainers starts Kafka (KRaft) and PostgreSQL.
3. Else: the servers `make up` starts on this machine (deploy/local).
Each server is started once per test run, not once per test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import pytest

from events.topics import Topics, topics
from services import db, kafka_admin, readiness
from services.db import connection
from services.settings import Settings


@dataclass(frozen=True)
class Stack:
    settings: Settings
    source: str  # "environment" | "testcontainers" | "local"

    @property
    def bootstrap(self) -> str:
        return self.settings.kafka_bootstrap_servers

    @property
    def dsn(self) -> str:
        return self.settings.dsn


def _docker_reachable() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get("DATABASE_URL"):
        yield Stack(Settings(), "environment")
        return
    if _docker_reachable():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.postgres import PostgresContainer

        with (
            KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka,
            PostgresContainer("postgres:16", driver=None) as pg,
        ):
            settings = Settings(
                KAFKA_BOOTSTRAP_SERVERS=kafka.get_bootstrap_server(),
                DATABASE_URL=pg.get_connection_url(),
            )
            yield Stack(settings, "testcontainers")
        return
    yield Stack(Settings(), "local")


@pytest.fixture(scope="session")
async def ready_stack(stack: Stack) -> Stack:
    if not await readiness.kafka_answers(stack.bootstrap):
        pytest.fail(
            f"no Kafka at {stack.bootstrap}: run `make up` (or set KAFKA_BOOTSTRAP_SERVERS)"
        )
    if not await readiness.postgres_answers(stack.dsn):
        pytest.fail("no PostgreSQL at DATABASE_URL: run `make up` (or set DATABASE_URL)")
    await db.migrate_dsn(stack.dsn)
    return stack


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def test_topics(ready_stack: Stack) -> Topics:
    """The ledger's topics under a prefix of this test's own."""
    t = topics(unique("test"))
    await kafka_admin.ensure_topics(ready_stack.bootstrap, t)
    return t


@pytest.fixture
async def pg(ready_stack: Stack) -> AsyncIterator[asyncpg.Connection]:
    async with connection(ready_stack.dsn) as conn:
        yield conn
