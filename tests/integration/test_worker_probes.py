"""A worker process configured as the Kubernetes deployment configures it (deploy/k8s): it
answers its probes over HTTP on LEDGER_PROBE_PORT while it works, and with LEDGER_LOG_FORMAT=json
writes one JSON object a line."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx

from simulation.ports import free_port
from tests.support.services import serve, stop
from tests.support.stack import Scratch


def _writer(scratch: Scratch, prefix: str, **env: str) -> tuple[subprocess.Popen[bytes], Path, int]:
    """`ledger serve writer` on the topics of `prefix`, as deploy/k8s runs it (a group of its
    own, its probes on a free port); the process, its log and the port."""
    port = free_port()
    proc, log = serve(
        "writer",
        scratch.stack,
        prefix,
        "writer",
        LEDGER_PROBE_PORT=str(port),
        LEDGER_WRITER_GROUP=f"{prefix}.writer",
        **env,
    )
    return proc, log, port


async def test_a_running_writer_answers_its_probes_and_logs_json(scratch: Scratch) -> None:
    prefix = scratch.prefix("probe")
    await scratch.topics(prefix)
    proc, log, port = _writer(scratch, prefix, LEDGER_LOG_FORMAT="json")
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
        # Ready once its partitions are taken (folding even an empty log, it is starting).
        while time.monotonic() < deadline:
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
            if ready.status_code == 200:
                break
            assert ready.json()["status"] == "starting"
            time.sleep(0.05)
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


async def test_a_writer_folding_a_log_it_never_saw_is_alive_but_not_ready_until_done(
    scratch: Scratch,
) -> None:
    prefix, _ = await scratch.topics_with_log(
        "probefold", 40_000, contracts=400, seed=23, check=False
    )
    proc, out, port = _writer(scratch, prefix)
    seen: set[tuple[int, str, int]] = set()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                alive = httpx.get(f"http://127.0.0.1:{port}/livez", timeout=2)
            except httpx.HTTPError:
                time.sleep(0.02)
                continue
            body = ready.json()
            seen.add((ready.status_code, body["status"], alive.status_code))
            if ready.status_code == 200 and out.read_text().count("folded offsets") == 6:
                break
            time.sleep(0.01)
    finally:
        stop(proc)
    assert (503, "starting", 200) in seen, seen  # folding: alive, not ready
    assert (200, "ok", 200) in seen, seen  # every partition folded: ready
    text = out.read_text()
    assert text.count("folded offsets 0 to") == 6
    assert "folding the log" in text or "events/s" in text
