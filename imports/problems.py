"""What is wrong with an input, said where it is: line, column and reason in words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]

FILE_LINE = 0
"""The line of a problem with the whole file (a missing column, a mapping without terms)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """An error refuses the row (nothing is appended for it); a warning is said and the row
    goes on."""

    line: int
    column: str
    reason: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line != FILE_LINE else "file"
        column = f", column {self.column}" if self.column else ""
        return f"{self.severity}: {where}{column}: {self.reason}"


class FileRefused(Exception):
    """The file as a whole cannot be read (no header, a required column missing, an unknown
    format): nothing is imported."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem
