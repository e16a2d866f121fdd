"""README's first steps, over HTTP against the stack `make up` started, with the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from tests.support.stack import Stack, unique

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "first-steps"


def ledger(
    *args: str, stdin: str | None = None, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"LEDGER_TOKEN": token} if token else {})}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _fresh(path: Path, cid: str, am_id: str) -> str:
    """The example file with a contract id, account manager and event ids of this test's own."""
    ids: dict[str, str] = {}
    text = path.read_text()
    for line in text.replace(",", "\n").splitlines():
        if '"event_id"' in line:
            old = line.split(":", 1)[1].strip().strip('"} ')
            ids[old] = str(uuid.uuid4())
    for old, new in ids.items():
        text = text.replace(old, new)
    return text.replace("C-NORTHWIND-2026", cid).replace('"am-17"', json.dumps(am_id))


def test_an_account_managers_first_steps(ready_stack: Stack) -> None:
    api = os.environ.get("LEDGER_API_URL") or ready_stack.settings.local_api_url
    assert httpx.get(f"{api}/readyz", timeout=10).status_code == 200

    am_id = unique("am")
    made = ledger("token", "create", "--role", "account_manager", "--account-manager", am_id)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("mlt_") and "\n" not in token  # alone on stdout

    cid = unique("C")
    sign = ledger(
        "submit", "-", stdin=_fresh(EXAMPLES / "1-sign-contract.json", cid, am_id), token=token
    )
    assert (sign.returncode, sign.stdout.split()[:3]) == (0, ["accepted", "ContractSigned", cid])
    start = ledger(
        "submit", "-", stdin=_fresh(EXAMPLES / "2-start-assignment.json", cid, am_id), token=token
    )
    assert start.returncode == 0 and start.stdout.split()[3] == "v2"

    nego = ledger(
        "submit", "-", stdin=_fresh(EXAMPLES / "3-open-negotiation.jsonl", cid, am_id), token=token
    )
    lines = nego.stdout.splitlines()
    assert nego.returncode == 1  # one of the three was refused
    assert [ln.split()[0] for ln in lines] == ["accepted", "accepted", "refused"]
    assert "unknown_assignment" in lines[2] and "A-TYPO" in lines[2]

    log = httpx.get(
        f"{api}/v1/events",
        params={"contract_id": cid},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()
    assert [e["type"] for e in log["events"]] == [
        "ContractSigned",
        "AssignmentStarted",
        "MarkupNegotiationOpened",
        "MarkupProposed",
    ]
    assert {e["recorded_by"] for e in log["events"]} == {am_id}

    revoked = ledger("token", "revoke", token)
    assert revoked.returncode == 0
    after = httpx.get(f"{api}/v1/events", params={"contract_id": cid},
                      headers={"Authorization": f"Bearer {token}"}, timeout=30)  # fmt: skip
    assert after.status_code == 401
