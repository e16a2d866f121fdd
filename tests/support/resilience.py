"""What the resilience tests share: a POST timed, a verdict waited for, a condition polled."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.support.http import auth


def timed_post(client: httpx.Client, token: str, body: Any) -> tuple[httpx.Response, float]:
    """The answer to a POST of `body` and how long it took."""
    started = time.monotonic()
    r = client.post("/v1/events", json=body, headers=auth(token))
    return r, time.monotonic() - started


def verdict_of(client: httpx.Client, token: str, body: Any) -> dict[str, Any]:
    """The verdict on `body`, polled for as long as it takes (a writer still joining)."""
    r, _ = timed_post(client, token, body)
    if r.status_code == 202:
        return until(  # type: ignore[no-any-return]
            "a verdict",
            60,
            lambda: (
                (x := client.get(r.headers["Location"], headers=auth(token))).status_code == 200
                and x.json()
            ),
        )
    return r.json()  # type: ignore[no-any-return]


def until(what: str, timeout_s: float, probe: Any) -> Any:
    """`probe()` once it is truthy, polled every 0.2 s; fails naming `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout_s} s")
