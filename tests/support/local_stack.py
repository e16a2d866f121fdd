"""The stack `make up` started on this machine, as the fault suite drives it: the service
processes under supervisord, Kafka and PostgreSQL from deploy/local, all found through the pid
files and configuration under this repository's var/ (so only this checkout's stack is touched).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "var" / "run"
SUPERVISOR_LOG = ROOT / "var" / "log" / "supervisord.log"
SUPERVISORCTL = [
    str(Path(sys.executable).with_name("supervisorctl")),
    "-c",
    str(RUN / "supervisord.conf"),
]
SERVICES = ("writer", "projector", "risk", "webhooks", "api")


def _pid_file(name: str) -> int:
    return int((RUN / f"{name}.pid").read_text().strip())


def alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return not re.search(r"^State:\s*Z", status, re.M)


def supervised() -> bool:
    """True when supervisord (started by `make up`) runs the service processes."""
    try:
        return alive(_pid_file("supervisord"))
    except (FileNotFoundError, ValueError):
        return False


def service_pid(name: str) -> int:
    """The pid supervisord reports for a service (0 when it is not running)."""
    out = subprocess.run(
        [*SUPERVISORCTL, "pid", name], capture_output=True, text=True, timeout=30
    ).stdout.strip()
    return int(out) if out.isdigit() else 0


def states() -> dict[str, str]:
    """Each service's supervisord state: RUNNING, STARTING, BACKOFF, EXITED, FATAL…"""
    out = subprocess.run(
        [*SUPERVISORCTL, "status"], capture_output=True, text=True, timeout=30
    ).stdout
    return {line.split()[0]: line.split()[1] for line in out.splitlines() if len(line.split()) > 1}


def spawns() -> dict[str, int]:
    """How often supervisord has started each service since it started itself."""
    counts = dict.fromkeys(SERVICES, 0)
    if not SUPERVISOR_LOG.exists():
        return counts
    for line in SUPERVISOR_LOG.read_text(errors="replace").splitlines():
        if "supervisord started with pid" in line:
            counts = dict.fromkeys(SERVICES, 0)
        elif m := re.search(r"spawned: '([a-z]+)'", line):
            counts[m[1]] = counts.get(m[1], 0) + 1
    return counts


def restart_services() -> None:
    """Restart every service process: only to heal the stack between faults, never as part of
    a fault's recovery."""
    subprocess.run([*SUPERVISORCTL, "restart", "all"], capture_output=True, timeout=120)


def server_pid(name: str) -> int:
    """The pid of the local Kafka ("kafka") or PostgreSQL postmaster ("postgres")."""
    return _pid_file(name)


async def wait_gone(pid: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while alive(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def start_server(name: str) -> None:
    """deploy/local/kafka.sh or postgres.sh start: waits until the server listens."""
    script = ROOT / "deploy" / "local" / f"{name}.sh"
    for attempt in range(3):
        proc = await asyncio.create_subprocess_exec(
            str(script),
            "start",
            cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate()
        if proc.returncode == 0:
            return
        # PostgreSQL refuses to start while a killed postmaster's backends still hold its
        # shared memory; they go within a moment.
        await asyncio.sleep(1 + attempt)
    raise RuntimeError(f"{name}.sh start failed: {err.decode(errors='replace')[-2000:]}")


def signal_pid(pid: int, sig: signal.Signals) -> None:
    os.kill(pid, sig)


@contextlib.asynccontextmanager
async def stopped(pid: int) -> AsyncIterator[None]:
    """The process frozen (SIGSTOP) while the block runs, then let go on (SIGCONT) whatever
    happens in it."""
    signal_pid(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        signal_pid(pid, signal.SIGCONT)
