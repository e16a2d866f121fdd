"""A worker process configured as the Kubernetes deployment configures it (deploy/k8s): it
answers its probes over HTTP on LEDGER_PROBE_PORT while it works, and with LEDGER_LOG_FORMAT=json
writes one JSON object a line."""

from __future__ import annotations

import json
import time

import httpx

from simulation.ports import free_port
from tests.support.services import serve, stop
from tests.support.stack import Scratch


async def test_a_running_writer_answers_its_probes_and_logs_json(scratch: Scratch) -> None:
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
        LEDGER_LOG_FORMAT="json",
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
    # The prefix is this test's own: the whole log is this process's.
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(
        line["logger"] == "ledger" and line["message"].startswith("writer consuming")
        for line in lines
    ), lines
    assert {"time", "level", "logger", "message"} <= set(lines[0])
