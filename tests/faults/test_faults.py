"""Issue #11's faults, one at a time, on the stack `make up` started (services under
supervisord), under a steady load of 8 clients that retry and poll (tests/support/load.py).

What each fault is checked for is in tests/support/faults.py: every 202 resolved and every event
accepted, no accepted event lost or doubled, every alert once, the read models equal to a clean
rebuild, every process serving again within the bound without the test restarting it
(supervisord may restart one that exited; the test restarts only a server it killed, Kafka or
PostgreSQL, as the fault prescribes).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable

import pytest

from services import tokens
from services.db import connection
from services.settings import Settings
from tests.support import local_stack as ls
from tests.support.fault_report import FaultReports
from tests.support.faults import Harness, run_fault
from tests.support.stack import unique

pytestmark = pytest.mark.faults

SERVER_DOWN_S = 5.0  # Kafka or PostgreSQL killed, restarted this much later
# Longer than the writer's consumer session timeout (10 s): its partitions are taken away.
WRITER_STOP_S = 12.0
# Just longer than the API's verdict deadline (5 s by default), so that clients get 202s, and
# well within the writer's session timeout, so that its partitions stay where they are.
STALL_FOR_202_S = 5.6


@pytest.fixture(scope="module")
async def harness() -> Harness:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get("DATABASE_URL"):
        pytest.fail(
            "the fault suite kills and restarts servers: it runs on the local stack only "
            "(unset KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL)"
        )
    up = subprocess.run(["make", "up"], cwd=ls.ROOT, capture_output=True, text=True, timeout=300)
    assert up.returncode == 0, up.stderr[-3000:]
    assert ls.supervised(), "make up must run the services under supervisord"
    settings = Settings()
    am_id = unique("am-faults")
    async with connection(settings.dsn) as conn:
        _, token = await tokens.create_token(conn, "account_manager", am_id)
    return Harness(settings, ls.DEFAULT, settings.local_api_url, token, am_id, unique("F"))


# -- the faults ---------------------------------------------------------------------------------
# Each injects its fault and returns the monotonic time at which the fault is over (the process
# killed, the server listening again, the writer continued): recovery is counted from there.


async def _kill(name: str) -> float:
    ls.signal_pid(ls.service_pid(name), signal.SIGKILL)
    return time.monotonic()


async def _kill_server(name: str) -> float:
    pid = ls.server_pid(name)
    ls.signal_pid(pid, signal.SIGKILL)
    await ls.wait_gone(pid)
    await asyncio.sleep(SERVER_DOWN_S)
    await ls.start_server(name)  # returns once the server listens again
    return time.monotonic()


async def _stop_writer() -> float:
    async with ls.stopped(ls.service_pid("writer")):
        await asyncio.sleep(WRITER_STOP_S)
    return time.monotonic()


async def _restart_api_with_202s_outstanding() -> float:
    # The writer decides the submissions of those 202s while the API is starting again.
    async with ls.stopped(ls.service_pid("writer")):
        await asyncio.sleep(STALL_FOR_202_S)
        api = ls.service_pid("api")
        ls.signal_pid(api, signal.SIGKILL)  # supervisord starts it again
        await ls.wait_gone(api)
    return time.monotonic()


FAULTS: dict[str, Callable[[], Awaitable[float]]] = {
    "writer SIGKILL": lambda: _kill("writer"),
    "projector SIGKILL": lambda: _kill("projector"),
    "risk agent SIGKILL": lambda: _kill("risk"),
    "API SIGKILL": lambda: _kill("api"),
    "Kafka SIGKILL, restarted after 5 s": lambda: _kill_server("kafka"),
    "PostgreSQL SIGKILL, restarted after 5 s": lambda: _kill_server("postgres"),
    "writer SIGSTOP 12 s (> session timeout), SIGCONT": _stop_writer,
    "API restarted with 202s outstanding": _restart_api_with_202s_outstanding,
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_every_process_survives(
    fault: str, harness: Harness, fault_reports: FaultReports
) -> None:
    report = await run_fault(harness, fault, lambda _contracts: FAULTS[fault]())
    fault_reports.append(report)
    assert not report.failures, "; ".join(report.failures)
