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
from dataclasses import dataclass, field

import asyncpg
import pytest

from events.topics import Topics, topics
from services import db, kafka_admin, readiness
from services.db import connection
from services.settings import Settings
from simulation.histories import generate, produce


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


async def remove(stack: Stack, prefix: str | None, *schemas: str) -> None:
    """What a test made on the shared servers goes at its end: the topics named after `prefix`
    and the projection `schemas` (with a rebuild's `_next` and `_old`)."""
    if prefix is not None:
        await kafka_admin.delete_topics(stack.bootstrap, prefix)
    async with connection(stack.dsn) as conn:
        for s in schemas:
            for name in (s, f"{s}_next", f"{s}_old"):
                await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
async def test_topics(scratch: Scratch) -> Topics:
    """The ledger's topics under a prefix of this test's own, deleted at its end."""
    return await scratch.topics()


@dataclass
class Scratch:
    """Topics and projection schemas of one test's own on the shared servers, removed at its
    end (the `scratch` fixture)."""

    stack: Stack
    prefixes: list[str] = field(default_factory=list)
    schemas: list[str] = field(default_factory=list)

    def prefix(self, name: str) -> str:
        """A unique topic prefix, its topics deleted at the end (create them with `topics`)."""
        self.prefixes.append(unique(name))
        return self.prefixes[-1]

    async def topics(self, prefix: str | None = None, name: str = "test") -> Topics:
        """The ledger's topics under `prefix` (default: a new one), created."""
        t = topics(prefix or self.prefix(name))
        await kafka_admin.ensure_topics(self.stack.bootstrap, t)
        return t

    async def topics_with_log(
        self, name: str, events: int, contracts: int, seed: int, check: bool = True
    ) -> tuple[str, Topics]:
        """A new prefix (from `name`) and its topics, created, the events topic holding the
        valid log of `events` events over `contracts` contracts that `seed` generates (`check`:
        each event checked by the writer's decide as it is generated)."""
        prefix = self.prefix(name)
        t = await self.topics(prefix)
        log = generate(events, contracts=contracts, seed=seed, check=check)
        await produce(self.stack.bootstrap, t.events.name, t.events.partitions, log, "none")
        return prefix, t

    def schema(self, name: str) -> str:
        """A unique projection schema name, the schema dropped at the end."""
        self.schemas.append(unique(name).replace("-", "_"))
        return self.schemas[-1]

    async def remove(self) -> None:
        for prefix in self.prefixes:
            await remove(self.stack, prefix)
        await remove(self.stack, None, *self.schemas)


@pytest.fixture
async def scratch(ready_stack: Stack) -> AsyncIterator[Scratch]:
    made = Scratch(ready_stack)
    yield made
    await made.remove()


@pytest.fixture
async def pg(ready_stack: Stack) -> AsyncIterator[asyncpg.Connection]:
    async with connection(ready_stack.dsn) as conn:
        yield conn
