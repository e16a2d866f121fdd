"""A worker's probes (services/probe.py): alive while no unit of work is stuck past the
watchdog's bound; served over real HTTP on a port of its own, or not at all on port 0."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from services import probe
from services.watchdog import Watchdog
from simulation.ports import free_port


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _dog(stall_s: float = 10.0) -> tuple[Watchdog, Clock]:
    clock = Clock()
    return Watchdog("writer", stall_s, clock=clock, exit=lambda code: None), clock


def test_idle_and_work_within_its_bound_are_alive_and_ready() -> None:
    dog, clock = _dog()
    assert probe.answer("/livez", dog) == (200, {"status": "ok", "process": "writer"})
    with dog.busy("a transaction"):
        clock.now += 9
        assert probe.answer("/livez", dog)[0] == 200
        assert probe.answer("/readyz", dog)[0] == 200


def test_work_stuck_past_the_bound_fails_both_probes_and_says_what() -> None:
    dog, clock = _dog()
    with dog.busy("a transaction"):
        clock.now += 11
        for path in ("/livez", "/readyz"):
            status, body = probe.answer(path, dog)
            assert status == 503
            assert body["detail"].startswith("a transaction for 11")
    assert probe.answer("/livez", dog)[0] == 200  # the unit ended


def test_reading_the_probe_does_not_move_the_watchdog() -> None:
    dog, clock = _dog()
    with dog.busy("a batch"):
        clock.now += 11
        assert probe.answer("/livez", dog)[0] == 503
        assert dog.check() is not None  # the watchdog still sees the stall and acts on it


def test_a_watchdog_switched_off_never_reports_a_stall() -> None:
    dog, clock = _dog(stall_s=0)
    with dog.busy("a batch"):
        clock.now += 10_000
        assert probe.answer("/livez", dog)[0] == 200


def test_an_unknown_path_is_404_naming_the_probes() -> None:
    dog, _ = _dog()
    status, body = probe.answer("/healthz", dog)
    assert status == 404
    assert "/livez" in body["message"] and "/readyz" in body["message"]


def test_port_0_serves_nothing() -> None:
    dog, _ = _dog()
    assert probe.serve(0, dog) is None


def _get(url: str) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_served_over_http() -> None:
    dog, clock = _dog()
    port = free_port()
    server = probe.serve(port, dog, host="127.0.0.1")
    assert server is not None
    try:
        assert _get(f"http://127.0.0.1:{port}/livez") == (
            200,
            {"status": "ok", "process": "writer"},
        )
        with dog.busy("a batch"):
            clock.now += 30
            status, body = _get(f"http://127.0.0.1:{port}/readyz?verbose=1")
        assert status == 503 and body["status"] == "stalled"
    finally:
        server.shutdown()
        server.server_close()


def test_a_process_still_starting_up_is_alive_but_not_ready_and_says_why() -> None:
    dog, _ = _dog()
    with probe.not_ready("folding partition 3 of the events topic"):
        assert probe.answer("/livez", dog)[0] == 200
        status, body = probe.answer("/readyz", dog)
        assert status == 503
        assert body == {
            "status": "starting",
            "process": "writer",
            "detail": "folding partition 3 of the events topic",
        }
    assert probe.answer("/readyz", dog)[0] == 200


def test_a_start_up_spanning_calls_is_not_ready_until_it_says_it_is_done() -> None:
    dog, _ = _dog()
    started = probe.not_ready_until("starting")
    # What the start-up does next is named, the process not ready throughout.
    with probe.not_ready("looking for a first pass to judge in bulk"):
        status, body = probe.answer("/readyz", dog)
        assert status == 503 and body["detail"] == "looking for a first pass to judge in bulk"
    assert probe.answer("/readyz", dog) == (
        503,
        {"status": "starting", "process": "writer", "detail": "starting"},
    )
    started()
    assert probe.answer("/readyz", dog)[0] == 200
