"""Channels, routes, account managers' own delivery and the delivery log in PostgreSQL: one
function per read or write. What leaves here for an answer is masked (`channel_json`)."""

from __future__ import annotations

import secrets
from datetime import time
from typing import Any, Final, Literal, TypeAlias

import asyncpg

from services.alerting import secrecy
from services.alerting.config import (
    AlertmanagerChannelIn,
    EmailChannelIn,
    MatchIn,
    RecipientIn,
    RouteIn,
    WebhookChannelIn,
)
from services.alerting.routing import Match, QuietHours, Schedule

Db: TypeAlias = asyncpg.Pool | asyncpg.Connection


class UnknownChannel(LookupError):
    """A route names a channel that does not exist (or was removed)."""


class NameTaken(ValueError):
    """A channel or route of that name exists (an add, unlike a put, replaces nothing)."""


def own_name(account_manager_id: str) -> str:
    """The name of an account manager's own channel and route (a `:` no admin name has)."""
    return f"own:{account_manager_id}"


# --- channels -------------------------------------------------------------------------------


def channel_json(r: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    """A channel as an answer shows it: URLs and the SMTP password masked; addresses shown."""
    kind = r["kind"]
    out: dict[str, Any] = {
        "channel_id": r["channel_id"],
        "name": r["name"],
        "kind": kind,
        "url": None if kind == "email" else secrecy.mask_url(r["target"]),
        "to": r["target"].split(",") if kind == "email" else None,
        "smtp_url": secrecy.mask_url(r["smtp_url"]) if r["smtp_url"] else None,
        "resend_s": r["resend_s"],
        "owner": r["owner"],
        "active": r["active"],
        "created_at": r["created_at"].isoformat(),
    }
    return out


Channel = EmailChannelIn | WebhookChannelIn | AlertmanagerChannelIn


def _target(ch: Channel) -> str:
    return ",".join(ch.to) if isinstance(ch, EmailChannelIn) else ch.url


async def upsert_channel(
    db: Db, ch: Channel, owner: str | None = None
) -> tuple[dict[str, Any], str | None]:
    """Creates the channel, or replaces the one of that name; returns it (masked) and, for a
    new webhook channel, its signing secret (shown this once)."""
    secret = "whsec_" + secrets.token_urlsafe(24) if ch.kind == "webhook" else None
    row = await db.fetchrow(
        """INSERT INTO alert_channels (channel_id, name, kind, target, smtp_url, signing_secret,
                                       resend_s, owner)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (name) DO UPDATE SET kind = EXCLUDED.kind, target = EXCLUDED.target,
               smtp_url = EXCLUDED.smtp_url, resend_s = EXCLUDED.resend_s, active = true,
               signing_secret = coalesce(alert_channels.signing_secret, EXCLUDED.signing_secret)
           RETURNING *, (xmax = 0) AS created""",
        "ch_" + secrets.token_hex(6),
        ch.name,
        ch.kind,
        _target(ch),
        ch.smtp_url if isinstance(ch, EmailChannelIn) else None,
        secret,
        ch.resend_s if isinstance(ch, AlertmanagerChannelIn) else 60,
        owner,
    )
    shown = row["signing_secret"] if row["created"] and ch.kind == "webhook" else None
    return channel_json(row), shown


async def channels(db: Db) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT * FROM alert_channels WHERE active ORDER BY created_at, name")
    return [channel_json(r) for r in rows]


_NAME_TAKEN: Final = {
    "channel": "SELECT 1 FROM alert_channels WHERE name = $1 AND active",
    "route": "SELECT 1 FROM alert_routes WHERE name = $1",  # names are unique, removed or not
}


async def name_taken(db: Db, kind: Literal["channel", "route"], name: str) -> bool:
    """Whether an active channel, or any stored route, has this name."""
    return bool(await db.fetchval(_NAME_TAKEN[kind], name))


async def _claim_name(
    conn: asyncpg.Connection, kind: Literal["channel", "route"], name: str
) -> None:
    """NameTaken if the name is taken; otherwise the name is this transaction's until it ends
    (two adds of one name at once: the second waits, then finds it taken)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"alert-{kind}:{name}")
    if await name_taken(conn, kind, name):
        raise NameTaken(name)


async def add_channel(db: Db, ch: Channel) -> tuple[dict[str, Any], str | None]:
    """A new channel, as `upsert_channel`; NameTaken if an active channel has its name."""
    async with _tx(db) as conn:
        await _claim_name(conn, "channel", ch.name)
        return await upsert_channel(conn, ch)


async def add_route(db: Db, route: RouteIn, schema: str) -> dict[str, Any]:
    """A new route, as `upsert_route`; NameTaken if a route has its name, UnknownChannel if
    its channel is not there."""
    async with _tx(db) as conn:
        await _claim_name(conn, "route", route.name)
        return await upsert_route(conn, route, schema)


async def remove_channel(db: Db, channel_id: str) -> bool:
    """Deactivates the channel and the routes to it; False when there is no such channel."""
    async with _tx(db) as conn:
        done = await conn.execute(
            "UPDATE alert_channels SET active = false WHERE channel_id = $1 AND active", channel_id
        )
        await conn.execute(
            "UPDATE alert_routes SET active = false WHERE channel_id = $1", channel_id
        )
        await _drop_queue(
            conn,
            "route_id IN (SELECT route_id FROM alert_routes WHERE channel_id = $1)",
            channel_id,
        )
    return str(done) != "UPDATE 0"


# A delivery still to make (the rest are done: delivered or dropped).
QUEUED: Final = ["pending", "failing"]
ROUTE_REMOVED: Final = "not sent: the route was removed"


async def _drop_queue(conn: asyncpg.Connection, where: str, arg: str) -> None:
    """What was still to deliver on removed routes: dropped (and so logged)."""
    await conn.execute(
        f"""UPDATE alert_deliveries SET status = 'dropped',
                last_error = coalesce(last_error || '; ', '') || $2
            WHERE status = ANY($3::text[]) AND {where}""",
        arg,
        ROUTE_REMOVED,
        QUEUED,
    )


async def channel(db: Db, channel_id: str) -> asyncpg.Record | None:
    """The whole channel, credentials included: for the deliverer only."""
    return await db.fetchrow("SELECT * FROM alert_channels WHERE channel_id = $1", channel_id)


# --- routes ---------------------------------------------------------------------------------


def _t(t: time | None) -> str | None:
    return None if t is None else t.isoformat(timespec="minutes" if not t.second else "seconds")


def route_json(r: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    quiet = None
    if r["quiet_start"] is not None:
        quiet = {
            "start": _t(r["quiet_start"]),
            "end": _t(r["quiet_end"]),
            "timezone": r["quiet_timezone"],
        }
    return {
        "route_id": r["route_id"],
        "name": r["name"],
        "channel": r["channel_name"],
        "channel_id": r["channel_id"],
        "match": {k: list(r[k]) for k in ("rules", "severities", "bases", "client_ids",
                                          "account_manager_ids")},
        "repeat_interval_s": r["repeat_interval_s"],
        "quiet_hours": quiet,
        "digest_at": _t(r["digest_at"]),
        "timezone": r["timezone"],
        "owner": r["owner"],
        "active": r["active"],
        "created_at": r["created_at"].isoformat(),
    }  # fmt: skip


def route_match(r: asyncpg.Record) -> Match:
    return Match(
        rules=frozenset(r["rules"]),
        severities=frozenset(r["severities"]),
        bases=frozenset(r["bases"]),
        client_ids=frozenset(r["client_ids"]),
        account_manager_ids=frozenset(r["account_manager_ids"]),
    )


def route_schedule(r: asyncpg.Record) -> Schedule:
    quiet = None
    if r["quiet_start"] is not None:
        quiet = QuietHours(start=r["quiet_start"], end=r["quiet_end"], timezone=r["quiet_timezone"])
    return Schedule(
        repeat_interval_s=r["repeat_interval_s"],
        quiet=quiet,
        digest_at=r["digest_at"],
        timezone=r["timezone"],
    )


_ROUTE_SELECT = """SELECT r.*, c.name AS channel_name FROM alert_routes r
                   JOIN alert_channels c USING (channel_id)"""


async def upsert_route(
    db: Db, route: RouteIn, schema: str, owner: str | None = None, active: bool = True
) -> dict[str, Any]:
    """Creates the route, or replaces the one of that name (keeping its place in the alerts:
    a new route carries the alerts raised from now on). UnknownChannel if its channel is not
    there."""
    async with _tx(db) as conn:
        channel_id = await conn.fetchval(
            "SELECT channel_id FROM alert_channels WHERE name = $1 AND active", route.channel
        )
        if channel_id is None:
            raise UnknownChannel(route.channel)
        m, q = route.match, route.quiet_hours
        route_id = await conn.fetchval(
            """INSERT INTO alert_routes (route_id, name, channel_id, projection_schema, rules,
                   severities, bases, client_ids, account_manager_ids, repeat_interval_s,
                   quiet_start, quiet_end, quiet_timezone, digest_at, timezone, owner, active,
                   cursor_seq)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                       $17, (SELECT coalesce(max(seq), 0) FROM alerts))
               ON CONFLICT (name) DO UPDATE SET channel_id = EXCLUDED.channel_id,
                   projection_schema = EXCLUDED.projection_schema, rules = EXCLUDED.rules,
                   severities = EXCLUDED.severities, bases = EXCLUDED.bases,
                   client_ids = EXCLUDED.client_ids,
                   account_manager_ids = EXCLUDED.account_manager_ids,
                   repeat_interval_s = EXCLUDED.repeat_interval_s,
                   quiet_start = EXCLUDED.quiet_start, quiet_end = EXCLUDED.quiet_end,
                   quiet_timezone = EXCLUDED.quiet_timezone, digest_at = EXCLUDED.digest_at,
                   timezone = EXCLUDED.timezone, owner = EXCLUDED.owner,
                   active = EXCLUDED.active
               RETURNING route_id""",
            "rt_" + secrets.token_hex(6),
            route.name,
            channel_id,
            schema,
            m.rules,
            m.severities,
            m.bases,
            m.client_ids,
            m.account_manager_ids,
            route.repeat_interval_s,
            q.start if q else None,
            q.end if q else None,
            q.timezone if q else "UTC",
            route.digest_at,
            route.timezone,
            owner,
            active,
        )
        row = await conn.fetchrow(f"{_ROUTE_SELECT} WHERE r.route_id = $1", route_id)
    return route_json(row)


async def routes(db: Db) -> list[dict[str, Any]]:
    rows = await db.fetch(f"{_ROUTE_SELECT} WHERE r.active ORDER BY r.created_at, r.name")
    return [route_json(r) for r in rows]


async def remove_route(db: Db, route_id: str) -> bool:
    async with _tx(db) as conn:
        done = await conn.execute(
            "UPDATE alert_routes SET active = false WHERE route_id = $1 AND active", route_id
        )
        await _drop_queue(conn, "route_id = $1", route_id)
    return str(done) != "UPDATE 0"


async def active_route_ids(db: Db, schema: str) -> set[str]:
    rows = await db.fetch(
        "SELECT route_id FROM alert_routes WHERE active AND projection_schema = $1", schema
    )
    return {r["route_id"] for r in rows}


async def route(db: Db, route_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(f"{_ROUTE_SELECT} WHERE r.route_id = $1", route_id)


# --- account managers' own delivery -----------------------------------------------------------


def recipient_json(r: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    return {
        "account_manager_id": r["account_manager_id"],
        "email": r["email"],
        "delivery": r["delivery"],
        "digest_at": _t(r["digest_at"]),
        "timezone": r["timezone"],
    }


async def recipient(db: Db, account_manager_id: str) -> dict[str, Any]:
    row = await db.fetchrow(
        "SELECT * FROM alert_recipients WHERE account_manager_id = $1", account_manager_id
    )
    if row is None:
        return recipient_json(
            {"account_manager_id": account_manager_id, "email": None, "delivery": "email",
             "digest_at": time(8, 0), "timezone": "UTC"}
        )  # fmt: skip
    return recipient_json(row)


async def set_recipient(
    db: Db, schema: str, account_manager_id: str, change: RecipientIn
) -> dict[str, Any]:
    """Records an account manager's address and choice, and makes their own route follow:
    their contracts' alerts to their address, each (the default) or in a daily digest."""
    async with _tx(db) as conn:
        row = await conn.fetchrow(
            """INSERT INTO alert_recipients (account_manager_id, email, delivery, digest_at,
                                             timezone)
               VALUES ($1, $2, coalesce($3, 'email'), coalesce($4, '08:00'::time),
                       coalesce($5, 'UTC'))
               ON CONFLICT (account_manager_id) DO UPDATE SET
                   email = coalesce($2, alert_recipients.email),
                   delivery = coalesce($3, alert_recipients.delivery),
                   digest_at = coalesce($4, alert_recipients.digest_at),
                   timezone = coalesce($5, alert_recipients.timezone), updated_at = now()
               RETURNING *""",
            account_manager_id,
            change.email,
            change.delivery,
            change.digest_at,
            change.timezone,
        )
        if row["email"] is not None:
            name = own_name(account_manager_id)
            await upsert_channel(
                conn, EmailChannelIn.model_construct(name=name, kind="email", to=[row["email"]],
                                                     smtp_url=None),
                owner=account_manager_id,
            )  # fmt: skip
            digest = row["delivery"] == "digest"
            await upsert_route(
                conn,
                RouteIn.model_construct(
                    name=name, channel=name, match=_own_match(account_manager_id),
                    repeat_interval_s=None, quiet_hours=None,
                    digest_at=row["digest_at"] if digest else None, timezone=row["timezone"],
                ),
                schema,
                owner=account_manager_id,
                active=row["delivery"] != "none",
            )  # fmt: skip
    return recipient_json(row)


def _own_match(account_manager_id: str) -> MatchIn:
    return MatchIn(account_manager_ids=[account_manager_id])


# --- the delivery log -----------------------------------------------------------------------


def delivery_json(r: asyncpg.Record) -> dict[str, Any]:
    def iso(k: str) -> str | None:
        return None if r[k] is None else r[k].isoformat()

    return {
        "delivery_id": r["delivery_id"],
        "route_id": r["route_id"],
        "route": r["route_name"],
        "channel": r["channel_name"],
        "channel_kind": r["kind"],
        "alert_id": r["alert_id"],
        "kind": r["kind_of_delivery"],
        "status": r["status"],
        "tries": r["tries"],
        "last_error": r["last_error"],
        "created_at": iso("created_at"),
        "due_at": iso("due_at"),
        "last_try_at": iso("last_try_at"),
        "next_try_at": iso("next_try_at"),
        "delivered_at": iso("delivered_at"),
    }


async def deliveries(
    db: Db, route_id: str | None, status: str | None, alert_id: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    """The delivery log, newest first."""
    rows = await db.fetch(
        """SELECT d.delivery_id, d.route_id, d.alert_id, d.kind AS kind_of_delivery, d.status,
                  d.tries, d.last_error, d.created_at, d.due_at, d.last_try_at, d.next_try_at,
                  d.delivered_at, r.name AS route_name, c.name AS channel_name, c.kind
           FROM alert_deliveries d JOIN alert_routes r USING (route_id)
           JOIN alert_channels c ON c.channel_id = r.channel_id
           WHERE ($1::text IS NULL OR d.route_id = $1) AND ($2::text IS NULL OR d.status = $2)
             AND ($3::text IS NULL OR d.alert_id = $3)
           ORDER BY d.delivery_id DESC LIMIT $4 OFFSET $5""",
        route_id,
        status,
        alert_id,
        limit,
        offset,
    )
    return [delivery_json(r) for r in rows]


class _tx:
    """A transaction on a connection taken from `db` (a pool) or on `db` itself."""

    def __init__(self, db: Db) -> None:
        self.db = db
        self.conn: asyncpg.Connection | None = None
        self.tr: Any = None
        self.acquired: Any = None

    async def __aenter__(self) -> asyncpg.Connection:
        if isinstance(self.db, asyncpg.Pool):
            self.acquired = self.db.acquire()
            self.conn = await self.acquired.__aenter__()
        else:
            self.conn = self.db
        self.tr = self.conn.transaction()
        await self.tr.__aenter__()
        return self.conn

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self.tr.__aexit__(*exc)
        finally:
            if self.acquired is not None:
                await self.acquired.__aexit__(*exc)
