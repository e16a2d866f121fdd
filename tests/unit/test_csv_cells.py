"""Every CSV the product writes: text a spreadsheet would run is neutralised, numbers stay
numbers (OWASP CSV injection; issue #21)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.csv_cells import cell, write_csv


@pytest.mark.parametrize(
    "text",
    ['=HYPERLINK("http://evil.example","x")', "+1+2", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"],
)
def test_text_a_spreadsheet_would_run_is_written_as_text(text: str) -> None:
    assert cell(text) == "'" + text


@pytest.mark.parametrize("money", ["-36.00", "-0.9", "60.00", Decimal("-96.00"), "1e3", 7])
def test_numbers_stay_numbers_negative_money_included(money: object) -> None:
    assert cell(money) == str(money)


def test_booleans_as_json_writes_them_and_none_as_empty() -> None:
    assert (cell(True), cell(False), cell(None)) == ("true", "false", "")


@given(st.text())
def test_no_cell_ever_starts_a_formula_unless_it_is_a_number(text: str) -> None:
    out = cell(text)
    if out[:1] in ("=", "+", "@", "\t", "\r"):
        raise AssertionError(out)
    if out.startswith("-"):
        Decimal(out)  # a number, else it would have been neutralised


def test_a_row_round_trips_through_a_csv_reader() -> None:
    text = write_csv(
        [{"client_name": "=cmd|' /C calc'!A0", "weekly_gross_profit": "-36.00", "at_risk": True}],
        ["client_name", "weekly_gross_profit", "at_risk"],
    )
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert row == {
        "client_name": "'=cmd|' /C calc'!A0",
        "weekly_gross_profit": "-36.00",
        "at_risk": "true",
    }
