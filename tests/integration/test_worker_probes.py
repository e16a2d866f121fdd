"""A worker process with LEDGER_PROBE_PORT answers its probes over HTTP while it works (as the
Kubernetes deployment's kubelet asks them: deploy/k8s)."""

from __future__ import annotations

import time

import httpx

from simulation.ports import free_port
from tests.support.services import serve, stop
from tests.support.stack import Scratch


async def test_a_running_writer_answers_livez_and_readyz(scratch: Scratch) -> None:
    t = await scratch.topics(name="probe")
    prefix = t.events.name.rsplit(".", 1)[0]
    port = free_port()
    proc, log = serve(
        "writer",
        scratch.stack,
        prefix,
        "writer",
        LEDGER_PROBE_PORT=str(port),
        LEDGER_WRITER_GROUP=f"{prefix}.writer",
    )
    try:
        deadline = time.monotonic() + 60
        answer = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/livez", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert answer is not None, f"no probe answered; the writer's log: {log}"
        assert answer.status_code == 200
        assert answer.json() == {"status": "ok", "process": "writer"}
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
        assert ready.status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).status_code == 404
    finally:
        stop(proc)
    assert proc.returncode == 0  # SIGTERM: a clean stop, the probe thread in no one's way
