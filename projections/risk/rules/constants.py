"""The thresholds of DESIGN's rules and the exact arithmetic they share."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Final

from projections import margin
from projections.risk.state import EROSION_MEMORY

EROSION_CUTS_WINDOW: Final = timedelta(days=90)
EROSION_POINTS_WINDOW: Final = EROSION_MEMORY  # the cuts the state remembers
EROSION_POINTS: Final = Decimal(5)
NEGLECT_AFTER: Final = timedelta(days=30)
OT_LEAK_TOLERANCE: Final = Decimal(0)
"""OT_MARGIN_LEAK: an OT or DT hour may earn at most this much less than a regular hour (per
hour). DESIGN names a contract's tolerance; no contract term carries one yet, so one for all."""
BYPASS_END_REASONS: Final = frozenset({"moved_to_other_agency", "converted_to_client_hire"})
EARLY_END_REASONS: Final = frozenset(
    {"ended_early_by_client", "moved_to_other_agency", "converted_to_client_hire"}
)

# The same two contexts as projections.margin: + − × exact (Inexact trapped), and one division,
# last, at 34 significant digits.
EXACT: Final = margin.EXACT_CONTEXT
DIVIDE: Final = margin.DIVIDE_CONTEXT
ZERO: Final = Decimal(0)
HUNDREDTH: Final = Decimal("0.01")
ONE: Final = Decimal(1)
SEVEN: Final = Decimal(7)
WEEKS_PER_YEAR: Final = Decimal(52)
