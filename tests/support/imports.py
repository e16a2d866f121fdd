"""Helpers of the import tests: `ledger import placements` run as a user would run it, and the
counts it prints."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.support.services import ROOT, Services


def ledger_import(
    svc: Services, token: str, path: Path, mapping: Path, *args: str, timeout_s: float = 600
) -> subprocess.CompletedProcess[str]:
    """`ledger import placements <path> --mapping <mapping> <args>` through `svc`'s API as
    `token`'s holder, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "import", "placements", str(path),
         "--mapping", str(mapping), "--no-progress", *args],
        cwd=ROOT, env={**svc.env(), "LEDGER_API_URL": svc.url, "LEDGER_TOKEN": token},
        capture_output=True, text=True, timeout=timeout_s,
    )  # fmt: skip


def counts(out: str, section: str) -> dict[str, int]:
    """The `  name   n` lines under the line starting with `section` (an event type, `total`
    or `already in the log`), up to the first line of another shape."""
    lines = out.split(section, 1)[1].splitlines()[1:]
    found: dict[str, int] = {}
    for line in lines:
        m = re.fullmatch(r"  (\w[\w ]*?)\s+([\d,]+)", line)
        if not m:
            break
        found[m.group(1)] = int(m.group(2).replace(",", ""))
    return found


def located(out: str, severity: str = "error") -> list[tuple[int, str]]:
    """(line, column) of every problem of `severity` the output names, in its order."""
    return [
        (int(m.group(1)), m.group(2))
        for m in re.finditer(rf"{severity}: line (\d+), column ([^:]+):", out)
    ]
