"""The margin status colour of an assignment and of a contract (pure).

red: margin per hour below zero (every hour loses money); amber: markup below the contract's
floor; green otherwise. A contract takes the worst colour of its active assignments.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Literal

Status = Literal["red", "amber", "green"]
_RANK: dict[Status, int] = {"green": 0, "amber": 1, "red": 2}


def assignment_status(margin_per_hour: Decimal, markup_pct: Decimal, floor_pct: Decimal) -> Status:
    if margin_per_hour < 0:
        return "red"
    if markup_pct < floor_pct:
        return "amber"
    return "green"


def worst(statuses: Iterable[Status]) -> Status:
    return max(statuses, key=_RANK.__getitem__, default="green")


def status_text(status: Status) -> str:
    """The status in words, for people who do not read colours."""
    return {
        "red": "Loss: an assignment loses money every hour",
        "amber": "Below floor: a markup is under the contract's floor",
        "green": "Healthy",
    }[status]
