"""A contract's margin status colour, and each colour in words (pure).

An assignment's colour is `projections.rollup.margin_status` (red: margin per hour below zero;
amber: markup below the contract's floor; green otherwise); a contract takes the worst colour
of its active assignments.
"""

from __future__ import annotations

from collections.abc import Iterable

_RANK = {"green": 0, "amber": 1, "red": 2}


def worst(statuses: Iterable[str]) -> str:
    """The worst of the colours; green when there are none."""
    return max(statuses, key=_RANK.__getitem__, default="green")


def status_text(status: str) -> str:
    """The status in words, for people who do not read colours."""
    return {
        "red": "Loss: an assignment loses money every hour",
        "amber": "Below floor: a markup is under the contract's floor",
        # Of the margin only: a contract with open alerts is not "healthy" (issue #21).
        "green": "Margin OK: every active assignment earns at or above the floor",
    }[status]
