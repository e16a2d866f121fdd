"""Writer and API processes of our own, on topics of our own, against the real servers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from events.topics import Topics, topics
from services import kafka_admin, tokens
from services.db import connection
from simulation.ports import free_port
from tests.support.stack import Stack, remove, unique

ROOT = Path(__file__).resolve().parents[2]
LEDGER = [sys.executable, "-m", "services.cli"]


def serve(
    process: str, stack: Stack, prefix: str, log_name: str, **env: str
) -> tuple[subprocess.Popen[bytes], Path]:
    """`ledger serve <process>` on `stack`'s servers and the topics of `prefix`, logging to
    var/log/test-<prefix>-<log_name>.log; `env` overrides settings. Returns the process and
    its log."""
    log = ROOT / "var" / "log" / f"test-{prefix}-{log_name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:  # the process writes to a copy of its own
        proc = subprocess.Popen(
            [*LEDGER, "serve", process],
            cwd=ROOT,
            env={
                **os.environ,
                "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap,
                "DATABASE_URL": stack.dsn,
                "LEDGER_TOPIC_PREFIX": prefix,
                **env,
            },
            stdout=out,
            stderr=out,
        )
    return proc, log


def stop(*procs: subprocess.Popen[bytes]) -> None:
    """SIGTERM to each process still running; SIGKILL to any not gone 30 s later."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@dataclass
class Services:
    """A writer and an API process on a topic prefix of their own."""

    stack: Stack
    prefix: str
    verdict_timeout_s: float = 30.0
    writer_stall_s: float = 30.0
    port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # Environment of particular processes (e.g. DATABASE_URL through a proxy), kept for restarts.
    env_of: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def topics(self) -> Topics:
        return topics(self.prefix)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def schema(self) -> str:
        return self.prefix.replace("-", "_").replace(".", "_")

    @property
    def writer_group(self) -> str:
        return f"{self.prefix}.writer"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.stack.bootstrap,
            "DATABASE_URL": self.stack.dsn,
            "LEDGER_TOPIC_PREFIX": self.prefix,
            "LEDGER_WRITER_GROUP": self.writer_group,
            "LEDGER_API_PORT": str(self.port),
            "LEDGER_VERDICT_TIMEOUT_S": str(self.verdict_timeout_s),
            "LEDGER_WRITER_STALL_S": str(self.writer_stall_s),
            "LEDGER_PROJECTION_SCHEMA": self.schema,
        }

    def start(self, name: str, **env: str) -> None:
        """Starts `ledger serve <name>`; `env` (kept for its restarts) overrides settings."""
        self.env_of.setdefault(name, {}).update(env)
        log = open(ROOT / "var" / "log" / f"test-{self.prefix}-{name}.log", "ab")  # noqa: SIM115
        self.procs[name] = subprocess.Popen(
            [*LEDGER, "serve", name],
            cwd=ROOT,
            env=self.env() | self.env_of[name],
            stdout=log,
            stderr=log,
        )

    def send(self, name: str, sig: int) -> None:
        """Sends `sig` (SIGSTOP, SIGCONT) to one of this set's own processes."""
        self.procs[name].send_signal(sig)

    def alive(self, name: str) -> bool:
        return self.procs[name].poll() is None

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        procs = [self.procs.pop(name) for name in list(self.procs)]
        for proc in procs:
            proc.send_signal(signal.SIGCONT)  # a stopped process cannot stop
        # All at once (each drains and leaves its group meanwhile); a hung one is killed: none
        # may outlive the test.
        stop(*procs)

    async def close(self) -> None:
        """Stops the processes, then deletes their topics and drops their schema."""
        self.stop_all()
        await remove(self.stack, self.prefix, self.schema)

    def wait_http(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}")
            time.sleep(0.2)
        raise TimeoutError("the API did not answer")


async def start_services(
    stack: Stack,
    verdict_timeout_s: float = 30.0,
    writer_stall_s: float = 30.0,
    env_of: dict[str, dict[str, str]] | None = None,
) -> Services:
    """Writer, projector, risk agent and API of a prefix of their own; `env_of` overrides
    settings of particular processes (e.g. {"api": {"DATABASE_URL": proxy_dsn}})."""
    (ROOT / "var" / "log").mkdir(parents=True, exist_ok=True)
    svc = Services(stack, unique("it"), verdict_timeout_s, writer_stall_s)
    await kafka_admin.ensure_topics(stack.bootstrap, svc.topics)
    for name in ("writer", "projector", "risk", "api"):
        svc.start(name, **(env_of or {}).get(name, {}))
    svc.wait_http()
    return svc


@asynccontextmanager
async def running_services(stack: Stack, **options: Any) -> AsyncIterator[Services]:
    """`start_services(stack, **options)`, closed on the way out (processes stopped, topics
    deleted, schema dropped)."""
    svc = await start_services(stack, **options)
    try:
        yield svc
    finally:
        await svc.close()


@pytest.fixture(scope="module")
async def services(ready_stack: Stack) -> AsyncIterator[Services]:
    async with running_services(ready_stack) as svc:
        yield svc


@dataclass(frozen=True)
class Tokens:
    admin: str
    finance: str
    am: str
    am_id: str
    other_am: str
    other_am_id: str


@pytest.fixture(scope="module")
async def api_tokens(ready_stack: Stack) -> Tokens:
    async with connection(ready_stack.dsn) as conn:
        am_id, other_id = unique("am"), unique("am")
        return Tokens(
            admin=(await tokens.create_token(conn, "admin", None))[1],
            finance=(await tokens.create_token(conn, "finance", None))[1],
            am=(await tokens.create_token(conn, "account_manager", am_id))[1],
            am_id=am_id,
            other_am=(await tokens.create_token(conn, "account_manager", other_id))[1],
            other_am_id=other_id,
        )


@pytest.fixture
def http(services: Services) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=services.url, timeout=60) as client:
        yield client
