"""Where an import's events go: the path of POST /v1/events, either over HTTP with a token
(`ApiSink`, as `ledger submit` does) or through the API's own submission gateway in this
process (`GatewaySink`), which a restore of an export needs: the gateway keeps the stamps an
exported event was logged with (`recorded_by`, `recorded_at`), which the HTTP API, rightly,
sets itself. Both hand the events to the writer's `decide`; neither writes the log itself.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import asyncpg
import httpx

from events.catalogue import STAMPED_FIELDS, Event
from events.messages import REFUSALS, Submitter
from events.serialization import EXPECTED_STREAM_VERSION, decode_event
from imports.dryrun import stamped
from imports.plan import Planned
from services.api.gateway.submissions import SubmissionGateway
from services.settings import Settings

BATCH: Final = 500
"""Events per request: POST /v1/events takes at most 500."""

IMPORTER: Final = Submitter(role="admin", principal="import")

RETRIES: Final = 60
"""Times a batch is sent while the API answers 429 or 503 (after its Retry-After each)."""

WAIT_S: Final = 120.0
"""How long the gateway sink waits for a batch's verdicts: an import is not a person at a
form, and a verdict not awaited is a rerun to learn it."""


@dataclass(frozen=True)
class Result:
    status: str
    """accepted, duplicate, refused, invalid (the API refused its shape) or pending (no
    verdict within the deadline: run the import again to learn it)."""
    code: str | None
    message: str
    field: str | None


class Sink(Protocol):
    async def start(self) -> None: ...

    async def submit(self, batch: Sequence[Planned]) -> list[Result]: ...

    async def close(self) -> None: ...


class ApiSink:
    """POST /v1/events with a bearer token, a batch at a time."""

    def __init__(self, api_url: str, token: str, timeout_s: float = 120) -> None:
        self.http = httpx.AsyncClient(
            base_url=api_url, timeout=timeout_s, headers={"Authorization": f"Bearer {token}"}
        )

    async def start(self) -> None:
        pass

    async def submit(self, batch: Sequence[Planned]) -> list[Result]:
        body = {"events": [_as_submitted(p) for p in batch]}
        for _ in range(RETRIES):
            resp = await self.http.post("/v1/events", json=body)
            if resp.status_code not in (429, 503):
                break
            # Over the token's rate, or Kafka or PostgreSQL away: the same batch again once
            # the API says (its event ids make a batch sent twice append once).
            await asyncio.sleep(_retry_after(resp))
        answer = resp.json()
        if "results" not in answer:
            raise SinkRefused(f"HTTP {resp.status_code}: {answer.get('message', resp.text)}")
        return [_result(r) for r in answer["results"]]

    async def close(self) -> None:
        await self.http.aclose()


def _retry_after(resp: httpx.Response) -> float:
    try:
        return min(max(float(resp.headers.get("Retry-After", "1")), 0.1), 30.0)
    except ValueError:
        return 1.0


class ApiPast:
    """What the log already holds of a contract, read from GET /v1/events with a token (the
    dry run judges against it)."""

    def __init__(self, api_url: str, token: str, timeout_s: float = 120) -> None:
        self.http = httpx.Client(
            base_url=api_url, timeout=timeout_s, headers={"Authorization": f"Bearer {token}"}
        )

    def __call__(self, contract_id: str) -> list[Event]:
        events: list[Event] = []
        after = 0
        while True:
            resp = self.http.get(
                "/v1/events", params={"contract_id": contract_id, "after_version": after}
            )
            if resp.status_code == 404:  # no event of it: a new contract
                return events
            if resp.status_code != 200:
                raise SinkRefused(f"HTTP {resp.status_code} reading the log: {resp.text[:500]}")
            page = resp.json()
            events += [decode_event(e) for e in page["events"]]
            if page.get("next_after_version") is None:
                return events
            after = page["next_after_version"]

    def close(self) -> None:
        self.http.close()


class SinkRefused(Exception):
    """The API refused the whole import (a token that may not write, the API away)."""


def _as_submitted(p: Planned) -> dict[str, Any]:
    # The API stamps an event itself and refuses stamps sent to it.
    out: dict[str, Any] = p.event.model_dump(
        mode="json", exclude_none=True, exclude=set(STAMPED_FIELDS)
    )
    if p.expected_stream_version is not None:
        out[EXPECTED_STREAM_VERSION] = p.expected_stream_version
    return out


def _result(r: dict[str, Any]) -> Result:
    errors = r.get("errors") or []
    field = errors[0]["field"] if errors else None
    message = r["message"]
    if r["status"] == "invalid" and errors:
        message = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
    return Result(r["status"], r.get("code"), message, field)


class OverGateway:
    """A sink over a submission gateway started by someone else (the API process's own, for
    the Import page): submissions stamped by `submitter`, the writer's verdicts awaited."""

    def __init__(self, gateway: SubmissionGateway | None, submitter: Submitter = IMPORTER) -> None:
        self.gateway = gateway
        self.submitter = submitter

    async def start(self) -> None:
        pass

    async def submit(self, batch: Sequence[Planned]) -> list[Result]:
        assert self.gateway is not None, "start() first"
        now = datetime.now(UTC)
        subs = [stamped(p, self.submitter, now, uuid.uuid4()) for p in batch]
        verdicts = await self.gateway.submit(subs, WAIT_S)
        out = []
        for v in verdicts:
            if v is None:
                out.append(Result("pending", None, "no verdict within the deadline", None))
                continue
            known = REFUSALS.get(v.code or "")
            out.append(Result(v.outcome, v.code, v.message, known.field if known else None))
        return out

    async def close(self) -> None:
        pass


class GatewaySink(OverGateway):
    """The API's submission gateway, in this process: submission rows in PostgreSQL, the
    submissions on Kafka, the writer's verdicts awaited (the API processes' recorders write
    them to the submission rows)."""

    def __init__(self, settings: Settings, submitter: Submitter = IMPORTER) -> None:
        super().__init__(None, submitter)
        self.settings = settings
        self.pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        s = self.settings
        self.pool = await asyncpg.create_pool(s.dsn, min_size=1, max_size=4, timeout=10)
        self.gateway = SubmissionGateway(
            s.kafka_bootstrap_servers, s.topics, self.pool, record=False
        )
        await self.gateway.start()

    async def close(self) -> None:
        if self.gateway is not None:
            await self.gateway.stop()
        if self.pool is not None:
            await self.pool.close()


__all__ = [
    "BATCH",
    "IMPORTER",
    "ApiPast",
    "ApiSink",
    "GatewaySink",
    "OverGateway",
    "Result",
    "Sink",
    "SinkRefused",
]
