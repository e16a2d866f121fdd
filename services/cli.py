"""The `ledger` command: a thin shell over the services' functions."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from events.schema import event_json_schemas
from services import db, kafka_admin, readiness
from services.settings import Settings, load_settings


def _schema(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    json.dump(event_json_schemas(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


def _db_migrate(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from services.projector.commands import ensure_schema

    s = settings()
    applied = asyncio.run(db.migrate_dsn(s.dsn))
    asyncio.run(ensure_schema(s))
    print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))
    return 0


def _topics_create(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    s = settings()
    created = asyncio.run(kafka_admin.ensure_topics(s.kafka_bootstrap_servers, s.topics))
    print(f"created {len(created)} topic(s)" + (f": {', '.join(created)}" if created else ""))
    return 0


def _wait(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    s = settings()

    async def run() -> None:
        if args.what in ("kafka", "all"):
            await readiness.wait_until(
                lambda: readiness.kafka_answers(s.kafka_bootstrap_servers), "Kafka", args.timeout
            )
        if args.what in ("postgres", "all"):
            await readiness.wait_until(
                lambda: readiness.postgres_answers(s.dsn), "PostgreSQL", args.timeout
            )

    try:
        asyncio.run(run())
    except TimeoutError as e:
        print(e, file=sys.stderr)
        return 1
    return 0


def _serve(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from services import serve

    processes = {
        "api": serve.serve_api,
        "writer": serve.serve_writer,
        "projector": serve.serve_projector,
        "risk": serve.serve_risk,
        "webhooks": serve.serve_webhooks,
    }
    processes[args.process](settings())
    return 0


def _projections_rebuild(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from services.projector import commands

    if args.join:
        from services.serve import until_signalled

        code: list[int] = []

        async def join(stop: asyncio.Event) -> None:
            code.append(await commands.join_rebuild(settings(), stop))

        until_signalled(join)
        return code[0] if code else 0
    return asyncio.run(commands.rebuild(settings()))


def _projections_status(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from services.projector import commands

    return asyncio.run(commands.status(settings()))


def _token_create(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from services import tokens

    async def run() -> tuple[str, str]:
        conn = await asyncpg.connect(settings().dsn)
        try:
            return await tokens.create_token(conn, args.role, args.account_manager, expires_in)
        finally:
            await conn.close()

    try:
        expires_in = tokens.parse_duration(args.expires_in) if args.expires_in else None
        token_id, token = asyncio.run(run())
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    lasting = f", expires in {args.expires_in}" if expires_in else ""
    print(f"token {token_id} ({args.role}{lasting}) created; it is shown once:", file=sys.stderr)
    print(token)
    return 0


def _token_list(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from services import tokens

    async def run() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(settings().dsn)
        try:
            return await tokens.list_tokens(conn)
        finally:
            await conn.close()

    print(tokens.LIST_HEADER)
    for t in asyncio.run(run()):
        print(tokens.describe(t))
    return 0


def _token_revoke(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from services import tokens

    async def run() -> bool:
        conn = await asyncpg.connect(settings().dsn)
        try:
            return await tokens.revoke_token(conn, args.secret)
        finally:
            await conn.close()

    if asyncio.run(run()):
        print("revoked")
        return 0
    print("no live token matched", file=sys.stderr)
    return 1


def _token_verify(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from services import tokens

    async def run() -> bool:
        conn = await asyncpg.connect(settings().dsn)
        try:
            return await tokens.lookup(conn, args.secret) is not None
        finally:
            await conn.close()

    return 0 if asyncio.run(run()) else 1


def _submit(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from services import client

    token = args.token or client.token_from_env()
    if not token:
        print("no token: pass --token, set LEDGER_TOKEN, or run `make up`", file=sys.stderr)
        return 2
    if args.file == "-":
        events = client.read_events(sys.stdin)
    else:
        with open(args.file, encoding="utf-8") as f:
            events = client.read_events(f)
    return client.submit(events, args.api_url or settings().local_api_url, token)


def _with_conn(settings: Callable[[], Settings], fn: Callable[[asyncpg.Connection], Any]) -> Any:
    async def run() -> Any:
        conn = await asyncpg.connect(settings().dsn)
        try:
            return await fn(conn)
        finally:
            await conn.close()

    return asyncio.run(run())


def _webhooks_add(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from services import webhooks

    wid, secret = _with_conn(settings, lambda c: webhooks.add(c, args.url, args.min_severity))
    print(f"webhook {wid} -> {args.url} (alerts of severity {args.min_severity} and above)")
    print(f"signing secret, shown once: {secret}")
    return 0


def _webhooks_status(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from services import webhooks

    rows = _with_conn(settings, webhooks.status)
    if not rows:
        print("no webhooks")
    for r in rows:
        state = r["last_status"] or "idle"
        line = (
            f"{r['webhook_id']}  {r['url']}  >= {r['min_severity']}  {state}  "
            f"delivered {r['delivered']}  pending {r['pending']}"
        )
        if r["last_error"]:
            line += f"  last error ({r['attempts']} attempts): {r['last_error']}"
        if not r["active"]:
            line += "  [removed]"
        print(line)
    return 0


def _webhooks_remove(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    done = _with_conn(
        settings,
        lambda c: c.execute("UPDATE webhooks SET active = false WHERE webhook_id = $1", args.id),
    )
    print("removed" if done != "UPDATE 0" else "no such webhook")
    return 0 if done != "UPDATE 0" else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ledger", description="Markup Ledger command line")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("schema", help="print the JSON Schema of every event, keyed by type")

    dbp = sub.add_parser("db", help="PostgreSQL schema").add_subparsers(dest="db", required=True)
    dbp.add_parser("migrate", help="apply the migrations not yet applied (idempotent)")

    tp = sub.add_parser("topics", help="Kafka topics").add_subparsers(dest="topics", required=True)
    tp.add_parser("create", help="create the ledger's topics that are missing (idempotent)")

    w = sub.add_parser("wait", help="wait until Kafka and/or PostgreSQL answer")
    w.add_argument("what", choices=["kafka", "postgres", "all"])
    w.add_argument("--timeout", type=float, default=120.0)
    sv = sub.add_parser("serve", help="run a service process in the foreground")
    sv.add_argument("process", choices=["api", "writer", "projector", "risk", "webhooks"])

    pj = sub.add_parser("projections", help="the margin read models in PostgreSQL").add_subparsers(
        dest="projections", required=True
    )
    rb = pj.add_parser("rebuild", help="replay the events topic into fresh tables and swap them in")
    rb.add_argument(
        "--join",
        action="store_true",
        help="be one more member of the rebuild under way (one process; run one per core)",
    )
    pj.add_parser("status", help="per partition: the offset applied and the lag")

    tk = sub.add_parser("token", help="API bearer tokens").add_subparsers(
        dest="token", required=True
    )
    tc = tk.add_parser("create", help="create a token; prints it once, alone on stdout")
    tc.add_argument("--role", required=True, choices=["account_manager", "finance", "admin"])
    tc.add_argument("--account-manager", help="the account manager's id (role account_manager)")
    tc.add_argument(
        "--expires-in", help="refuse the token after this long: 90d, 12h, 30m, 2w (default never)"
    )
    tk.add_parser("list", help="every token: role, account manager, created, expiry, revoked")
    tr = tk.add_parser("revoke", help="revoke a token, by its id or the token itself")
    tr.add_argument("secret", metavar="TOKEN_OR_ID")
    tv = tk.add_parser("verify", help="exit 0 when the token is live")
    tv.add_argument("secret", metavar="TOKEN")

    wh = sub.add_parser("webhooks", help="alert receivers").add_subparsers(
        dest="webhooks", required=True
    )
    wa = wh.add_parser("add", help="register a receiver; prints its signing secret once")
    wa.add_argument("url")
    wa.add_argument("--min-severity", default="high", choices=["low", "medium", "high", "critical"])
    wh.add_parser("status", help="delivery status of every receiver")
    wr = wh.add_parser("remove", help="stop delivering to a receiver")
    wr.add_argument("id")

    sb = sub.add_parser("submit", help="post events (one, a list, or JSON lines) to the API")
    sb.add_argument("file", help="a JSON file, or - for standard input")
    sb.add_argument(
        "--api-url",
        default=os.environ.get("LEDGER_API_URL"),
        help="default: $LEDGER_API_URL, else the local API on LEDGER_API_PORT",
    )
    sb.add_argument("--token", help="bearer token (default: $LEDGER_TOKEN, else .admin-token)")
    return p


_HANDLERS: dict[tuple[str, ...], Callable[[argparse.Namespace, Callable[[], Settings]], int]] = {
    ("schema",): _schema,
    ("db", "migrate"): _db_migrate,
    ("topics", "create"): _topics_create,
    ("wait",): _wait,
    ("serve",): _serve,
    ("token", "create"): _token_create,
    ("token", "revoke"): _token_revoke,
    ("token", "list"): _token_list,
    ("token", "verify"): _token_verify,
    ("submit",): _submit,
    ("projections", "rebuild"): _projections_rebuild,
    ("webhooks", "add"): _webhooks_add,
    ("webhooks", "status"): _webhooks_status,
    ("webhooks", "remove"): _webhooks_remove,
    ("projections", "status"): _projections_status,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    key: tuple[str, ...] = (args.command,)
    sub = (
        getattr(args, args.command, None)
        if args.command in ("db", "topics", "token", "projections", "webhooks")
        else None
    )
    if sub:
        key += (sub,)
    # Settings are built here, at start-up of the command, and only by commands that need them.
    return _HANDLERS[key](args, load_settings)


if __name__ == "__main__":
    raise SystemExit(main())
