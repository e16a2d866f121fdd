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
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from services.watchdog import Watchdog

log = logging.getLogger("ledger.probe")

PATHS = ("/livez", "/readyz")


def answer(path: str, watchdog: Watchdog) -> tuple[int, dict[str, str]]:
    """The status code and JSON body of a probe at `path`."""
    if path not in PATHS:
        return 404, {"message": f"no such probe: {path} (there are {', '.join(PATHS)})"}
    stalled = watchdog.stalled()
    if stalled is not None:
        return 503, {"status": "stalled", "process": watchdog.process, "detail": stalled}
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
