"""The read models in PostgreSQL: creating them, loading them back, and writing a batch.

A batch is written in ONE transaction together with the projector's position, so a crash
loses nothing and a redelivered batch changes nothing. Bulk rows go in with COPY (an order of
magnitude faster than row-by-row statements); the upserted entity rows go through a temporary
table and one merge that keeps the higher stream version.

COPY is fed in PostgreSQL's text format, built here: asyncpg's binary COPY encodes each numeric
through `Decimal.as_tuple()`, ~2 µs a value, and a batch holds hundreds of thousands of them,
all on the projector's one Python thread. `str(Decimal)` is exact and ~10 times cheaper,
and PostgreSQL parses it on its own core.

Every batch transaction takes a shared advisory lock; `swap` takes it exclusively to rename a
rebuilt schema into place, so no batch ever straddles a swap, and a projector that finds the
generation changed under it reloads from the new tables.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable
from importlib import resources
from operator import attrgetter
from typing import Any

import asyncpg

from projections.read_model import (
    AssignmentRow,
    Changes,
    ContractRow,
    ImpactRow,
    OpenItem,
    RateRow,
    ReadModel,
    TermsRow,
)
from services import progress

LIVE = "proj"


def next_of(live: str) -> str:
    return f"{live}_next"


def _swap_lock(live: str) -> int:
    """An advisory lock id of this set of read models (one per live schema name)."""
    return int.from_bytes(hashlib.sha256(live.encode()).digest()[:4], "big")


CONTRACT_COLUMNS = [f.name for f in dataclasses.fields(ContractRow)]
ASSIGNMENT_COLUMNS = [f.name for f in dataclasses.fields(AssignmentRow)]
RATE_COLUMNS = [f.name for f in dataclasses.fields(RateRow)]
OPEN_ITEM_COLUMNS = [f.name for f in dataclasses.fields(OpenItem)]
TERMS_COLUMNS = [f.name for f in dataclasses.fields(TermsRow)]
IMPACT_COLUMNS = [f.name for f in dataclasses.fields(ImpactRow)]

# A row's fields as a tuple, read in C: dataclasses.astuple recurses and deep-copies every value,
# which for rows of immutable values (str, int, Decimal, date) only costs time.
_contract_tuple = attrgetter(*CONTRACT_COLUMNS)
_assignment_tuple = attrgetter(*ASSIGNMENT_COLUMNS)
_terms_tuple = attrgetter(*TERMS_COLUMNS)
_rate_tuple = attrgetter(*RATE_COLUMNS)
_open_item_tuple = attrgetter(*OPEN_ITEM_COLUMNS)
_impact_tuple = attrgetter(*IMPACT_COLUMNS)


def _template() -> str:
    return (resources.files("projections") / "schema.sql").read_text()


def schema_sql(schema: str) -> str:
    return _template().replace("{schema}", schema)


def layout() -> str:
    """A fingerprint of the tables' layout, kept in `meta`: tables of another layout cannot be
    written by this code, and are rebuilt from the log instead."""
    return hashlib.sha256(_template().encode()).hexdigest()[:16]


async def _create(
    conn: asyncpg.Connection, schema: str, generation: int, events_topic: str
) -> None:
    await conn.execute(schema_sql(schema))
    await conn.execute(
        f"INSERT INTO {schema}.meta (generation, events_topic, layout) VALUES ($1, $2, $3)",
        generation,
        events_topic,
        layout(),
    )


async def ensure_live_schema(conn: asyncpg.Connection, live: str, events_topic: str) -> bool:
    """Creates the live read-model tables if they do not exist yet (idempotent). False when
    the existing ones are of another layout (see `layout`): they need a rebuild."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _swap_lock(live))
        exists = await conn.fetchval(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = $1", live
        )
        if not exists:
            await _create(conn, live, 1, events_topic)
        topic = await conn.fetchval(f"SELECT events_topic FROM {live}.meta")
        if topic != events_topic:
            raise RuntimeError(f"schema {live} projects {topic}, not {events_topic}")
        return await layout_is_current(conn, live)


async def layout_is_current(conn: asyncpg.Connection | asyncpg.Pool, schema: str) -> bool:
    """Whether the tables in `schema` are of this code's layout (see `layout`)."""
    # As JSON, so that tables made before `layout` existed read as NULL, not an error.
    found = await conn.fetchval(f"SELECT to_jsonb(m) ->> 'layout' FROM {schema}.meta m")
    return bool(found == layout())


async def create_next_schema(conn: asyncpg.Connection, live: str, events_topic: str) -> str:
    """Fresh, empty tables beside the live ones; returns their schema name."""
    nxt = next_of(live)
    async with conn.transaction():
        await conn.execute(f"DROP SCHEMA IF EXISTS {nxt} CASCADE")
        live_gen = await conn.fetchval(f"SELECT generation FROM {live}.meta") or 0
        await _create(conn, nxt, live_gen + 1, events_topic)
    return nxt


async def swap(conn: asyncpg.Connection, live: str) -> None:
    """Puts the rebuilt tables in place of the live ones, atomically."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _swap_lock(live))
        await conn.execute(f"ALTER SCHEMA {live} RENAME TO {live}_old")
        await conn.execute(f"ALTER SCHEMA {next_of(live)} RENAME TO {live}")
        await conn.execute(f"DROP SCHEMA {live}_old CASCADE")


async def load(conn: asyncpg.Connection, schema: str) -> tuple[int, ReadModel, dict[int, int]]:
    """(generation, the read model, the next offset per partition) as last committed."""
    generation = await conn.fetchval(f"SELECT generation FROM {schema}.meta")
    model = ReadModel()
    for r in await conn.fetch(f"SELECT * FROM {schema}.contracts"):
        model.contracts[r["contract_id"]] = ContractRow(**{c: r[c] for c in CONTRACT_COLUMNS})
    for r in await conn.fetch(f"SELECT * FROM {schema}.assignments"):
        row = AssignmentRow(**{c: r[c] for c in ASSIGNMENT_COLUMNS})
        model.assignments[(row.contract_id, row.assignment_id)] = row
    for r in await conn.fetch(
        f"SELECT * FROM {schema}.rate_history ORDER BY effective_date, stream_version"
    ):
        rate = RateRow(**{c: r[c] for c in RATE_COLUMNS} | {"event_id": str(r["event_id"])})
        model.rate_history.setdefault((rate.contract_id, rate.assignment_id), []).append(rate)
    for r in await conn.fetch(
        f"SELECT * FROM {schema}.terms_history ORDER BY contract_id, stream_version"
    ):
        terms = TermsRow(**{c: r[c] for c in TERMS_COLUMNS})
        model.terms_history.setdefault(terms.contract_id, []).append(terms)
    for r in await conn.fetch(f"SELECT * FROM {schema}.open_items"):
        item = OpenItem(
            r["contract_id"], r["kind"], r["item_id"], r["assignment_id"], r["opened_version"]
        )
        model.open_items[(item.contract_id, item.kind, item.item_id)] = item
    positions = {
        r["partition"]: r["next_offset"]
        for r in await conn.fetch(f"SELECT partition, next_offset FROM {schema}.positions")
    }
    return generation, model, positions


class GenerationChanged(Exception):
    """The tables were swapped by a rebuild: reload before writing again."""


@dataclasses.dataclass(frozen=True)
class Batch:
    """A batch's changes as plain tuples, taken before the model moves on."""

    contracts: list[tuple[Any, ...]]
    assignments: list[tuple[Any, ...]]
    terms: list[tuple[Any, ...]]
    rates: list[tuple[Any, ...]]
    impacts: list[tuple[Any, ...]]
    opened: list[tuple[Any, ...]]
    closed: list[tuple[str, str, str]]
    positions: list[tuple[int, int]]

    @classmethod
    def of(cls, changes: Changes, positions: dict[int, int]) -> Batch:
        return cls(
            contracts=[_contract_tuple(r) for r in changes.contracts.values()],
            assignments=[_assignment_tuple(r) for r in changes.assignments.values()],
            terms=[_terms_tuple(t) for t in changes.terms],
            rates=[_rate_tuple(r) for r in changes.rates],
            impacts=[_impact_tuple(i) for i in changes.impacts],
            opened=[_open_item_tuple(o) for o in changes.opened.values()],
            closed=sorted(changes.closed),
            positions=sorted(positions.items()),
        )


async def write(
    conn: asyncpg.Connection, schema: str, live: str, generation: int, batch: Batch
) -> None:
    """One batch, with its positions, in one transaction. `live` names the lock: a rebuild
    writing into `{live}_next` takes the same shared lock, harmlessly."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", _swap_lock(live))
        if await conn.fetchval(f"SELECT generation FROM {schema}.meta") != generation:
            raise GenerationChanged
        await _merge(conn, schema, "contracts", CONTRACT_COLUMNS, ["contract_id"], batch.contracts)
        await _merge(
            conn,
            schema,
            "assignments",
            ASSIGNMENT_COLUMNS,
            ["contract_id", "assignment_id"],
            batch.assignments,
        )
        for table, columns, rows in (
            ("terms_history", TERMS_COLUMNS, batch.terms),
            ("rate_history", RATE_COLUMNS, batch.rates),
            ("margin_impacts", IMPACT_COLUMNS, batch.impacts),
        ):
            if rows:
                await _copy(conn, table, columns, rows, schema)
        if batch.closed:
            await conn.execute(
                f"""DELETE FROM {schema}.open_items o
                    USING unnest($1::text[], $2::text[], $3::text[]) AS c(cid, kind, item)
                    WHERE o.contract_id = c.cid AND o.kind = c.kind AND o.item_id = c.item""",
                [c[0] for c in batch.closed],
                [c[1] for c in batch.closed],
                [c[2] for c in batch.closed],
            )
        if batch.opened:
            await conn.executemany(
                f"""INSERT INTO {schema}.open_items VALUES ($1, $2, $3, $4, $5)
                    ON CONFLICT DO NOTHING""",
                batch.opened,
            )
        await conn.executemany(
            f"""INSERT INTO {schema}.positions (partition, next_offset) VALUES ($1, $2)
                ON CONFLICT (partition) DO UPDATE SET next_offset = excluded.next_offset""",
            batch.positions,
        )
        await progress.notify(conn, "projected", live)  # delivered at commit


async def _merge(
    conn: asyncpg.Connection,
    schema: str,
    table: str,
    columns: list[str],
    key: list[str],
    rows: list[tuple[Any, ...]],
) -> None:
    if not rows:
        return
    tmp = f"tmp_{table}"
    await conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {tmp} (LIKE {schema}.{table}) ON COMMIT DELETE ROWS"
    )
    await _copy(conn, tmp, columns, rows)
    cols = ", ".join(columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    await conn.execute(
        f"""INSERT INTO {schema}.{table} ({cols}) SELECT {cols} FROM {tmp}
            ON CONFLICT ({", ".join(key)}) DO UPDATE SET {updates}
            WHERE excluded.stream_version > {table}.stream_version"""
    )


# PostgreSQL's COPY text format: tab-separated, \N for NULL, backslash escapes in text.
_TEXT_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_TEXT_ESCAPES)
    return str(value)


def copy_text(rows: Iterable[tuple[Any, ...]]) -> bytes:
    """Rows in COPY's text format. Every value is written as `str(value)` (exact for Decimal,
    int, date, aware datetime, UUID), text escaped, None as NULL.

    Fast path: a row is joined with `str` in C and kept when the line shows that no value needed
    more: no "None" (a NULL), no backslash, newline or carriage return, and exactly one tab
    between values (so no value holds one). Only the values of str can hold those, and only str
    and None need more than `str`. A row that only shows "None" gets its NULLs written as such;
    any other row is formatted value by value.
    """
    lines = []
    for row in rows:
        line = "\t".join(map(str, row))
        if "\\" in line or "\n" in line or "\r" in line or line.count("\t") != len(row) - 1:
            line = "\t".join(map(_text_value, row))
        elif "None" in line:  # no value needs escaping: only a NULL may need more than `str`
            line = "\t".join(["\\N" if v is None else str(v) for v in row])
        lines.append(line)
    lines.append("")
    return "\n".join(lines).encode()


async def _copy(
    conn: asyncpg.Connection,
    table: str,
    columns: list[str],
    rows: list[tuple[Any, ...]],
    schema: str | None = None,
) -> None:
    # A memoryview: asyncpg would take bytes for a file name.
    data = memoryview(copy_text(rows))
    await conn.copy_to_table(table, source=data, columns=columns, schema_name=schema, format="text")
