"""The probes of a worker process (writer, projector, risk agent, webhook deliverer) for a
supervisor that asks over HTTP, such as Kubernetes' kubelet: `GET /livez` and `GET /readyz` on
`LEDGER_PROBE_PORT` (0, the default, serves nothing: the local stack runs every process on one
host, under supervisord, which watches the processes themselves).

Why HTTP and not an exec probe: an exec probe would start a Python interpreter (about half a
second of CPU and 50 MiB) every period in every pod; this is a stdlib server on a thread of the
process, answering from memory. Both answer 200 while no unit of work the process's watchdog
(`services/watchdog.py`) watches has been in hand past its bound, and 503 naming the unit
otherwise (the watchdog ends such a process anyway; the probe also covers a process run with
the watchdog off, or hung so badly that its threads no longer run). A worker takes no
requests, so readiness only paces a rolling update and counts for its disruption budget:
it means the process has started and is not stuck, not that Kafka or PostgreSQL answer (the
workers ride out an outage of either themselves; restarting or withdrawing them would not help).
A process still starting up says so with `not_ready` (a writer folding a partition's whole log,
minutes at millions of events): /readyz answers 503 naming what it is doing, /livez stays 200.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from services.watchdog import Watchdog

log = logging.getLogger("ledger.probe")

PATHS = ("/livez", "/readyz")

_starting: dict[int, str] = {}
_starting_lock = threading.Lock()
_tokens = itertools.count()


@contextmanager
def not_ready(what: str) -> Iterator[None]:
    """While in effect, /readyz answers 503 naming `what`: the process is still starting up."""
    token = next(_tokens)
    with _starting_lock:
        _starting[token] = what
    try:
        yield
    finally:
        with _starting_lock:
            _starting.pop(token, None)


def not_ready_until(what: str) -> Callable[[], None]:
    """/readyz answers 503 naming `what` until the function returned is called: a start-up
    that spans more than one call (the probes served before it begins)."""
    held = not_ready(what)
    held.__enter__()

    def release() -> None:
        held.__exit__(None, None, None)

    return release


def _not_ready() -> str | None:
    with _starting_lock:
        # The latest: what the start-up is doing now (an outer "starting" says less).
        return next(reversed(_starting.values()), None)


def answer(path: str, watchdog: Watchdog) -> tuple[int, dict[str, str]]:
    """The status code and JSON body of a probe at `path`."""
    if path not in PATHS:
        return 404, {"message": f"no such probe: {path} (there are {', '.join(PATHS)})"}
    stalled = watchdog.stalled()
    if stalled is not None:
        return 503, {"status": "stalled", "process": watchdog.process, "detail": stalled}
    starting = _not_ready() if path == "/readyz" else None
    if starting is not None:
        return 503, {"status": "starting", "process": watchdog.process, "detail": starting}
    return 200, {"status": "ok", "process": watchdog.process}


def serve(port: int, watchdog: Watchdog, host: str = "0.0.0.0") -> ThreadingHTTPServer | None:
    """Serve the probes on a daemon thread; `port` 0: none."""
    if port <= 0:
        return None

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = answer(self.path.split("?", 1)[0], watchdog)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass  # a probe every few seconds is not news

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="probe", daemon=True).start()
    log.info("probes of %s on port %d: /livez, /readyz", watchdog.process, port)
    return server
