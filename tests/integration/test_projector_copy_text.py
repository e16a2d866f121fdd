"""The projector's COPY in text format stores exactly what asyncpg's binary COPY stores."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from services.projector import store
from services.projector.copy_text import copy_text

pytestmark = pytest.mark.integration

# A date and a datetime under names the read model's rows give such columns: written through
# `copy_text`'s kept texts of dates and times.
COLUMNS = ["t", "t_null", "n", "n_null", "effective_date", "occurred_at", "i", "u"]
TEXTS = [
    "plain",
    "",
    "tab\there",
    "new\nline",
    "carriage\rreturn",
    "back\\slash",
    "\\N",
    "\\.",
    "None",
    "a None in the middle",
    "\\t is not a tab",
    "unicode é ✓ 日本",
    " leading and trailing ",
]
DECIMALS = [
    Decimal("37.50"),
    Decimal("-0.00"),
    Decimal("0"),
    Decimal("1E+3"),
    Decimal("1.50E+2"),
    Decimal("0E-7"),
    Decimal("1E-20"),
    Decimal("-12.3400"),
    Decimal("28.88367052023121387283236994219653"),
    Decimal("-2434.84320"),
]


def _rows() -> list[tuple[Any, ...]]:
    rows = []
    for k, text in enumerate(TEXTS + [f"row {k}" for k in range(len(DECIMALS))]):
        n = DECIMALS[k % len(DECIMALS)]
        rows.append(
            (
                text,
                None if k % 3 == 0 else text,
                n,
                None if k % 4 == 0 else -n,
                date(2024, 1, 1) + timedelta(days=37 * k),
                datetime(2024, 3, 1, 9, 30, 15, 123456 * (k % 2), tzinfo=UTC)
                if k % 2
                else datetime(2023, 7, 1, 23, 59, tzinfo=timezone(timedelta(hours=5, minutes=30))),
                k * 1_000_003,
                str(uuid.UUID(int=k, version=4)),
            )
        )
    return rows


async def test_text_copy_stores_what_binary_copy_stores(pg: asyncpg.Connection) -> None:
    schema = f"copy_{uuid.uuid4().hex[:10]}"
    await pg.execute(f"CREATE SCHEMA {schema}")
    try:
        for table in ("via_binary", "via_text"):
            await pg.execute(
                f"""CREATE TABLE {schema}.{table} (t text NOT NULL, t_null text, n numeric NOT NULL,
                    n_null numeric, effective_date date NOT NULL, occurred_at timestamptz NOT NULL,
                    i bigint NOT NULL,
                    u uuid NOT NULL)"""
            )
        rows = _rows()
        await pg.copy_records_to_table(
            "via_binary", records=rows, columns=COLUMNS, schema_name=schema
        )
        await store._copy(pg, "via_text", COLUMNS, rows, schema)

        def dump(table: str) -> str:
            # As text, so that a numeric's scale and a NULL against "" both count.
            return f"SELECT array_agg(x::text ORDER BY x.i) FROM {schema}.{table} x"

        via_binary = await pg.fetchval(dump("via_binary"))
        via_text = await pg.fetchval(dump("via_text"))
        assert len(via_text) == len(rows)
        assert via_text == via_binary
        back = await pg.fetch(f"SELECT {', '.join(COLUMNS)} FROM {schema}.via_text ORDER BY i")
        assert [r["t"] for r in back] == [r[0] for r in rows]
        assert [r["t_null"] for r in back] == [r[1] for r in rows]
    finally:
        await pg.execute(f"DROP SCHEMA {schema} CASCADE")


def test_copy_text_format() -> None:
    assert copy_text([("a", None, Decimal("1.50"), 7)]) == b"a\t\\N\t1.50\t7\n"
    assert copy_text([("x\ty\\z\n", "None")]) == b"x\\ty\\\\z\\n\tNone\n"
    assert copy_text([]) == b""
