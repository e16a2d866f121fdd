"""A YAML file of channels, routes and account managers' addresses, for deployments that keep
their configuration in git: `ledger alerts routes load FILE`, or LEDGER_ALERT_ROUTES_FILE read
by `ledger serve alerts` at its start. Everything is upserted by name, so loading the same file
again changes nothing; `${NAME}` in a value is the environment variable NAME (a webhook URL or
an SMTP password need not be in the file)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from services.alerting import store
from services.alerting.config import SeedFile, expand_env


class SeedError(ValueError):
    """The file is not a valid routes file: each problem with its field."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{f}: {r}" for f, r in problems))


def parse(text: str, env: dict[str, str] | None = None) -> SeedFile:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SeedError([("(file)", f"not YAML: {exc}")]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SeedError([("(file)", "must be a mapping with channels, routes, recipients")])
    try:
        expanded = expand_env(raw, env)
    except KeyError as exc:
        field, _, reason = str(exc.args[0]).partition(": ")
        raise SeedError([(field, reason)]) from None
    try:
        parsed = SeedFile.model_validate(expanded)
    except ValidationError as exc:
        # The reason only: pydantic's own text would repeat the value (a secret, maybe).
        raise SeedError(
            [(".".join(str(p) for p in e["loc"]) or "(file)",
              str(e["msg"]).removeprefix("Value error, ")) for e in exc.errors()]
        ) from None  # fmt: skip
    names = {c.name for c in parsed.channels}
    unknown = [(f"routes.{i}.channel", f"no channel named {r.channel} in the file")
               for i, r in enumerate(parsed.routes) if r.channel not in names]  # fmt: skip
    if unknown:
        raise SeedError(unknown)
    return parsed


def read(path: Path) -> SeedFile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SeedError([("(file)", f"cannot read {path}: {exc.strerror}")]) from None
    return parse(text)


async def apply(db: store.Db, seed: SeedFile, schema: str) -> str:
    """Upserts the file's channels, then its routes, then its recipients; says how many."""
    for ch in seed.channels:
        await store.upsert_channel(db, ch)
    for route in seed.routes:
        await store.upsert_route(db, route, schema)
    for rec in seed.recipients:
        await store.set_recipient(db, schema, rec.account_manager_id, rec)
    return (
        f"{len(seed.channels)} channel(s), {len(seed.routes)} route(s), "
        f"{len(seed.recipients)} account manager(s)"
    )
