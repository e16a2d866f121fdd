"""Real receivers of routed alerts, started once per test run on loopback free ports: an SMTP
server (aiosmtpd), an HTTP receiver standing in for Slack's and Teams' incoming webhooks (it
records what it is sent, and answers 500 on a path told to fail), and Debian's
prometheus-alertmanager (installed by deploy/local/alertmanager.sh when missing), whose own
webhook notifications come back to the HTTP receiver. Each can be taken down and brought back,
for the outage tests."""

from __future__ import annotations

import email
import email.policy
import json
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from simulation.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
ALERTMANAGER = Path("/usr/bin/prometheus-alertmanager")


def wait_for(check: Callable[[], Any], timeout_s: float = 20, what: str = "") -> Any:
    """Polls `check` until it returns something truthy; fails with `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        time.sleep(0.2)


@dataclass
class Mail:
    to: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        return "" if part is None else str(cast(EmailMessage, part).get_content())


class _Inbox:
    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        with self.lock:
            self.mails.append(Mail(list(envelope.rcpt_tos), msg))
        return "250 OK"


@dataclass
class SmtpServer:
    port: int = field(default_factory=free_port)
    inbox: _Inbox = field(default_factory=_Inbox)
    controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def up(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def down(self) -> None:
        """Stops listening: a connection is refused until `up`."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def to(self, address: str) -> list[Mail]:
        with self.inbox.lock:
            return [m for m in self.inbox.mails if address in m.to]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


class HttpReceiver:
    """Records each POST by path; a path in `failing` answers 500 (and is not recorded); a path
    in `held` counts the POST in `arrived`, then answers only once its event is set."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self.failing: set[str] = set()
        self.held: dict[str, threading.Event] = {}
        self.arrived: dict[str, int] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                held = receiver.held.get(self.path)
                if held is not None:
                    with receiver.lock:
                        receiver.arrived[self.path] = receiver.arrived.get(self.path, 0) + 1
                    held.wait(60)  # the sender may have given up meanwhile: it answers anyway
                if self.path in receiver.failing:
                    self.send_response(500)
                    self.end_headers()
                    return
                with receiver.lock:
                    receiver.received.append(
                        Received(self.path, dict(self.headers.items()), json.loads(raw or b"null"))
                    )
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]


class Alertmanager:
    """`prometheus-alertmanager` on a free port, clustering off, notifying `notify_url` (a
    webhook with send_resolved) of each alert group at once: its own word that an alert
    fired and was resolved."""

    def __init__(self, notify_url: str) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="alertmanager-"))
        (self.dir / "alertmanager.yml").write_text(
            f"""route:
  receiver: ledger-test
  group_by: [alert_id]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: ledger-test
    webhook_configs:
      - url: {notify_url}
        send_resolved: true
"""
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        log = open(self.dir / "alertmanager.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(ALERTMANAGER), f"--config.file={self.dir / 'alertmanager.yml'}",
             f"--storage.path={self.dir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--cluster.listen-address=", "--log.level=warn"],
            stdout=log, stderr=log,
        )  # fmt: skip

        def ready() -> bool:
            assert self.proc is not None and self.proc.poll() is None, "alertmanager exited"
            try:
                return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, 30, "alertmanager ready")

    def down(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.proc = None

    def active(self, alert_id: str) -> list[dict[str, Any]]:
        """What Alertmanager's API v2 lists as active for this alert (labels alert_id)."""
        r = httpx.get(
            f"{self.url}/api/v2/alerts",
            params={"filter": f'alert_id="{alert_id}"', "active": "true"},
            timeout=5,
        )
        r.raise_for_status()
        return [a for a in r.json() if a["status"]["state"] == "active"]


def ensure_alertmanager() -> None:
    if not ALERTMANAGER.exists():
        subprocess.run([str(ROOT / "deploy" / "local" / "alertmanager.sh")], check=True)


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.up()
    yield server
    server.down()


@pytest.fixture(scope="session")
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture(scope="session")
def alertmanager(http_receiver: HttpReceiver) -> Iterator[Alertmanager]:
    ensure_alertmanager()
    am = Alertmanager(http_receiver.url("/alertmanager-notifications"))
    am.up()
    yield am
    am.down()
