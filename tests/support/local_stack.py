"""A stack `deploy/local/stack.sh up` started on this machine, as the fault suite drives it: the
service processes under supervisord, Kafka and PostgreSQL from deploy/local, all found through
the pid files and configuration under its var/ directory (so only that stack is touched).

`make up` starts the default one, in this repository's var/ (the module-level functions below
act on it); the three-broker cluster of the fault suite is another, in var/cluster on ports of
its own (tests/support/cluster.py), driven through a `LocalStack` of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("writer", "projector", "risk", "webhooks", "api")


def moved_port(variable: str, default: int, offset: int) -> int:
    """A port of a second stack: the `make up` stack's (its LEDGER_*_PORT, as deploy/local reads
    them) plus `offset`, so a stack moved elsewhere takes the second one with it."""
    return int(os.environ.get(variable) or default) + offset


def alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return not re.search(r"^State:\s*Z", status, re.M)


@dataclass(frozen=True)
class LocalStack:
    """One local stack: its var/ directory and the environment its scripts run with (ports,
    LEDGER_VAR, LEDGER_KAFKA_BROKERS), added to this process's own."""

    var: Path = ROOT / "var"
    env: Mapping[str, str] = field(default_factory=dict)
    brokers: int = 1

    @property
    def run(self) -> Path:
        return self.var / "run"

    @property
    def supervisor_log(self) -> Path:
        return self.var / "log" / "supervisord.log"

    def _supervisorctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        ctl = str(Path(sys.executable).with_name("supervisorctl"))
        return subprocess.run(
            [ctl, "-c", str(self.run / "supervisord.conf"), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    def script_env(self) -> dict[str, str]:
        """The environment deploy/local's scripts run with for this stack: the servers are its
        own, whatever this process was pointed at."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")
        }
        return env | dict(self.env)

    def _pid_file(self, name: str) -> int:
        return int((self.run / f"{name}.pid").read_text().strip())

    def supervised(self) -> bool:
        """True when supervisord (started by `make up`) runs the service processes."""
        try:
            return alive(self._pid_file("supervisord"))
        except (FileNotFoundError, ValueError):
            return False

    def service_pid(self, name: str) -> int:
        """The pid supervisord reports for a service (0 when it is not running)."""
        out = self._supervisorctl("pid", name).stdout.strip()
        return int(out) if out.isdigit() else 0

    def states(self) -> dict[str, str]:
        """Each service's supervisord state: RUNNING, STARTING, BACKOFF, EXITED, FATAL…"""
        out = self._supervisorctl("status").stdout
        return {
            line.split()[0]: line.split()[1] for line in out.splitlines() if len(line.split()) > 1
        }

    def spawns(self) -> dict[str, int]:
        """How often supervisord has started each service since it started itself."""
        counts = dict.fromkeys(SERVICES, 0)
        if not self.supervisor_log.exists():
            return counts
        for line in self.supervisor_log.read_text(errors="replace").splitlines():
            if "supervisord started with pid" in line:
                counts = dict.fromkeys(SERVICES, 0)
            elif m := re.search(r"spawned: '([a-z]+)'", line):
                counts[m[1]] = counts.get(m[1], 0) + 1
        return counts

    def restart_services(self) -> None:
        """Restart every service process: only to heal the stack between faults, never as part
        of a fault's recovery."""
        self._supervisorctl("restart", "all")

    @property
    def kafka_nodes(self) -> list[str]:
        """The pid-file names of the Kafka nodes: "kafka", or "kafka-1".."kafka-n"."""
        if self.brokers == 1:
            return ["kafka"]
        return [f"kafka-{n}" for n in range(1, self.brokers + 1)]

    def server_pid(self, name: str) -> int:
        """The pid of a Kafka node ("kafka", "kafka-2"…) or the PostgreSQL postmaster
        ("postgres")."""
        return self._pid_file(name)

    def broker_pid(self, node_id: int) -> int:
        """The pid of the Kafka node with this node.id."""
        return self.server_pid(self.kafka_nodes[node_id - 1])

    def servers_alive(self) -> dict[str, bool]:
        out = {}
        for name in [*self.kafka_nodes, "postgres"]:
            try:
                out[name] = alive(self.server_pid(name))
            except (FileNotFoundError, ValueError):
                out[name] = False
        return out

    async def start_server(self, name: str) -> None:
        """deploy/local/kafka.sh (every node not running) or postgres.sh start: waits until
        the server listens."""
        script = ROOT / "deploy" / "local" / f"{name.split('-')[0]}.sh"
        for attempt in range(3):
            proc = await asyncio.create_subprocess_exec(
                str(script),
                "start",
                cwd=ROOT,
                env=self.script_env(),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            _, err = await proc.communicate()
            if proc.returncode == 0:
                return
            # PostgreSQL refuses to start while a killed postmaster's backends still hold its
            # shared memory; they go within a moment.
            await asyncio.sleep(1 + attempt)
        raise RuntimeError(f"{script.name} start failed: {err.decode(errors='replace')[-2000:]}")

    def stack_sh(self, command: str, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
        """deploy/local/stack.sh up | down | discard | status for this stack."""
        return subprocess.run(
            [str(ROOT / "deploy" / "local" / "stack.sh"), command],
            cwd=ROOT,
            env=self.script_env(),
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )

    def start_afresh(self, what: str, data: tuple[str, ...]) -> None:
        """The whole stack from nothing: `data` (folders of its var/) of an earlier run wiped
        first. `what` names it in the error when it does not start."""
        self.stop_and_wipe(data)
        up = self.stack_sh("up", timeout_s=600)
        if up.returncode != 0:
            raise RuntimeError(f"{what} did not start:\n{up.stderr[-3000:]}")

    def stop_and_wipe(self, data: tuple[str, ...]) -> None:
        """Everything killed and `data` (folders of its var/) gone; the logs stay. Killed, not
        shut down: what a clean shutdown would keep is about to be wiped."""
        if self.var.exists():
            self.stack_sh("discard", timeout_s=60)
        for folder in data:
            shutil.rmtree(self.var / folder, ignore_errors=True)


async def wait_gone(pid: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while alive(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


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


# The stack `make up` starts, in this repository's var/.
DEFAULT = LocalStack()
supervised = DEFAULT.supervised
service_pid = DEFAULT.service_pid
states = DEFAULT.states
spawns = DEFAULT.spawns
restart_services = DEFAULT.restart_services
server_pid = DEFAULT.server_pid
start_server = DEFAULT.start_server
