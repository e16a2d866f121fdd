"""The `ledger` command: a thin shell over the services' functions."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Sequence

from events.schema import event_json_schemas
from services import db, kafka_admin, readiness
from services.settings import Settings, load_settings


def _schema(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    json.dump(event_json_schemas(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


def _db_migrate(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    applied = asyncio.run(db.migrate_dsn(settings().dsn))
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
    return p


_HANDLERS: dict[tuple[str, ...], Callable[[argparse.Namespace, Callable[[], Settings]], int]] = {
    ("schema",): _schema,
    ("db", "migrate"): _db_migrate,
    ("topics", "create"): _topics_create,
    ("wait",): _wait,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    key: tuple[str, ...] = (args.command,)
    sub = getattr(args, args.command, None) if args.command in ("db", "topics") else None
    if sub:
        key += (sub,)
    # Settings are built here, at start-up of the command, and only by commands that need them.
    return _HANDLERS[key](args, load_settings)


if __name__ == "__main__":
    raise SystemExit(main())
