# Long: DDL, read-back and COPY writer of every read-model table, each beside the next.
"""The read models in PostgreSQL: creating them, reading back the rows of the contracts a
batch touches (`contract_states`), and writing a batch.

A batch is written in ONE transaction together with the projector's position, so a crash
loses nothing and a redelivered batch changes nothing. Bulk rows go in with COPY (an order of
magnitude faster than row-by-row statements); the upserted entity rows go through a temporary
table and one merge that keeps the higher stream version.

COPY is fed in PostgreSQL's text format, built by `services/projector/copy_text.py` (why text,
not asyncpg's binary COPY, is said there).

Every batch transaction takes a shared advisory lock; `swap` takes it exclusively to rename a
rebuilt schema into place, so no batch ever straddles a swap, and a projector that finds the
generation changed under it reloads from the new tables.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Hashable
from importlib import resources
from operator import attrgetter
from typing import Any, Protocol, TypeVar, cast

import asyncpg

from events.catalogue import EventBase
from events.serialization import RatesChange, StreamHead
from projections.read_model import (
    AssignmentRow,
    Changes,
    ContractRow,
    HoursRow,
    ImpactRow,
    OpenItem,
    RateRow,
    StoredContract,
    TermsRow,
)
from services import progress
from services.projector.copy_text import copy_text, event_log_text

LIVE = "proj"
# The read models' tables (the projector's positions apart), in the order they are dumped.
READ_MODEL_TABLES = (
    "contracts",
    "terms_history",
    "assignments",
    "rate_history",
    "margin_impacts",
    "open_items",
    "hours_reported",
    "event_log",
)


def next_of(live: str) -> str:
    return f"{live}_next"


def _swap_lock(live: str) -> int:
    """An advisory lock id of this set of read models (one per live schema name)."""
    return int.from_bytes(hashlib.sha256(live.encode()).digest()[:4], "big")


def rebuild_lock(live: str) -> int:
    """The advisory lock id held while this set of read models is rebuilt (apart from
    `_swap_lock`'s ids, which are below 2**32)."""
    return _swap_lock(live) + 2**32


CONTRACT_COLUMNS = [f.name for f in dataclasses.fields(ContractRow)]
ASSIGNMENT_COLUMNS = [f.name for f in dataclasses.fields(AssignmentRow)]
RATE_COLUMNS = [f.name for f in dataclasses.fields(RateRow)]
OPEN_ITEM_COLUMNS = [f.name for f in dataclasses.fields(OpenItem)]
TERMS_COLUMNS = [f.name for f in dataclasses.fields(TermsRow)]
IMPACT_COLUMNS = [f.name for f in dataclasses.fields(ImpactRow)]
HOURS_COLUMNS = [f.name for f in dataclasses.fields(HoursRow)]
EVENT_LOG_COLUMNS = [
    "contract_id",
    "stream_version",
    "event_id",
    "event_type",
    "kafka_partition",
    "kafka_offset",
    "occurred_at",
    "recorded_at",
    "body",
]

# A row's fields as a tuple, read in C: dataclasses.astuple recurses and deep-copies every value,
# which for rows of immutable values (str, int, Decimal, date) only costs time.
_contract_tuple = attrgetter(*CONTRACT_COLUMNS)
_assignment_tuple = attrgetter(*ASSIGNMENT_COLUMNS)
_terms_tuple = attrgetter(*TERMS_COLUMNS)
_rate_tuple = attrgetter(*RATE_COLUMNS)
_open_item_tuple = attrgetter(*OPEN_ITEM_COLUMNS)
_impact_tuple = attrgetter(*IMPACT_COLUMNS)
_hours_tuple = attrgetter(*HOURS_COLUMNS)


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


async def positions(conn: asyncpg.Connection, schema: str) -> tuple[int, dict[int, int]]:
    """(generation, the next offset per partition) as last committed."""
    generation = await conn.fetchval(f"SELECT generation FROM {schema}.meta")
    rows = await conn.fetch(f"SELECT partition, next_offset FROM {schema}.positions")
    return generation, {r["partition"]: r["next_offset"] for r in rows}


@functools.cache
def _columns(row: Any) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(row))


# The columns of a table stored as uuid, read back as the rows' str.
_UUID_COLUMNS = frozenset({"event_id"})


@functools.cache
def _select(row: Any) -> str:
    """The select list of a row's fields, in the order of its dataclass."""
    return ", ".join(f"{c}::text AS {c}" if c in _UUID_COLUMNS else c for c in _columns(row))


class _ContractRow(Protocol):
    @property
    def contract_id(self) -> str: ...


R = TypeVar("R", bound=_ContractRow)


async def contract_states(
    conn: asyncpg.Connection, schema: str, contract_ids: list[str]
) -> list[StoredContract]:
    """The stored rows of those of `contract_ids` that have any, one StoredContract each: what a
    projector installs in its model before applying their events. Five indexed reads, whatever
    the size of the read model."""
    if not contract_ids:
        return []
    ids = contract_ids

    async def rows(sql: str) -> list[asyncpg.Record]:
        return list(await conn.fetch(sql, ids))

    async def by_contract(table: str, order: str, row: type[R]) -> dict[str, list[R]]:
        """The rows of `table` of those contracts, in `order`, grouped by contract."""
        found: dict[str, list[R]] = {}
        # The row's fields in its own order (a uuid as text): made positionally, the cost of
        # a contract read back is its rows', and a long rate history has many.
        for r in await rows(
            f"SELECT {_select(cast(Hashable, row))} FROM {schema}.{table}"
            f" WHERE contract_id = ANY($1) ORDER BY {order}"
        ):
            made = row(*r)
            found.setdefault(made.contract_id, []).append(made)
        return found

    contracts = await rows(
        f"SELECT {_select(ContractRow)} FROM {schema}.contracts WHERE contract_id = ANY($1)"
    )
    if not contracts:
        return []
    assignments = await by_contract("assignments", "contract_id, assignment_id", AssignmentRow)
    rates = await by_contract(
        "rate_history", "contract_id, assignment_id, effective_date, stream_version", RateRow
    )
    terms = await by_contract("terms_history", "contract_id, stream_version", TermsRow)
    items = await by_contract("open_items", "contract_id, opened_version, kind, item_id", OpenItem)
    out = []
    for r in contracts:
        contract = ContractRow(*r)
        cid = contract.contract_id
        out.append(
            StoredContract(
                contract=contract,
                assignments=assignments.get(cid, []),
                rates=rates.get(cid, []),
                terms=terms.get(cid, []),
                open_items=items.get(cid, []),
            )
        )
    return out


_EVENT_ID, _OCCURRED, _RECORDED = b'"event_id":"', b'"occurred_at":"', b'"recorded_at":"'
_EVENT_ID_FIRST = b'{"event_id":"'


def audit_row(
    event: EventBase | StreamHead | RatesChange, value: bytes, partition: int, offset: int
) -> tuple[bytes, bytes, bytes]:
    """A row of `event_log` in COPY's text format, in three pieces to join (every column but
    the last, tab-ended; the last, `body`; the line's end): the accepted event as the log holds
    it, and where (EVENT_LOG_COLUMNS). The body is the record's own bytes, not a copy, and not
    yet escaped: `event_log_text` escapes the rows of a batch (hardly ever needed: JSON holds no
    tab, newline or carriage return, and a backslash only in a text that needed one), checking
    the bodies all at once rather than one by one. `event`: the event decoded, or the head of
    one its bytes alone were read for (`read_stream_head`, `read_rates_adjusted`: they hold
    every column as `encode_event` writes them).

    Every event of a replay has one, so it is built for speed: the event id and the times are
    the text the log's JSON has for them (events are flat objects, so such a key can only be
    the event's own; a UUID's text is 36 characters; `encode_event` writes the id first, and
    the times after it), else taken from the decoded event.
    """
    body = value
    if body.startswith(_EVENT_ID_FIRST):  # as `encode_event` writes every event
        event_id, start = body[13:49], 49
    else:
        at = body.find(_EVENT_ID)
        event_id = body[at + 12 : at + 48] if at >= 0 else str(_decoded(event).event_id).encode()
        start = 0
    at = body.find(_OCCURRED, start)
    if at >= 0:
        occurred = body[at + 15 : body.find(b'"', at + 15)]
    else:
        occurred = str(_decoded(event).occurred_at).encode()
    at = body.find(_RECORDED, start)
    if at >= 0:
        recorded = body[at + 15 : body.find(b'"', at + 15)]
    else:
        # Written as `encode_event` writes it, a head's event without one has none.
        recorded_at = event.recorded_at if isinstance(event, EventBase) else None
        recorded = b"\\N" if recorded_at is None else str(recorded_at).encode()
    head = b"%b\t%d\t%b\t%b\t%d\t%d\t%b\t%b\t" % (
        event.contract_id.encode(),  # an Id, [A-Za-z0-9._:-]: nothing to escape
        event.stream_version or 0,
        event_id,
        event.type.encode(),
        partition,
        offset,
        occurred,
        recorded,
    )
    return head, body, b"\n"


def _decoded(event: EventBase | StreamHead | RatesChange) -> EventBase:
    """The decoded event a column missing from the bytes is taken from (a head or a change is
    only read from bytes that hold its event id and time)."""
    if not isinstance(event, EventBase):
        raise ValueError(f"an event of {event.contract_id} without its head's fields")
    return event


class GenerationChanged(Exception):
    """The tables were swapped by a rebuild: reload before writing again."""


class PositionMoved(Exception):
    """A partition's stored position is not where this batch starts: another projector owns
    the partition now (or owned it meanwhile). Nothing of the batch is written; reload."""

    def __init__(self, partition: int) -> None:
        super().__init__(f"partition {partition}'s position moved under this projector")
        self.partition = partition


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
    hours: list[tuple[Any, ...]]
    events: list[bytes]  # rows of event_log (`audit_row`'s pieces): the events applied
    starts: dict[int, int] = dataclasses.field(default_factory=dict)
    """Each partition's stored position this batch starts from (none: no row yet)."""

    @classmethod
    def of(
        cls,
        changes: Changes,
        positions: dict[int, int],
        events: list[bytes] | None = None,
        starts: dict[int, int] | None = None,
    ) -> Batch:
        return cls(
            contracts=[_contract_tuple(r) for r in changes.contracts.values()],
            assignments=[_assignment_tuple(r) for r in changes.assignments.values()],
            terms=[_terms_tuple(t) for t in changes.terms],
            rates=[_rate_tuple(r) for r in changes.rates],
            impacts=[_impact_tuple(i) for i in changes.impacts],
            opened=[_open_item_tuple(o) for o in changes.opened.values()],
            closed=sorted(changes.closed),
            positions=sorted(positions.items()),
            hours=[_hours_tuple(h) for h in changes.hours.values()],
            events=events or [],
            starts=dict(starts or {}),
        )


def copied(batch: Batch) -> list[tuple[str, list[str], list[tuple[Any, ...]]]]:
    """Each table whose rows of `batch` go in with COPY (`copy_text`), its columns, its rows."""
    return [
        ("contracts", CONTRACT_COLUMNS, batch.contracts),
        ("assignments", ASSIGNMENT_COLUMNS, batch.assignments),
        ("terms_history", TERMS_COLUMNS, batch.terms),
        ("rate_history", RATE_COLUMNS, batch.rates),
        ("margin_impacts", IMPACT_COLUMNS, batch.impacts),
        ("hours_reported", HOURS_COLUMNS, batch.hours),
    ]


async def write(
    conn: asyncpg.Connection, schema: str, live: str, generation: int, batch: Batch
) -> None:
    """One batch, with its positions, in one transaction. `live` names the lock: a rebuild
    writing into `{live}_next` takes the same shared lock, harmlessly."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", _swap_lock(live))
        if await conn.fetchval(f"SELECT generation FROM {schema}.meta") != generation:
            raise GenerationChanged
        await _advance(conn, schema, batch)
        await _merge(conn, schema, "contracts", CONTRACT_COLUMNS, ["contract_id"], batch.contracts)
        await _merge(
            conn,
            schema,
            "assignments",
            ASSIGNMENT_COLUMNS,
            ["contract_id", "assignment_id"],
            batch.assignments,
        )
        await _merge(
            conn,
            schema,
            "hours_reported",
            HOURS_COLUMNS,
            ["contract_id", "assignment_id", "week"],
            batch.hours,
            summed=("reports",),
        )
        for table, columns, rows in (
            ("terms_history", TERMS_COLUMNS, batch.terms),
            ("rate_history", RATE_COLUMNS, batch.rates),
            ("margin_impacts", IMPACT_COLUMNS, batch.impacts),
        ):
            if rows:
                await _copy(conn, table, columns, rows, schema)
        if batch.events:
            data = memoryview(event_log_text(batch.events))
            await conn.copy_to_table(
                "event_log",
                source=data,
                columns=EVENT_LOG_COLUMNS,
                schema_name=schema,
                format="text",
            )
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
        await progress.notify(conn, "projected", live)  # delivered at commit


async def _advance(conn: asyncpg.Connection, schema: str, batch: Batch) -> None:
    """The fence: each position moves from where the batch started, or nothing is written.

    Taken first in the batch's transaction: the row lock makes a second writer of the same
    partition wait for the first to commit, then find the position moved. A projector that lost
    a partition to another (a rebalance, a pause past its session) thus never writes a batch
    twice nor moves a position back."""
    for partition, end in batch.positions:  # in partition order: no two writers deadlock
        start = batch.starts.get(partition)
        if start is None:
            moved = await conn.fetchval(
                f"""INSERT INTO {schema}.positions (partition, next_offset) VALUES ($1, $2)
                    ON CONFLICT (partition) DO NOTHING RETURNING 1""",
                partition,
                end,
            )
        else:
            moved = await conn.fetchval(
                f"""UPDATE {schema}.positions SET next_offset = $3
                    WHERE partition = $1 AND next_offset = $2 RETURNING 1""",
                partition,
                start,
                end,
            )
        if moved is None:
            raise PositionMoved(partition)


async def _merge(
    conn: asyncpg.Connection,
    schema: str,
    table: str,
    columns: list[str],
    key: list[str],
    rows: list[tuple[Any, ...]],
    summed: tuple[str, ...] = (),
) -> None:
    """Upsert `rows`; a column of `summed` adds the row's value to the stored one."""
    if not rows:
        return
    tmp = f"tmp_{table}"
    await conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {tmp} (LIKE {schema}.{table}) ON COMMIT DELETE ROWS"
    )
    await _copy(conn, tmp, columns, rows)
    cols = ", ".join(columns)
    updates = ", ".join(
        f"{c} = {table}.{c} + excluded.{c}" if c in summed else f"{c} = excluded.{c}"
        for c in columns
        if c not in key
    )
    await conn.execute(
        f"""INSERT INTO {schema}.{table} ({cols}) SELECT {cols} FROM {tmp}
            ON CONFLICT ({", ".join(key)}) DO UPDATE SET {updates}
            WHERE excluded.stream_version > {table}.stream_version"""
    )


async def _copy(
    conn: asyncpg.Connection,
    table: str,
    columns: list[str],
    rows: list[tuple[Any, ...]],
    schema: str | None = None,
) -> None:
    # A memoryview: asyncpg would take bytes for a file name.
    data = memoryview(copy_text(rows, columns))
    await conn.copy_to_table(table, source=data, columns=columns, schema_name=schema, format="text")
