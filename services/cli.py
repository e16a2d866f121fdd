# Long: every `ledger` subcommand's parser and thin handler, in one argparse tree.
"""The `ledger` command: a thin shell over the services' functions."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, get_args

import asyncpg

from events.alerts import Severity
from events.messages import Role
from events.schema import event_json_schemas
from imports.reading import FORMATS
from services import db, kafka_admin, readiness
from services.db import connection
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
    from events.topics import STATE_TOPIC_CONFIG, min_insync_replicas
    from services.risk.names import changelog_topic

    async def run() -> list[str]:
        created = await kafka_admin.ensure_topics(s.kafka_bootstrap_servers, s.topics)
        # Faust sets its changelog's configuration only when it creates the topic.
        changelog = {
            changelog_topic(s.topic_prefix): {
                **STATE_TOPIC_CONFIG,
                "min.insync.replicas": str(min_insync_replicas(s.kafka_replication_factor)),
            }
        }
        await kafka_admin.align_configs(s.kafka_bootstrap_servers, changelog)
        return created

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    created = asyncio.run(run())
    print(f"created {len(created)} topic(s)" + (f": {', '.join(created)}" if created else ""))
    return 0


def _k8s_kafka(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from services import k8s_kafka

    stale = []
    for name, text in k8s_kafka.files().items():
        path = Path(args.out_dir) / name
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(str(path))
        if not args.check:
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print("not what events/topics.py makes: " + ", ".join(stale), file=sys.stderr)
        return 1
    print(("wrote " if stale else "up to date: ") + ", ".join(stale or k8s_kafka.FILES))
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
        if args.what == "migrations":
            await readiness.wait_until(
                lambda: readiness.migrated(s.dsn),
                "PostgreSQL with this version's migrations",
                args.timeout,
            )

    try:
        asyncio.run(run())
    except TimeoutError as e:
        print(e, file=sys.stderr)
        return 1
    return 0


PROCESSES = ("api", "writer", "projector", "risk", "webhooks", "alerts")


def _serve(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from services import serve

    getattr(serve, f"serve_{args.process}")(settings())
    return 0


def _projections_rebuild(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from services.projector import commands

    if args.join:
        from services.serve import until_signalled

        code: list[int] = []

        async def join(stop: asyncio.Event) -> None:
            code.append(await commands.join_rebuild(settings(), stop))

        until_signalled(join, settings().log_format)
        return code[0] if code else 0
    return asyncio.run(commands.rebuild(settings()))


def _projections_status(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from services.projector import commands

    return asyncio.run(commands.status(settings()))


def _risk_rejudge(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from projections.risk.rules import RULES, TIMER_RULES
    from services.risk.rejudge import rejudge

    known = {*RULES, *TIMER_RULES}
    unknown = sorted(set(args.rule) - known)
    if unknown:
        print(f"rule: {', '.join(unknown)} is not a rule (rules: {', '.join(sorted(known))})",
              file=sys.stderr)  # fmt: skip
        return 2
    rules = frozenset(args.rule) if args.rule else None
    asyncio.run(rejudge(settings(), args.since, rules, args.dry_run))
    return 0


def _risk_rebuild(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from services.risk.rebuild import rebuild

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    asyncio.run(rebuild(settings()))
    return 0


def _with_conn(settings: Callable[[], Settings], fn: Callable[[asyncpg.Connection], Any]) -> Any:
    async def run() -> Any:
        async with connection(settings().dsn) as conn:
            return await fn(conn)

    return asyncio.run(run())


def _token_create(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from services import tokens

    try:
        # `--expires-in ''` is a mistake, not "never": only an absent option means never.
        given = args.expires_in is not None
        expires_in = tokens.parse_duration(args.expires_in) if given else None
        token_id, token = _with_conn(
            settings,
            lambda c: tokens.create_token(c, args.role, args.account_manager, expires_in),
        )
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    lasting = f", expires in {args.expires_in}" if expires_in else ""
    print(f"token {token_id} ({args.role}{lasting}) created; it is shown once:", file=sys.stderr)
    print(token)
    return 0


def _token_list(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from services import tokens

    print(tokens.LIST_HEADER)
    for t in _with_conn(settings, tokens.list_tokens):
        print(tokens.describe(t))
    return 0


def _token_revoke(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from services import tokens

    if _with_conn(settings, lambda c: tokens.revoke_token(c, args.secret)):
        print("revoked")
        return 0
    print("no live token matched", file=sys.stderr)
    return 1


def _token_verify(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from services import tokens

    return 0 if _with_conn(settings, lambda c: tokens.lookup(c, args.secret)) is not None else 1


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


def _webhooks_add(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from services import webhooks

    try:
        url = webhooks.receiver_url(args.url)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    wid, secret = _with_conn(settings, lambda c: webhooks.add(c, url, args.min_severity))
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
    from services import webhooks

    removed = _with_conn(settings, lambda c: webhooks.remove(c, args.id))
    print("removed" if removed else "no such webhook")
    return 0 if removed else 1


def _import_placements(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from pathlib import Path

    from imports.mapping import MappingError
    from imports.problems import FileRefused
    from services import client
    from services.importer import commands as imp
    from services.importer.sinks import ApiPast, ApiSink, GatewaySink, Sink, SinkRefused

    try:
        mapping = imp.read_mapping(args.mapping)
    except (MappingError, OSError) as exc:
        print(f"nothing imported: {exc}", file=sys.stderr)
        return 2
    opts = imp.Options(
        Path(args.file),
        mapping,
        args.format,
        imp.as_of(args.as_of, mapping),
        show_progress=not args.no_progress,
        lanes=args.lanes,
        batch=args.batch,
    )
    try:
        if args.dry_run:
            # With a token, judged against what the log already holds of each contract.
            token = args.token or client.token_from_env()
            past = ApiPast(args.api_url or settings().local_api_url, token) if token else None
            try:
                dry, portfolio = imp.dry_run(opts, past)
            finally:
                if past is not None:
                    past.close()
            if args.json:
                sys.stdout.buffer.write(imp.dry_run_json(dry, portfolio) + b"\n")
            else:
                imp.print_dry_run(dry, portfolio, past is not None, sys.stdout)
            if args.report:
                imp.write_report(Path(args.report), dry.errors + dry.refused + dry.warnings)
            return 0 if not (dry.errors or dry.refused) else 1
        via = args.via
        if via == "auto":
            via = "gateway" if _is_json_lines(opts.file) else "api"
        sink: Sink
        if via == "api":
            token = args.token or client.token_from_env()
            if not token:
                print("no token: pass --token, set LEDGER_TOKEN, or run `make up`", file=sys.stderr)
                return 2
            sink = ApiSink(args.api_url or settings().local_api_url, token)
        else:
            sink = GatewaySink(settings())
        outcome, _ = imp.commit(opts, sink)
    except KeyboardInterrupt:
        # What was appended stays; its ids make a rerun skip it and append the rest.
        print("import stopped: run the same command again to finish it", file=sys.stderr)
        return 130
    except FileRefused as exc:
        return imp.refused_file(exc)
    except SinkRefused as exc:
        print(f"import stopped: {exc}", file=sys.stderr)
        return 2
    imp.print_outcome(outcome, sys.stdout)
    if args.report:
        imp.write_report(Path(args.report), outcome.errors + outcome.refused + outcome.warnings)
    return 0 if outcome.clean() else 1


def _is_json_lines(path: Any) -> bool:
    with open(path, "rb") as f:
        return f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


def _export_events(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from datetime import UTC, datetime
    from pathlib import Path

    from services.importer.export import ExportFilter, export

    s = settings()
    keep = ExportFilter(frozenset(args.contract or ()), args.client, args.since, args.until)
    out_path = Path(args.out)
    manifest_path = Path(args.manifest or f"{args.out}.manifest.json")
    with out_path.open("wb") as out:
        manifest = asyncio.run(export(s.kafka_bootstrap_servers, s.topics.events, out, keep))
    doc = manifest.as_json(datetime.now(UTC))
    manifest_path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"{doc['events']:,} events to {out_path}; manifest {manifest_path}", file=sys.stderr)
    return 0


def _alerts_routes_load(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from pathlib import Path

    from services.alerting import seed

    try:
        parsed = seed.read(Path(args.file))
    except seed.SeedError as exc:
        for field, reason in exc.problems:
            print(f"{args.file}: {field}: {reason}", file=sys.stderr)
        return 2
    s = settings()
    print(_with_conn(settings, lambda c: seed.apply(c, parsed, s.projection_schema)))
    return 0


def _alerts_routes_list(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from services.alerting import store

    async def both(c: asyncpg.Connection) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return await store.channels(c), await store.routes(c)

    chans, routes = _with_conn(settings, both)
    for ch in chans:
        where = ch["url"] or ", ".join(ch["to"] or [])
        print(f"channel {ch['name']}  {ch['kind']}  {where}")
    for r in routes:
        m = {k: v for k, v in r["match"].items() if v}
        print(f"route {r['name']} -> {r['channel']}  match {m or 'everything'}")
    return 0


def _alerts_deliveries(args: argparse.Namespace, settings: Callable[[], Settings]) -> int:
    from services.alerting import store

    rows = _with_conn(settings, lambda c: store.deliveries(c, None, None, None, args.limit, 0))
    for d in rows:
        print(f"{d['created_at']}  {d['route']} -> {d['channel']} ({d['channel_kind']})  "
              f"{d['kind']} {d['alert_id']}  {d['status']} after {d['tries']} tries"
              + (f"  last error: {d['last_error']}" if d["last_error"] else ""))  # fmt: skip
    return 0


Handler = Callable[[argparse.Namespace, Callable[[], Settings]], int]


def build_parser() -> argparse.ArgumentParser:
    """The parser; each command's parser names its handler (`handler`), which `main` calls."""
    p = argparse.ArgumentParser(prog="ledger", description="Markup Ledger command line")
    sub = p.add_subparsers(dest="command", required=True)

    def command(
        group: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        handler: Handler,
        help: str,
    ) -> argparse.ArgumentParser:
        parser = group.add_parser(name, help=help)
        parser.set_defaults(handler=handler)
        return parser

    def commands(name: str, help: str) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        return sub.add_parser(name, help=help).add_subparsers(dest=name, required=True)

    command(sub, "schema", _schema, "print the JSON Schema of every event, keyed by type")

    dbp = commands("db", "PostgreSQL schema")
    command(dbp, "migrate", _db_migrate, "apply the migrations not yet applied (idempotent)")

    tp = commands("topics", "Kafka topics")
    command(
        tp, "create", _topics_create, "create the ledger's topics that are missing (idempotent)"
    )

    k8s = commands("k8s", "the Kubernetes deployment (deploy/k8s)")
    kk = command(
        k8s,
        "kafka",
        _k8s_kafka,
        "write the KafkaTopic and KafkaUser resources made from the topic definitions",
    )
    kk.add_argument("--out-dir", default=os.path.join("deploy", "k8s", "base"))
    kk.add_argument("--check", action="store_true", help="write nothing; exit 1 if they differ")

    w = command(
        sub,
        "wait",
        _wait,
        "wait until Kafka and/or PostgreSQL answer, or until `db migrate` has run (migrations)",
    )
    w.add_argument("what", choices=["kafka", "postgres", "all", "migrations"])
    w.add_argument("--timeout", type=float, default=120.0)
    sv = command(sub, "serve", _serve, "run a service process in the foreground")
    sv.add_argument("process", choices=PROCESSES)

    pj = commands("projections", "the margin read models in PostgreSQL")
    rb = command(
        pj,
        "rebuild",
        _projections_rebuild,
        "replay the events topic into fresh tables and swap them in",
    )
    rb.add_argument(
        "--join",
        action="store_true",
        help="be one more member of the rebuild under way (one process; run one per core)",
    )
    command(pj, "status", _projections_status, "per partition: the offset applied and the lag")

    rk = commands("risk", "the contract-risk rules")
    rj = command(
        rk,
        "rejudge",
        _risk_rejudge,
        "raise the alerts of the events logged since a day that the rules' releases held back",
    )
    rj.add_argument(
        "--since",
        required=True,
        type=date.fromisoformat,
        help="YYYY-MM-DD: events logged on or after it",
    )
    rj.add_argument("--rule", action="append", default=[], help="only this rule (repeatable)")
    rj.add_argument(
        "--dry-run", action="store_true", help="store nothing; count what it would raise"
    )

    command(
        rk,
        "rebuild",
        _risk_rebuild,
        "judge the whole log in bulk into a new table and group beside the live agents, "
        "then swap it in (the agents restart into it)",
    )

    tk = commands("token", "API bearer tokens")
    tc = command(tk, "create", _token_create, "create a token; prints it once, alone on stdout")
    tc.add_argument("--role", required=True, choices=get_args(Role))
    tc.add_argument("--account-manager", help="the account manager's id (role account_manager)")
    tc.add_argument(
        "--expires-in", help="refuse the token after this long: 90d, 12h, 30m, 2w (default never)"
    )
    command(tk, "list", _token_list, "every token: role, account manager, created, expiry, revoked")
    tr = command(tk, "revoke", _token_revoke, "revoke a token, by its id or the token itself")
    tr.add_argument("secret", metavar="TOKEN_OR_ID")
    tv = command(tk, "verify", _token_verify, "exit 0 when the token is live")
    tv.add_argument("secret", metavar="TOKEN")

    wh = commands("webhooks", "alert receivers")
    wa = command(wh, "add", _webhooks_add, "register a receiver; prints its signing secret once")
    wa.add_argument("url")
    # From the least severe up.
    wa.add_argument("--min-severity", default="high", choices=get_args(Severity)[::-1])
    command(wh, "status", _webhooks_status, "delivery status of every receiver")
    wr = command(wh, "remove", _webhooks_remove, "stop delivering to a receiver")
    wr.add_argument("id")

    al = commands("alerts", "alert routing: channels, routes, deliveries")
    alr = command(al, "routes", _alerts_routes_list, "list channels (masked) and routes")
    alr_sub = alr.add_subparsers(dest="routes_command")
    ld = alr_sub.add_parser("load", help="upsert the channels, routes and addresses of a YAML file")
    ld.set_defaults(handler=_alerts_routes_load)
    ld.add_argument("file")
    ad = command(al, "deliveries", _alerts_deliveries, "the latest deliveries, newest first")
    ad.add_argument("--limit", type=int, default=50)

    sb = command(sub, "submit", _submit, "post events (one, a list, or JSON lines) to the API")
    sb.add_argument("file", help="a JSON file, or - for standard input")
    sb.add_argument(
        "--api-url",
        default=os.environ.get("LEDGER_API_URL"),
        help="default: $LEDGER_API_URL, else the local API on LEDGER_API_PORT",
    )
    sb.add_argument("--token", help="bearer token (default: $LEDGER_TOKEN, else .admin-token)")
    ip = commands("import", "bring an agency's placements (or an export of events) in")
    pl = command(
        ip,
        "placements",
        _import_placements,
        "import a Bullhorn placement export, the generic placements CSV, a timesheet CSV "
        "of hours worked or JSON lines of events (docs/import.md)",
    )
    pl.add_argument("file")
    pl.add_argument("--mapping", help="the mapping file (YAML): clients, terms, managers")
    pl.add_argument("--format", choices=FORMATS, help="default: told from the file's header")
    pl.add_argument("--dry-run", action="store_true", help="judge and report; append nothing")
    pl.add_argument("--json", action="store_true", help="the dry run's report as JSON")
    pl.add_argument(
        "--as-of",
        type=date.fromisoformat,
        help="no event's time passes this date (default: the mapping's as_of, else today)",
    )
    pl.add_argument(
        "--via",
        choices=["auto", "api", "gateway"],
        default="auto",
        help="api: POST /v1/events with a token; gateway: the API's submission gateway in "
        "this process (keeps an export's stamps); auto: gateway for JSON lines, else api",
    )
    pl.add_argument("--api-url", default=os.environ.get("LEDGER_API_URL"))
    pl.add_argument("--token", help="bearer token (default: $LEDGER_TOKEN, else .admin-token)")
    pl.add_argument("--report", help="write every refusal and warning to this CSV file")
    pl.add_argument("--no-progress", action="store_true", help="no progress bar")
    pl.add_argument(
        "--lanes", type=int, default=4, help="batches in flight at once (of different contracts)"
    )
    pl.add_argument(
        "--batch",
        type=int,
        default=500,
        choices=range(1, 501),
        metavar="1..500",
        help="events a request (POST /v1/events takes at most 500)",
    )

    xp = commands("export", "take the log out")
    xe = command(xp, "events", _export_events, "the events as JSON lines, with a manifest")
    xe.add_argument("--out", required=True, help="the JSON lines file to write")
    xe.add_argument("--manifest", help="default: OUT.manifest.json")
    xe.add_argument("--contract", action="append", help="only this contract (repeatable)")
    xe.add_argument("--client", help="only the contracts of this client id")
    xe.add_argument("--since", type=date.fromisoformat, help="events on or after (occurred_at)")
    xe.add_argument("--until", type=date.fromisoformat, help="events on or before")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    # Settings are built here, at start-up of the command, and only by commands that need them.
    return handler(args, load_settings)


if __name__ == "__main__":
    raise SystemExit(main())
