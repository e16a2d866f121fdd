"""The import's pure planning as the unit tests run it: a file planned against a mapping of one
client, Acme (contract C-ACME, account manager am-1), as of 2026-12-07."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

from imports.mapping import load_mapping
from imports.plan import Planned
from imports.problems import Problem
from imports.reading import Format, open_lines
from imports.source import plan_file

AS_OF = date(2026, 12, 7)
NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
MAPPING = """
account_manager: am-1
clients:
  Acme:
    contract_id: C-ACME
    terms: {markup_floor_pct: 20, burden_pct: 18.5, conversion_fee_pct: 15, non_solicit_months: 12}
"""


def plan(
    text: str | bytes, mapping: str = MAPPING, fmt: Format | None = None
) -> list[Planned | Problem]:
    """Every event `text` plans, and every problem, in the file's order (FileRefused: the whole
    file is refused)."""
    data = text.encode() if isinstance(text, str) else text
    return list(plan_file(open_lines(io.BytesIO(data), fmt), load_mapping(mapping), AS_OF))
