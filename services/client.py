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
            if resp.status_code in (401, 403) or "results" not in resp.json():
                print(f"HTTP {resp.status_code}: {resp.text}", file=out)
                return 1
            for r in resp.json()["results"]:
                line = f"{r['status']:<9} {r.get('type', '?'):<24} {r.get('contract_id', '?')}"
                if "stream_version" in r:
                    line += f" v{r['stream_version']}"
                if r["status"] not in ("accepted", "duplicate"):
                    refused += 1
                    line += f"  {r.get('code', '')}: {r['message']}"
                print(line, file=out)
    return 1 if refused else 0
