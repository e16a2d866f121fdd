"""Imports run by the API process for the web app's Import page (admin only).

The uploaded file is kept in PostgreSQL (`imports`, migration 0010) with its stage, its
progress and, once done, its dry run and outcome, so that any API process answers how far an
import is and a reloaded page picks it up. The dry run and the import are the CLI's: the pure
planner and `imports.dryrun.DryRun`; the import hands the events to this process's own
submission gateway (the same path as POST /v1/events), stamped with the admin who committed.
Both run as tasks of the API process, yielding to its requests every few hundred events.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any, Final

import asyncpg
from pydantic_core import to_json

from events.messages import Submitter
from imports.dryrun import DryRun
from imports.mapping import ImportMapping, MappingError, load_mapping
from imports.problems import FileRefused, Problem
from imports.reading import Format, Lines, open_lines
from imports.source import check_columns, plan_file
from services.api.gateway.event_log import contract_events
from services.api.gateway.submissions import SubmissionGateway
from services.importer.run import run
from services.importer.sinks import OverGateway
from services.settings import Settings

log = logging.getLogger("ledger.api.imports")

PROGRESS_EVERY_S: Final = 0.5
YIELD_EVERY: Final = 200


class ImportRefused(ValueError):
    """The upload cannot be imported (its mapping, its header): (field, reason)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class NotChecked(Exception):
    """Only a checked import can be committed; this one is at another stage."""

    def __init__(self, stage: str) -> None:
        super().__init__(stage)
        self.stage = stage


def _problem(p: Problem) -> dict[str, Any]:
    return {"severity": p.severity, "line": p.line, "column": p.column, "reason": p.reason}


class ImportJobs:
    def __init__(self, pool: asyncpg.Pool, gateway: SubmissionGateway, settings: Settings) -> None:
        self.pool = pool
        self.gateway = gateway
        self.settings = settings
        self.tasks: set[asyncio.Task[None]] = set()

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def create(
        self, who: str, file_name: str, content: bytes, mapping_text: str, format: Format | None
    ) -> dict[str, Any]:
        """Stores the upload and starts its dry run; returns its state (`get`). An upload whose
        mapping or header cannot be read is stored `failed` at once, its error saying where and
        why."""
        error, found = _check(content, mapping_text, format)
        error = _text(error) if error is not None else None
        import_id = uuid.uuid4()
        async with self.pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO imports (import_id, created_by, file_name, format, mapping,
                                        content, stage, bytes_total, error)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
                import_id, who, file_name, found, mapping_text, content,
                "failed" if error else "checking", len(content), error,
            )  # fmt: skip
        if error is None:
            self._spawn(self._dry_run(import_id))
        state = await self.get(import_id)
        assert state is not None  # stored above; imports are never deleted
        return state

    async def get(self, import_id: uuid.UUID) -> dict[str, Any] | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                """SELECT import_id, created_by, created_at, updated_at, file_name, format, stage,
                          bytes_total, bytes_read, rows_read, dry_run::text, outcome::text, error
                   FROM imports WHERE import_id = $1""",
                import_id,
            )
        if row is None:
            return None
        out = dict(row)
        out["dry_run"] = json.loads(row["dry_run"]) if row["dry_run"] else None
        out["outcome"] = json.loads(row["outcome"]) if row["outcome"] else None
        return out

    async def commit(self, import_id: uuid.UUID, submitter: Submitter) -> dict[str, Any] | None:
        """Starts the import of a checked upload and returns its state (`get`); None when there
        is no such import, NotChecked when it is at another stage."""
        async with self.pool.acquire() as conn:
            started = await conn.fetchval(
                """UPDATE imports SET stage = 'importing', bytes_read = 0, rows_read = 0,
                                      updated_at = now()
                   WHERE import_id = $1 AND stage = 'checked' RETURNING true""",
                import_id,
            )
        if started:
            self._spawn(self._import(import_id, submitter))
        state = await self.get(import_id)
        if state is not None and not started:
            raise NotChecked(state["stage"])
        return state

    # -- the work ------------------------------------------------------------------------------

    async def _load(self, import_id: uuid.UUID) -> tuple[bytes, ImportMapping, Format]:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT content, mapping, format FROM imports WHERE import_id = $1", import_id
            )
        return bytes(row["content"]), _mapping(row["mapping"]), row["format"]

    async def _progress(self, import_id: uuid.UUID, lines: Lines) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                """UPDATE imports SET bytes_read = $2, rows_read = $3, updated_at = now()
                   WHERE import_id = $1""",
                import_id, lines.bytes_read, lines.line,
            )  # fmt: skip

    async def _finish(self, import_id: uuid.UUID, stage: str, column: str, value: Any) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                f"""UPDATE imports SET stage = $2, {column} = $3, updated_at = now()
                    WHERE import_id = $1""",
                import_id, stage, value,
            )  # fmt: skip

    async def _guarded(self, import_id: uuid.UUID, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("import %s failed", import_id)
            with contextlib.suppress(Exception):
                failure = _text(f"{type(exc).__name__}: {exc}")
                await self._finish(import_id, "failed", "error", failure)

    async def _dry_run(self, import_id: uuid.UUID) -> None:
        async def work() -> None:
            content, mapping, format = await self._load(import_id)
            opened = open_lines(io.BytesIO(content), format)
            dry = DryRun(Submitter(role="admin", principal="import"), datetime.now(UTC))
            day = _as_of(mapping)
            last = time.monotonic()
            s = self.settings
            for n, item in enumerate(plan_file(opened, mapping, day)):
                contract_id = dry.meets(item)
                if contract_id is not None:  # judged against what the log holds of it
                    dry.remember(
                        contract_id,
                        await contract_events(
                            s.kafka_bootstrap_servers, self.pool, s.projection_schema,
                            s.topics.events, contract_id,
                        ),
                    )  # fmt: skip
                dry.feed(item)
                if n % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                    if time.monotonic() - last > PROGRESS_EVERY_S:
                        await self._progress(import_id, opened.lines)
                        last = time.monotonic()
            await self._progress(import_id, opened.lines)
            report = {
                "as_of": day.isoformat(),
                "appended": dict(sorted(dry.accepted.items())),
                "duplicates": dry.duplicates,
                "errors": [_problem(p) for p in dry.errors],
                "refused": [_problem(p) for p in dry.refused],
                "warnings": [_problem(p) for p in dry.warnings],
                "alerts": dict(sorted(dry.alert_counts.items())),
                "portfolio": json.loads(to_json(dry.portfolio(day))),
            }
            await self._finish(import_id, "checked", "dry_run", _jsonb(report))

        await self._guarded(import_id, work)

    async def _import(self, import_id: uuid.UUID, submitter: Submitter) -> None:
        async def work() -> None:
            content, mapping, format = await self._load(import_id)
            opened = open_lines(io.BytesIO(content), format)
            items = plan_file(opened, mapping, _as_of(mapping))
            ticker = asyncio.ensure_future(self._tick(import_id, opened.lines))
            try:
                outcome = await run(items, OverGateway(self.gateway, submitter))
            finally:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
            await self._progress(import_id, opened.lines)
            report = {
                "appended": dict(sorted(outcome.accepted.items())),
                "total": sum(outcome.accepted.values()),
                "duplicates": sum(outcome.duplicates.values()),
                "errors": [_problem(p) for p in outcome.errors],
                "refused": [_problem(p) for p in outcome.refused],
                "warnings": len(outcome.warnings),
            }
            await self._finish(import_id, "imported", "outcome", _jsonb(report))

        await self._guarded(import_id, work)

    async def _tick(self, import_id: uuid.UUID, lines: Lines) -> None:
        while True:
            await asyncio.sleep(PROGRESS_EVERY_S)
            with contextlib.suppress(Exception):
                await self._progress(import_id, lines)


def _check(content: bytes, mapping_text: str, format: Format | None) -> tuple[str | None, str]:
    """(what stops the upload from being imported at all, else None; its format)."""
    try:
        mapping = _mapping(mapping_text)
        opened = open_lines(io.BytesIO(content), format)
        check_columns(opened, mapping)
    except ImportRefused as exc:
        return str(exc), format or "unknown"
    except FileRefused as exc:
        p = exc.problem
        where = f"line {p.line}" + (f", column {p.column}" if p.column else "")
        return f"{where}: {p.reason}", format or "unknown"
    return None, opened.format


def _text(s: str) -> str:
    """`s` as PostgreSQL text holds it: a NUL (from a file's cells) as U+FFFD."""
    return s.replace("\x00", "\ufffd")


def _jsonb(report: dict[str, Any]) -> str:
    # A file's cells quoted in a reason may hold NUL, which PostgreSQL's jsonb refuses.
    return json.dumps(report).replace("\\u0000", "\\ufffd")


def _mapping(text: str) -> ImportMapping:
    try:
        return load_mapping(text)
    except MappingError as exc:
        raise ImportRefused("mapping", str(exc)) from exc


def _as_of(mapping: ImportMapping) -> date:
    return mapping.as_of or datetime.now(UTC).date()


__all__ = ["ImportJobs", "ImportRefused"]
