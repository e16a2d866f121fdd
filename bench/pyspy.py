"""Reading py-spy's raw output (`py-spy record --format raw`: a line a distinct stack,
`frame;frame;...;leaf count`, each frame `function (path:line)`), for the benchmarks that
profile a process."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

IDLE: tuple[str, ...] = ("EpollSelector.select ", "select (", "Condition.wait ", "wait (")
"""Leaf frames of a thread waiting, not working (py-spy reports them on this VM): the event
loop in select(), a thread on a condition (the watchdog, executors)."""


def module_of(frame: str, roots: Iterable[Path] = (ROOT,)) -> str:
    """The library, or the module of services/, events/ or projections/ (code under one of
    `roots`), that a frame belongs to."""
    path = frame.rsplit("(", 1)[-1].split(":", 1)[0]
    for marker in ("site-packages/", "lib/python3.11/", *(f"{root}/" for root in roots)):
        if marker in path:
            parts = path.split(marker, 1)[1].split("/")
            if parts[0] in ("services", "events", "projections") and len(parts) > 1:
                return "/".join(parts[:2]).removesuffix(".py")
            return parts[0].removesuffix(".py")
    return path or "?"


def function_of(frame: str, roots: Iterable[Path] = (ROOT,)) -> str:
    """`function [module]` of a frame."""
    return frame.split(" (", 1)[0] + " [" + module_of(frame, roots) + "]"


def busy_samples(raw: Path, idle: tuple[str, ...] = IDLE) -> Iterator[tuple[list[str], int]]:
    """(frames, samples) of every stack whose leaf is not waiting (`idle`)."""
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = stack.split(";")
        if not frames[-1].startswith(idle):
            yield frames, int(n)
