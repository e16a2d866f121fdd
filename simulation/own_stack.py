"""A stack of a benchmark's own: writer, projector, risk agent and API from this checkout
against the shared Kafka and PostgreSQL, under a topic prefix, projection schema, schema for
the API's tables (first on their search_path) and port of their own, removed by `stop`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
from aiokafka.admin import AIOKafkaAdminClient

from events.topics import topics
from services import db, kafka_admin, tokens
from simulation.ports import free_port

ROOT = Path(__file__).resolve().parent.parent


def with_settings(dsn: str, **server_settings: str) -> str:
    """The DSN with PostgreSQL settings its connections start with (asyncpg takes unknown query
    parameters as server settings: search_path, application_name)."""
    u = urlsplit(dsn)
    extra = "&".join(f"{k}={v}" for k, v in server_settings.items())
    query = "&".join(q for q in (u.query, extra) if q)
    return urlunsplit((u.scheme, u.netloc, u.path, query, u.fragment))


class OwnStack:
    # The webhook deliverer too (no receiver is registered in our tables: it only polls), for
    # its memory (deploy/k8s sizes every process from bench/live_load.py's peak RSS).
    PROCESSES = ("writer", "projector", "risk", "api", "webhooks")

    def __init__(
        self,
        bootstrap: str,
        dsn: str,
        api_workers: int | None = None,
        name: str = "live",
        processes: tuple[str, ...] = PROCESSES,
    ) -> None:
        self.processes = processes
        self.tag = uuid.uuid4().hex[:10]
        self.prefix, self.schema = f"{name}.{self.tag}", f"{name}_{self.tag}"
        self.database = f"{name}_{self.tag}"
        self.name = name
        self.bootstrap, self.admin_dsn = bootstrap, dsn
        # The shared database (no CREATE DATABASE here), but tables of our own: the API's
        # tables (submissions, alerts, tokens, ...) in a schema of ours, first on the
        # search_path, so that our alerts do not show in other sessions' tests. Our
        # processes' connections are told apart by their application_name.
        self.tables = f"{self.schema}_api"
        self.dsn = with_settings(dsn, application_name=self.database, search_path=self.tables)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_workers = api_workers
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.token = ""  # an account manager's (am_id)
        self.admin_token = ""
        self.am_id = f"am.{self.tag}"

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "DATABASE_URL": self.dsn,
            "LEDGER_TOPIC_PREFIX": self.prefix,
            "LEDGER_PROJECTION_SCHEMA": self.schema,
            "LEDGER_API_PORT": str(self.port),
            "LEDGER_WRITER_GROUP": f"{self.prefix}.writer",
            # A load test asks far more of one token than a person or an import does.
            "LEDGER_RATE_LIMIT_PER_S": "0",
            "LEDGER_RISK_INSTANCE_ID": f"risk-{self.tag}",
        }
        if self.api_workers:
            env["LEDGER_API_WORKERS"] = str(self.api_workers)
        return env

    async def start(self) -> None:
        async with db.connection(self.admin_dsn) as conn:
            await conn.execute(f"CREATE SCHEMA {self.tables}")
        async with db.connection(self.dsn) as conn:
            await db.migrate(conn)
            self.token = (await tokens.create_token(conn, "account_manager", self.am_id))[1]
            self.admin_token = (await tokens.create_token(conn, "admin", None))[1]
        await kafka_admin.ensure_topics(self.bootstrap, topics(self.prefix))
        logs = ROOT / "var" / "log"
        logs.mkdir(parents=True, exist_ok=True)
        for name in self.processes:
            out = open(logs / f"{self.name}-{self.tag}-{name}.log", "ab")  # noqa: SIM115
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "serve", name],
                cwd=ROOT,
                env=self.env(),
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        deadline = time.monotonic() + 90
        async with httpx.AsyncClient(timeout=2) as http:
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError, OSError):
                    if (await http.get(f"{self.url}/healthz")).status_code == 200:
                        return
                for name, p in self.procs.items():
                    if p.poll() is not None:
                        raise RuntimeError(f"{name} exited with {p.returncode}")
                await asyncio.sleep(0.3)
        raise TimeoutError("the API did not answer")

    async def backends(self) -> set[int]:
        async with db.connection(self.admin_dsn) as conn:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
                self.database,
            )
        return {r["pid"] for r in rows}

    async def stop(self) -> None:
        for p in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        with contextlib.suppress(Exception):
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            await admin.start()
            try:
                existing = set(await admin.list_topics())
                # ours and Faust's (`<prefix>-risk-...`)
                await admin.delete_topics([n for n in existing if n.startswith(self.prefix)])
            finally:
                await admin.close()
        async with db.connection(self.admin_dsn) as conn:
            for schema in (self.schema, self.tables):
                await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
