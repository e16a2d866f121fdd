"""Alerts POSTed to registered webhooks: signed, retried with exponential backoff, at least
once and in order (the order alerts were stored, hence in order per contract).

Each receiver has a cursor in PostgreSQL and its own task: a receiver that is down holds up
only itself, and gets everything when it comes back. Only alerts whose inserting transaction
is older than every transaction still running are read, so an alert committed late with a
lower number is never skipped.

PostgreSQL away (restarting, unreachable) stops nothing: the pool re-connects, and each loop
retries with backoff, from the cursor last stored.

Signature: `X-Ledger-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx

from services import watchdog
from services.reads import alerts as read
from services.reads.formatters import alert_json

log = logging.getLogger("ledger.webhooks")
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
# Advisory locks of receivers: (this class, a hash of the webhook id), apart from the
# single-key locks taken elsewhere.
_LOCK_CLASS = int.from_bytes(b"whk1", "big") - 2**31


def _lock_key(webhook_id: str) -> int:
    return int.from_bytes(hashlib.sha256(webhook_id.encode()).digest()[:4], "big") - 2**31


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, tolerance_s: int = 300) -> bool:
    """What a receiver does: recompute the signature and check the timestamp is recent."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - t) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, t, body), header)


def receiver_url(url: str) -> str:
    """A receiver's URL as given, if the deliverer can POST to it: http or https with a host
    (`file:///etc/passwd` or `not a url` would be stored and fail forever); ValueError else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port  # ValueError when it is not a number in range
    except ValueError as exc:
        raise ValueError(f"webhook url {url!r}: not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"webhook url {url!r}: must be an http:// or https:// URL with a host")
    del port
    return url.strip()


async def add(conn: asyncpg.Connection, url: str, min_severity: str) -> tuple[str, str]:
    url = receiver_url(url)
    webhook_id, secret = "wh_" + secrets.token_hex(6), "whsec_" + secrets.token_urlsafe(24)
    await conn.execute(
        """INSERT INTO webhooks (webhook_id, url, secret, min_severity, cursor_seq)
           VALUES ($1, $2, $3, $4, (SELECT coalesce(max(seq), 0) FROM alerts))""",
        webhook_id,
        url,
        secret,
        min_severity,
    )
    return webhook_id, secret


async def status(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    return await read.webhooks_status(conn)


async def remove(conn: asyncpg.Connection, webhook_id: str) -> bool:
    """Stop delivering to a receiver; False when there is no such webhook."""
    done = await conn.execute(
        "UPDATE webhooks SET active = false WHERE webhook_id = $1", webhook_id
    )
    return str(done) != "UPDATE 0"


class Deliverer:
    def __init__(
        self, dsn: str, backoff_s: float = 0.5, max_backoff_s: float = 30.0, timeout_s: float = 5
    ) -> None:
        self.dsn = dsn
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout_s = timeout_s
        self.tasks: dict[str, asyncio.Task[None]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        # min_size 0: nothing is connected before it is needed, so PostgreSQL may be away.
        pool = await asyncpg.create_pool(
            self.dsn, min_size=0, max_size=5, timeout=10, command_timeout=30
        )
        delay = self.backoff_s
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as http:
                while not stop.is_set():
                    for wid in [w for w, t in self.tasks.items() if t.done()]:
                        self.tasks.pop(wid)  # ended (deactivated or failed): started again
                    try:
                        with watchdog.current().busy("reading the webhooks"):
                            active = await asyncio.wait_for(read.active_webhook_ids(pool), 10)
                        delay = self.backoff_s
                    except Exception as exc:
                        log.warning("webhooks not read (%s: %s); again in %.1f s",
                                    type(exc).__name__, exc, delay)  # fmt: skip
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), delay)
                        delay = min(delay * 2, self.max_backoff_s)
                        continue
                    for wid in active - set(self.tasks):
                        self.tasks[wid] = asyncio.create_task(self._serve(pool, http, wid))
                    for wid in set(self.tasks) - active:
                        self.tasks.pop(wid).cancel()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 1.0)
        finally:
            for task in self.tasks.values():
                task.cancel()
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)
            await pool.close()

    async def _serve(self, pool: asyncpg.Pool, http: httpx.AsyncClient, wid: str) -> None:
        """Delivers to one receiver, again and again after a failure (PostgreSQL away)."""
        delay = self.backoff_s
        while True:
            try:
                await self._serve_once(pool, http, wid)
                return  # deactivated
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("receiver %s: delivery interrupted (%s: %s); again in %.1f s",
                            wid, type(exc).__name__, exc, delay)  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)

    async def _serve_once(self, pool: asyncpg.Pool, http: httpx.AsyncClient, wid: str) -> None:
        # One deliverer at a time per receiver, however many deliverer processes run: two would
        # each deliver everything. The lock belongs to this session, so it is released when the
        # process dies, and another deliverer takes the receiver over within a second.
        lock = await asyncpg.connect(self.dsn, timeout=10, command_timeout=30)
        try:
            while not await lock.fetchval(
                "SELECT pg_try_advisory_lock($1, $2)", _LOCK_CLASS, _lock_key(wid)
            ):
                await asyncio.sleep(1.0)
            await self._deliver(pool, http, wid, lock)
        finally:
            lock.terminate()

    async def _deliver(
        self, pool: asyncpg.Pool, http: httpx.AsyncClient, wid: str, lock: asyncpg.Connection
    ) -> None:
        backoff = self.backoff_s
        while True:
            if lock.is_closed():  # the lock went with its session: another may deliver now
                raise ConnectionError("the receiver's lock session was lost")
            hook = await read.webhook(pool, wid)
            if hook is None or not hook["active"]:
                return
            rows = await read.alerts_after_seq(pool, hook["cursor_seq"])
            if not rows:
                await asyncio.sleep(0.3)
                continue
            for r in rows:
                if SEVERITY_RANK[r["severity"]] < SEVERITY_RANK[hook["min_severity"]]:
                    await pool.execute(
                        "UPDATE webhooks SET cursor_seq = $2 WHERE webhook_id = $1", wid, r["seq"]
                    )
                    continue
                error = await self._post(http, hook, alert_json(r))
                if error is None:
                    await pool.execute(
                        """UPDATE webhooks SET cursor_seq = $2, delivered = delivered + 1,
                               attempts = 0, last_status = 'delivered', last_error = NULL,
                               last_attempt_at = now() WHERE webhook_id = $1""",
                        wid,
                        r["seq"],
                    )
                    backoff = self.backoff_s
                    continue
                await pool.execute(
                    """UPDATE webhooks SET attempts = attempts + 1, last_status = 'failing',
                           last_error = $2, last_attempt_at = now() WHERE webhook_id = $1""",
                    wid,
                    error,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                break  # retry the same alert: order is kept

    async def _post(
        self, http: httpx.AsyncClient, hook: asyncpg.Record, alert: dict[str, Any]
    ) -> str | None:
        body = json.dumps(alert, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Ledger-Alert-Id": alert["alert_id"],
            "X-Ledger-Signature": sign(hook["secret"], int(time.time()), body),
        }
        try:
            resp = await http.post(hook["url"], content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= resp.status_code < 300:
            return None
        return f"HTTP {resp.status_code}"
