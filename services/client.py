"""`ledger submit`: posts events to the API and prints each verdict."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import httpx

ADMIN_TOKEN_FILE = Path(__file__).resolve().parents[1] / ".admin-token"


def read_events(stream: TextIO) -> list[Any]:
    """One event, a JSON list of events, or JSON lines."""
    text = stream.read().strip()
    if not text:
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return data if isinstance(data, list) else [data]


def token_from_env() -> str | None:
    token = os.environ.get("LEDGER_TOKEN")
    if token:
        return token
    if ADMIN_TOKEN_FILE.exists():
        return ADMIN_TOKEN_FILE.read_text().strip() or None
    return None


def submit(events: list[Any], api_url: str, token: str, out: TextIO = sys.stdout) -> int:
    """Posts in batches of 500; returns 0 when every event was accepted (or a duplicate)."""
    refused = 0
    with httpx.Client(base_url=api_url, timeout=60) as http:
        for start in range(0, len(events), 500):
            chunk = events[start : start + 500]
            resp = http.post(
                "/v1/events",
                json={"events": chunk},
                headers={"Authorization": f"Bearer {token}"},
            )
            body = _json_or_none(resp)
            if not isinstance(body, dict) or "results" not in body:
                print(refusal_text(resp.status_code, body, resp.text), file=out)
                return 1
            for r in body["results"]:
                refused += r["status"] not in ("accepted", "duplicate")
                print(result_line(r), file=out)
    return 1 if refused else 0


def _json_or_none(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def result_line(r: dict[str, Any]) -> str:
    """One event's outcome in one line: status, type, contract, version (when it has one), and
    for a refusal its code and sentence."""
    line = f"{r['status']:<9} {r.get('type') or '?':<24} {r.get('contract_id') or '?'}"
    if r.get("stream_version") is not None:
        line += f" v{r['stream_version']}"
    if r["status"] not in ("accepted", "duplicate"):
        line += f"  {r.get('code') or ''}: {r['message']}"
    return line


def refusal_text(status: int, body: Any, raw: str) -> str:
    """A whole request refused (401, 403, 413, 429, 503 …) in words: the message and each field
    with its reason, not the JSON body."""
    if isinstance(body, dict) and "message" in body:
        lines = [f"refused (HTTP {status}): {body['message']}"]
        lines += [f"  {e['field']}: {e['reason']}" for e in body.get("errors", [])]
        return "\n".join(lines)
    return f"refused (HTTP {status}): {raw[:500]}"
