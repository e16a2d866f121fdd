"""`ledger export events`, imported into an empty stack (a topic prefix and projection schema
of its own), reproduces the log (the same events, stamps and stream versions) and identical
projections (every projected table's rows)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from simulation.histories import append, history
from tests.support.projections import caught_up, dump
from tests.support.services import ROOT, Services, running_services
from tests.support.stack import Stack

FIXTURE = ROOT / "tests" / "fixtures" / "bullhorn_placements.csv"
MAPPING = ROOT / "tests" / "fixtures" / "bullhorn_mapping.yaml"


async def ledger(svc: Services, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.cli", *args],
        cwd=ROOT, env=svc.env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip


async def projected(stack: Stack, svc: Services) -> dict[str, list[tuple[Any, ...]]]:
    """Every projected table of `svc`, once its projector has applied the whole log."""
    await caught_up(stack.bootstrap, stack.dsn, svc.topics.events, svc.schema, timeout_s=120)
    return await dump(stack.dsn, svc.schema)


def digests(tables: dict[str, list[tuple[Any, ...]]]) -> dict[str, str]:
    return {t: hashlib.sha256(repr(rows).encode()).hexdigest() for t, rows in tables.items()}


async def test_an_export_imported_into_an_empty_stack_reproduces_log_and_projections(
    ready_stack: Stack, tmp_path: Path
) -> None:
    exported, again = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    async with running_services(ready_stack) as a:
        # Every event type (a generated history, as logged), and an import of placements.
        log = history(random.Random(24), contracts=12, events=40)
        await append(ready_stack.bootstrap, a.topics.events.name, log)
        done = await ledger(a, "import", "placements", str(FIXTURE), "--mapping", str(MAPPING),
                            "--via", "gateway", "--no-progress")  # fmt: skip
        assert "events refused" not in done.stdout, done.stdout
        assert re.search(r"  total +1,321\n", done.stdout), done.stdout + done.stderr
        before = await projected(ready_stack, a)
        done = await ledger(a, "export", "events", "--out", str(exported))
        assert done.returncode == 0, done.stderr
        one = await ledger(a, "export", "events", "--out", str(tmp_path / "c01.jsonl"),
                           "--contract", "C-01")  # fmt: skip
        assert one.returncode == 0, one.stderr

    manifest = json.loads((tmp_path / "a.jsonl.manifest.json").read_text())
    lines = exported.read_bytes().splitlines()
    assert manifest["events"] == len(lines) == len(log) + 1321
    assert manifest["sha256"] == hashlib.sha256(exported.read_bytes()).hexdigest()
    assert set(manifest["counts"]) >= {"ContractSigned", "RaiseApproved", "ClientContactLogged"}
    c01 = (tmp_path / "c01.jsonl").read_bytes().splitlines()
    assert c01 and c01 == [line for line in lines if b'"contract_id":"C-01"' in line]

    async with running_services(ready_stack) as b:
        done = await ledger(b, "import", "placements", str(exported), "--no-progress")
        assert done.returncode == 0, done.stdout + done.stderr
        after = await projected(ready_stack, b)
        done = await ledger(b, "export", "events", "--out", str(again))
        assert done.returncode == 0, done.stderr
        rerun = await ledger(b, "import", "placements", str(exported), "--no-progress")
        assert re.search(r"  total +0\n", rerun.stdout), rerun.stdout

    # The same events, stamps and stream versions (the lanes of an import may interleave
    # contracts differently within a partition; each contract's stream is the same).
    assert sorted(again.read_bytes().splitlines()) == sorted(lines)
    assert (
        json.loads((tmp_path / "b.jsonl.manifest.json").read_text())["counts"]
        == (manifest["counts"])
    )
    assert digests(after) == digests(before)
    assert after == before
