"""`store.copy_text` writes a None as NULL and a text "None" as that text, whichever of its
ways a row takes (the NULLs replaced in the joined line, or value by value)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.projector.copy_text import copy_text


def _by_value(row: tuple[Any, ...]) -> str:
    return "\t".join("\\N" if v is None else str(v) for v in row)


def test_nulls_beside_texts_that_say_none() -> None:
    rows = [
        ("C-1", None, Decimal("1.50"), None),
        ("None", None),
        ("a None in the middle", None, "NoneNone"),
        (None, "None", None),
        ("NoneX", Decimal(0)),
    ]
    assert copy_text(rows).decode().split("\n")[:-1] == [
        "C-1\t\\N\t1.50\t\\N",
        "None\t\\N",
        "a None in the middle\t\\N\tNoneNone",
        "\\N\tNone\t\\N",
        "NoneX\t0",
    ]


texts = st.text(alphabet="NoneABC -", max_size=12)


@given(st.lists(st.none() | texts | st.decimals(allow_nan=False, allow_infinity=False)))
def test_as_written_value_by_value(values: list[Any]) -> None:
    row = tuple(values) or (None,)
    assert copy_text([row]).decode() == _by_value(row) + "\n"
