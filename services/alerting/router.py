"""`ledger serve alerts`: routes alerts to their channels, in order per route, retrying a
failing channel with backoff without holding up any other route, and logs every delivery.

Each route has its own task and, in PostgreSQL, a cursor over the alerts (by arrival order)
and a queue (`alert_deliveries`, which is also the log). A step of a route: queue the new
alerts it matches, queue what is due for those it carried (repeats while open, Alertmanager's
re-sends and ends), then try the head of its queue. A failing head waits out its backoff and
holds the rest of its route, so that once the channel is back the alerts arrive each once and
in order. At least once: a process killed between a send and its record sends it again.

A route carries the alerts of its own deployment only: those whose contract the risk agent of
this events topic judged (`risk_progress`), matched against this read model's contracts; one
not projected yet is waited for. One router serves a deployment at a time (an advisory lock
on its projection schema); a second one waits, and takes over within a second of the first's
end. The risk agent is another process: a slow channel cannot slow it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from services import watchdog
from services.alerting import routing, seed, store
from services.alerting.channels import Sender
from services.reads.alerts import COLUMNS, COMMITTED_BEFORE_RUNNING
from services.reads.formatters import alert_json
from services.settings import Settings

log = logging.getLogger("ledger.alerts")
_LOCK_CLASS = int.from_bytes(b"alr1", "big") - 2**31
# How long a route waits for the projector to project an alert's contract before matching
# it without its client and account manager (a contract never projected: a broken stack).
CONTRACT_WAIT_S = 120.0


# An idle route looks again at its own row and channel (an admin's edits) this often, and for
# repeats and Alertmanager re-sends due (without a change of any alert) this often.
RELOAD_S = 2.0
FOLLOW_UP_S = 2.0


@dataclass
class _Route:
    """What a route's task knows between steps, so that an idle route costs PostgreSQL nothing
    but a look at its row now and then: the newest alert and change seen by the router, the
    route's cursor, whether its queue is empty, and when its head is next due."""

    r: asyncpg.Record | None = None
    ch: asyncpg.Record | None = None
    loaded_at: float = -1e9
    cursor: int = -1
    change_seen: int = -1
    follow_ups_at: float = -1e9
    queue_empty: bool = False
    next_try_at: float = -1e9


def _lock_key(schema: str) -> int:
    return int.from_bytes(hashlib.sha256(schema.encode()).digest()[:4], "big") - 2**31


class Router:
    def __init__(self, settings: Settings) -> None:
        self.dsn = settings.dsn
        self.schema = settings.projection_schema
        self.events_topic = settings.topics.events.name
        self.backoff_s = settings.alerts_backoff_s
        self.max_backoff_s = settings.alerts_max_backoff_s
        self.timeout_s = settings.alerts_timeout_s
        self.poll_s = settings.alerts_poll_s
        self.smtp_url = settings.smtp_url.get_secret_value() if settings.smtp_url else None
        self.smtp_from = settings.smtp_from
        self.routes_file = settings.alert_routes_file
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.waiting_since: dict[str, float] = {}
        # The newest alert (seq) and change (change_seq) stored: read by one query per poll,
        # so that a route looks at the alerts only when there is something new.
        self.latest_seq = 0
        self.latest_change = 0

    async def run(self, stop: asyncio.Event) -> None:
        pool = await asyncpg.create_pool(
            self.dsn, min_size=0, max_size=5, timeout=10, command_timeout=30
        )
        try:
            if self.routes_file:
                await self._seed(pool, stop)
            async with httpx.AsyncClient(timeout=self.timeout_s) as http:
                sender = Sender(http, self.smtp_url, self.smtp_from, self.timeout_s)
                while not stop.is_set():
                    try:
                        await self._lead(pool, sender, stop)
                    except Exception as exc:
                        log.warning("alert routing interrupted (%s); again in 1 s",
                                    type(exc).__name__)  # fmt: skip
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), 1.0)
        finally:
            await self._cancel_all()
            await pool.close()

    async def _seed(self, pool: asyncpg.Pool, stop: asyncio.Event) -> None:
        path = Path(self.routes_file)
        parsed = seed.read(path)  # a bad file stops the process: its supervisor shows why
        delay = self.backoff_s
        while not stop.is_set():
            try:
                done = await seed.apply(pool, parsed, self.schema)
                log.info("routes file %s: %s", path, done)
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("routes file not applied yet (%s); again in %.1f s",
                            type(exc).__name__, delay)  # fmt: skip
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, self.max_backoff_s)

    async def _lead(self, pool: asyncpg.Pool, sender: Sender, stop: asyncio.Event) -> None:
        lock = await asyncpg.connect(self.dsn, timeout=10, command_timeout=30)
        try:
            while not await lock.fetchval(
                "SELECT pg_try_advisory_lock($1, $2)", _LOCK_CLASS, _lock_key(self.schema)
            ):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
                if stop.is_set():
                    return
            log.info("routing the alerts of %s (read model %s)", self.events_topic, self.schema)
            watcher = asyncio.create_task(self._watch(pool))
            self.tasks["(watch)"] = watcher
            while not stop.is_set():
                if lock.is_closed():
                    raise ConnectionError("the router's lock session was lost")
                for rid in [r for r, t in self.tasks.items() if t.done() and r != "(watch)"]:
                    self.tasks.pop(rid)  # ended (removed or failed): started again
                with watchdog.current().busy("reading the alert routes"):
                    active = await asyncio.wait_for(store.active_route_ids(pool, self.schema), 10)
                if watcher.done():
                    watcher.result()  # its failure ends this lead (and is logged)
                for rid in active - set(self.tasks):
                    self.tasks[rid] = asyncio.create_task(self._serve(pool, sender, rid))
                for rid in set(self.tasks) - active - {"(watch)"}:
                    self.tasks.pop(rid).cancel()
                await lock.fetchval("SELECT 1")  # the lock's session is still there
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
        finally:
            await self._cancel_all()
            lock.terminate()

    async def _watch(self, pool: asyncpg.Pool) -> None:
        while True:
            row = await pool.fetchrow(
                "SELECT coalesce(max(seq), 0) AS s, coalesce(max(change_seq), 0) AS c FROM alerts"
            )
            self.latest_seq, self.latest_change = row["s"], row["c"]
            await asyncio.sleep(self.poll_s)

    async def _cancel_all(self) -> None:
        tasks = list(self.tasks.values())
        self.tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, pool: asyncpg.Pool, sender: Sender, route_id: str) -> None:
        """One route, step after step; a step that fails (PostgreSQL away) is tried again."""
        delay = self.backoff_s
        state = _Route()
        while True:
            try:
                busy = await self._step(pool, sender, route_id, state)
                delay = self.backoff_s
                if busy is None:
                    return  # removed
                if not busy:
                    await asyncio.sleep(self.poll_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                state = _Route()  # read everything again
                log.warning("route %s: interrupted (%s: %s); again in %.1f s",
                            route_id, type(exc).__name__, exc, delay)  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)

    async def _step(
        self, pool: asyncpg.Pool, sender: Sender, route_id: str, st: _Route
    ) -> bool | None:
        """True when it did something (go on at once), False when idle, None when removed."""
        now = time.monotonic()
        if st.r is None or st.ch is None or now - st.loaded_at >= RELOAD_S:
            st.r = await store.route(pool, route_id)
            if st.r is None or not st.r["active"]:
                return None
            st.ch = await store.channel(pool, st.r["channel_id"])
            if st.ch is None or not st.ch["active"]:
                return None
            st.cursor, st.loaded_at = st.r["cursor_seq"], now
        r, ch, busy = st.r, st.ch, False
        if self.latest_seq > st.cursor:
            moved, queued = await self._queue_new(pool, r, ch, st.cursor)
            busy = moved != st.cursor
            st.cursor = moved
            st.queue_empty = st.queue_empty and not queued
        if self.latest_change != st.change_seen or now >= st.follow_ups_at:
            change = self.latest_change
            if await self._queue_follow_ups(pool, r, ch):
                st.queue_empty = False
            st.change_seen, st.follow_ups_at = change, now + FOLLOW_UP_S
        if not st.queue_empty and now >= st.next_try_at:
            sent, empty, wait_s = await self._deliver_head(pool, sender, r, ch)
            st.queue_empty = empty
            st.next_try_at = now + min(wait_s, RELOAD_S) if wait_s else -1e9
            busy = busy or sent
        return busy

    def _due(self, ch: asyncpg.Record, schedule: routing.Schedule, now: datetime) -> datetime:
        # Alertmanager is told the state at once: it has its own grouping and silences.
        return now if ch["kind"] == "alertmanager" else routing.due_at(schedule, now)

    async def _queue_new(
        self, pool: asyncpg.Pool, r: asyncpg.Record, ch: asyncpg.Record, start: int
    ) -> tuple[int, int]:
        """Queues the new alerts the route matches; (its cursor now, how many were queued)."""
        rows = await pool.fetch(
            f"""SELECT {COLUMNS}, c.client_id, c.account_manager_id,
                       c.contract_id IS NOT NULL AS projected,
                       EXISTS (SELECT 1 FROM risk_progress p WHERE p.events_topic = $3
                                 AND p.contract_id = a.contract_id) AS ours
                FROM alerts a LEFT JOIN "{self.schema}".contracts c
                  ON c.contract_id = a.contract_id
                WHERE a.seq > $1 AND {COMMITTED_BEFORE_RUNNING} ORDER BY a.seq LIMIT $2""",
            start,
            200,
            self.events_topic,
        )
        if not rows:
            return start, 0
        now = datetime.now(UTC)
        async with pool.acquire() as conn, conn.transaction():
            # The route as it is now, held until this transaction ends: what an admin or the
            # account manager saved before these alerts were queued applies to them (a switch
            # to a daily digest, a narrower match), not what this task read up to RELOAD_S ago.
            current = await _routed_now(conn, r["route_id"])
            if current is None:
                return start, 0  # removed since this step read it: the next step ends
            cursor, queue = self._matched(rows, store.route_match(current), start)
            if cursor == start:
                return start, 0
            due = self._due(ch, store.route_schedule(current), now)
            moved = await conn.execute(
                "UPDATE alert_routes SET cursor_seq = $3 WHERE route_id = $1 AND cursor_seq = $2",
                r["route_id"],
                start,
                cursor,
            )
            if moved == "UPDATE 0":
                raise RuntimeError("the route's cursor moved under this router")
            await conn.executemany(
                """INSERT INTO alert_deliveries (route_id, alert_id, kind, due_at)
                   VALUES ($1, $2, 'raised', $3)""",
                [(r["route_id"], aid, due) for aid in queue],
            )
            await conn.executemany(
                """INSERT INTO alert_route_alerts (route_id, alert_id, last_queued_at)
                   VALUES ($1, $2, $3) ON CONFLICT DO NOTHING""",
                [(r["route_id"], aid, now) for aid in queue],
            )
        return cursor, len(queue)

    def _matched(
        self, rows: list[asyncpg.Record], match: routing.Match, start: int
    ) -> tuple[int, list[str]]:
        """How far the route's cursor moves over `rows` (alerts after `start`, in order), and the
        alerts among them it carries. It stops before an alert of ours whose contract the
        projector has not projected yet (its client and account manager are not known)."""
        cursor, queue = start, []
        for a in rows:
            if a["ours"] and not a["projected"]:
                first = self.waiting_since.setdefault(a["alert_id"], time.monotonic())
                if time.monotonic() - first < CONTRACT_WAIT_S:
                    break  # the projector has not projected its contract yet: wait for it
            self.waiting_since.pop(a["alert_id"], None)
            facts = routing.AlertFacts(
                rule=a["rule"],
                severity=a["severity"],
                basis=a["basis"],
                client_id=a["client_id"],
                account_manager_id=a["account_manager_id"],
            )
            if a["ours"] and routing.matches(match, facts):
                queue.append(a["alert_id"])
            cursor = a["seq"]
        return cursor, queue

    async def _queue_follow_ups(
        self, pool: asyncpg.Pool, r: asyncpg.Record, ch: asyncpg.Record
    ) -> int:
        """Queues what is due for the alerts the route carried; how many deliveries."""
        rows = await pool.fetch(
            """SELECT ra.alert_id, ra.last_queued_at, a.status,
                      EXISTS (SELECT 1 FROM alert_deliveries d
                              WHERE d.route_id = ra.route_id AND d.alert_id = ra.alert_id
                                AND d.status IN ('pending', 'failing')) AS in_queue
               FROM alert_route_alerts ra JOIN alerts a USING (alert_id)
               WHERE ra.route_id = $1 AND NOT ra.ended""",
            r["route_id"],
        )
        queued = 0
        schedule, now = store.route_schedule(r), datetime.now(UTC)
        for a in rows:
            kind = routing.follow_up(
                ch["kind"], schedule, ch["resend_s"], a["status"], a["last_queued_at"], now
            )
            if kind is None or (kind in ("repeat", "refresh") and a["in_queue"]):
                continue
            async with pool.acquire() as conn, conn.transaction():
                if await _routed_now(conn, r["route_id"]) is None:
                    return queued
                if kind != "end":
                    queued += 1
                    due = now if kind == "resolved" else self._due(ch, schedule, now)
                    await conn.execute(
                        """INSERT INTO alert_deliveries (route_id, alert_id, kind, due_at)
                           VALUES ($1, $2, $3, $4)""",
                        r["route_id"],
                        a["alert_id"],
                        kind,
                        due,
                    )
                await conn.execute(
                    """UPDATE alert_route_alerts SET last_queued_at = $3, ended = $4
                       WHERE route_id = $1 AND alert_id = $2""",
                    r["route_id"],
                    a["alert_id"],
                    now,
                    kind in ("end", "resolved"),
                )
        return queued

    async def _deliver_head(
        self, pool: asyncpg.Pool, sender: Sender, r: asyncpg.Record, ch: asyncpg.Record
    ) -> tuple[bool, bool, float | None]:
        """Tries the head of the route's queue: (sent or dropped something, the queue is
        empty, seconds until the head is due or tried again)."""
        now = datetime.now(UTC)
        head = await pool.fetchrow(
            """SELECT * FROM alert_deliveries WHERE route_id = $1
                 AND status IN ('pending', 'failing') ORDER BY delivery_id LIMIT 1""",
            r["route_id"],
        )
        if head is None:
            return False, True, None
        later = max(head["due_at"], head["next_try_at"] or head["due_at"])
        if later > now:
            return False, False, (later - now).total_seconds()
        digest = r["digest_at"] is not None and ch["kind"] == "email"
        batch = [head]
        if digest:  # everything due in one e-mail
            batch = list(
                await pool.fetch(
                    """SELECT * FROM alert_deliveries WHERE route_id = $1
                         AND status IN ('pending', 'failing') AND due_at <= $2
                       ORDER BY delivery_id LIMIT 200""",
                    r["route_id"],
                    now,
                )
            )
        alerts = await self._alerts(pool, [d["alert_id"] for d in batch])
        keep = []
        for d in batch:
            a = alerts.get(d["alert_id"])
            if a is None or not routing.still_worth_sending(d["kind"], a["status"]):
                await pool.execute(
                    """UPDATE alert_deliveries SET status = 'dropped', last_try_at = now(),
                           last_error = $2 WHERE delivery_id = $1 AND status = ANY($3::text[])""",
                    d["delivery_id"],
                    "not sent: the alert is no longer open" if a else "the alert is gone",
                    store.QUEUED,
                )
            else:
                keep.append(d)
        if not keep:
            return True, False, None
        error = await sender.send(
            ch,
            [alerts[d["alert_id"]] for d in keep],
            keep[0]["kind"],
            now,
            digest_name=(r["owner"] or r["name"]) if digest else None,
        )
        ids = [d["delivery_id"] for d in keep]
        # The send takes time, and the route may be removed meanwhile (its queue then dropped,
        # in one transaction with the removal): a try's outcome is written only over a delivery
        # still queued, or a failed try would put a dropped one back on a removed route's queue.
        # A message that did go out is recorded as delivered all the same, with the drop's note
        # taken back: it was sent.
        if error is None:
            await pool.execute(
                """UPDATE alert_deliveries SET status = 'delivered', tries = tries + 1,
                       last_try_at = now(), delivered_at = now(), next_try_at = NULL,
                       last_error = nullif(regexp_replace(last_error, $2, ''), '')
                   WHERE delivery_id = ANY($1::bigint[])""",
                ids,
                "(; )?" + re.escape(store.ROUTE_REMOVED) + "$",
            )
            return True, False, None
        tries = keep[0]["tries"] + 1
        wait = routing.backoff_s(tries, self.backoff_s, self.max_backoff_s)
        await pool.execute(
            """UPDATE alert_deliveries SET status = 'failing', tries = tries + 1,
                   last_try_at = now(), last_error = $2,
                   next_try_at = now() + make_interval(secs => $3)
               WHERE delivery_id = ANY($1::bigint[]) AND status = ANY($4::text[])""",
            ids,
            error,
            wait,
            store.QUEUED,
        )
        log.warning("route %s: %s channel %s failed (try %d: %s); again in %.1f s",
                    r["name"], ch["kind"], ch["name"], tries, error, wait)  # fmt: skip
        return False, False, wait

    async def _alerts(self, pool: asyncpg.Pool, alert_ids: list[str]) -> dict[str, dict[str, Any]]:
        rows = await pool.fetch(
            f"""SELECT {COLUMNS}, c.client_id, c.account_manager_id FROM alerts a
                LEFT JOIN "{self.schema}".contracts c ON c.contract_id = a.contract_id
                WHERE a.alert_id = ANY($1::text[])""",
            alert_ids,
        )
        return {r["alert_id"]: alert_json(r) for r in rows}


async def _routed_now(conn: asyncpg.Connection, route_id: str) -> asyncpg.Record | None:
    """The route's row if it is still active, held so until this transaction ends: a removal
    (which drops the route's queue in its own transaction) waits for what this one queues, or
    this one sees the route removed. Without it a step that read the route before its removal
    could queue a delivery after the queue was dropped, which nothing would ever send or drop."""
    return await conn.fetchrow(
        "SELECT * FROM alert_routes WHERE route_id = $1 AND active FOR NO KEY UPDATE", route_id
    )
