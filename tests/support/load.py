"""A steady load of concurrent clients on `POST /v1/events`, behaving as a careful client does:
a connection error, a timeout or a 5xx is retried with the same event (same `event_id`) after
`Retry-After` (else half a second); a 202 is polled at its location until the verdict comes,
while the client goes on with its next event (the 202 says the submission was handed over, so
the writer sees it first). Every attempt is recorded, so a fault's cost to a client can be
measured.

Each client writes contracts of its own: ContractSigned, AssignmentStarted, then rate changes
(margin impacts), inbound contacts and bypass threats (one BYPASS_THREAT alert each), all of
them valid, so every event must end accepted.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from simulation.examples import example

EVENTS_PER_CONTRACT = 14
ACCEPTED = ("accepted", "duplicate")


@dataclass
class Attempt:
    """One request: when it started and ended, and its answer: the HTTP status ("503" only with
    a Retry-After, else "503 without Retry-After"), "connect-error" or "timeout"."""

    t0: float
    t1: float
    answer: str


@dataclass
class Sent:
    """One event, from its first attempt to its verdict."""

    event: dict[str, Any]
    t0: float
    t1: float | None = None
    outcome: str | None = None  # accepted, duplicate, refused…; None: never resolved
    stream_version: int | None = None
    got_202: bool = False
    # In the POST's answer (not a poll): the impacts and alerts (None: not yet projected/judged).
    direct: bool = False
    impacts: list[Any] | None = None
    alerts: list[Any] | None = None
    attempts: list[Attempt] = field(default_factory=list)  # the POSTs
    polls: list[Attempt] = field(default_factory=list)  # the GETs of a 202's location

    @property
    def accepted(self) -> bool:
        return self.outcome in ACCEPTED


def _events(contract_id: str, am_id: str) -> Iterator[dict[str, Any]]:
    """A valid history for one contract."""
    yield example("ContractSigned", contract_id=contract_id, account_manager_id=am_id)
    yield example("AssignmentStarted", contract_id=contract_id)
    kinds = itertools.cycle(["RatesAdjusted", "ClientContactLogged", "BypassThreatReported"])
    for k in range(EVENTS_PER_CONTRACT - 2):
        kind = next(kinds)
        if kind == "RatesAdjusted":
            pay = Decimal("30.00") + Decimal(k) / 10
            yield example(
                kind,
                contract_id=contract_id,
                pay_rate=str(pay),
                bill_rate=str(pay * Decimal("1.25")),
            )
        elif kind == "ClientContactLogged":
            yield example(kind, contract_id=contract_id, direction="inbound", responded=True)
        else:
            yield example(kind, contract_id=contract_id)


class Load:
    """`clients` concurrent clients, `rate` events a second between them, on contracts named
    `<prefix>-c<client>-<n>`."""

    def __init__(
        self, api_url: str, token: str, am_id: str, prefix: str, clients: int = 8, rate: float = 40
    ) -> None:
        self.api_url, self.token, self.am_id, self.prefix = api_url, token, am_id, prefix
        self.clients, self.interval = clients, clients / rate
        self.sent: list[Sent] = []
        self.contracts: list[str] = []
        self._stopping = False
        self._deadline = float("inf")  # after stop(): when an unresolved event is given up
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._client(i)) for i in range(self.clients)]

    async def stop(self, resolve_within_s: float) -> list[Sent]:
        """Stop sending new events; give the ones in flight `resolve_within_s` to resolve."""
        self._stopping = True
        self._deadline = time.monotonic() + resolve_within_s
        await asyncio.gather(*self._tasks)
        return self.sent

    async def _client(self, i: int) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        polls: set[asyncio.Task[None]] = set()
        async with httpx.AsyncClient(base_url=self.api_url, headers=headers, timeout=30) as http:
            try:
                for n in itertools.count():
                    contract_id = f"{self.prefix}-c{i}-{n}"
                    self.contracts.append(contract_id)
                    for event in _events(contract_id, self.am_id):
                        if self._stopping:
                            return
                        t0 = time.monotonic()
                        await self._submit(http, event, polls)
                        await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - t0)))
            finally:
                while polls:  # the 202s still being polled, before the client closes
                    await asyncio.gather(*polls)

    async def _submit(
        self, http: httpx.AsyncClient, event: dict[str, Any], polls: set[asyncio.Task[None]]
    ) -> None:
        s = Sent(event, time.monotonic())
        self.sent.append(s)
        while time.monotonic() < self._deadline:
            t0 = time.monotonic()
            try:
                r = await http.post("/v1/events", json=event)
            except httpx.TimeoutException:
                s.attempts.append(Attempt(t0, time.monotonic(), "timeout"))
                await asyncio.sleep(0.5)
                continue
            except httpx.TransportError:
                s.attempts.append(Attempt(t0, time.monotonic(), "connect-error"))
                await asyncio.sleep(0.5)
                continue
            s.attempts.append(Attempt(t0, time.monotonic(), _answer(r)))
            if r.status_code >= 500:
                await asyncio.sleep(_retry_after(r))
                continue
            body = r.json()
            if r.status_code == 202:
                s.got_202 = True
                task = asyncio.create_task(self._poll(http, s, body["location"]))
                polls.add(task)
                task.add_done_callback(polls.discard)
            else:
                s.outcome, s.stream_version = body.get("status"), body.get("stream_version")
                s.direct = True
                s.impacts, s.alerts = body.get("margin_impacts"), body.get("alerts")
                s.t1 = time.monotonic()
            return

    async def _poll(self, http: httpx.AsyncClient, s: Sent, location: str) -> None:
        while time.monotonic() < self._deadline:
            await asyncio.sleep(0.5)
            t0 = time.monotonic()
            try:
                r = await http.get(location)
            except httpx.TimeoutException:
                s.polls.append(Attempt(t0, time.monotonic(), "timeout"))
                continue
            except httpx.TransportError:
                s.polls.append(Attempt(t0, time.monotonic(), "connect-error"))
                continue
            s.polls.append(Attempt(t0, time.monotonic(), _answer(r)))
            if r.status_code == 200:
                body = r.json()
                s.outcome, s.stream_version = body.get("status"), body.get("stream_version")
                s.t1 = time.monotonic()
                return


def _answer(r: httpx.Response) -> str:
    if r.status_code == 503 and "retry-after" not in r.headers:
        return "503 without Retry-After"
    return str(r.status_code)


def _retry_after(r: httpx.Response) -> float:
    try:
        return min(max(float(r.headers.get("retry-after", "0.5")), 0.1), 2.0)
    except ValueError:
        return 0.5


@dataclass
class Cost:
    """What the clients saw during one fault, from injection to the end of the load."""

    outage_s: float  # the longest stretch in which no client got any verdict
    answers: Counter[str]  # every POST attempt's answer
    max_post_s: float  # the longest single POST
    max_verdict_s: float  # the longest wait from an event's first attempt to its verdict
    events: int
    unresolved: int


def cost(sent: list[Sent], since: float, until: float) -> Cost:
    done = sorted(s.t1 for s in sent if s.t1 is not None and since <= s.t1 <= until)
    marks = [since, *done, until]
    attempts = [a for s in sent for a in s.attempts if a.t0 >= since]
    waited = [s.t1 - s.t0 for s in sent if s.t1 is not None and s.t1 >= since]
    return Cost(
        outage_s=max(b - a for a, b in itertools.pairwise(marks)),
        answers=Counter(a.answer for a in attempts),
        max_post_s=max((a.t1 - a.t0 for a in attempts), default=0.0),
        max_verdict_s=max(waited, default=0.0),
        events=len(sent),
        unresolved=sum(1 for s in sent if s.t1 is None),
    )


def back_after(sent: list[Sent], since: float) -> dict[str, float | None]:
    """Seconds after `since` until each part served a client again (None: not yet), counting
    only requests made after `since`: api: an answer that is not a 5xx; writer: a verdict;
    projector: a verdict answered with its margin impacts; risk: one answered with its alerts."""
    first: dict[str, float | None] = dict.fromkeys(("api", "writer", "projector", "risk"))

    def see(part: str, t: float) -> None:
        seen = first[part]
        if seen is None or t - since < seen:
            first[part] = t - since

    for s in sent:
        for a in s.attempts + s.polls:
            if a.t0 >= since and a.answer.isdigit() and int(a.answer) < 500:
                see("api", a.t1)
        if s.t1 is None or not s.accepted:
            continue
        if s.direct and s.attempts[-1].t0 >= since:
            see("writer", s.t1)
            if s.impacts is not None:
                see("projector", s.t1)
            if s.alerts is not None:
                see("risk", s.t1)
        elif not s.direct and s.t0 >= since:
            see("writer", s.t1)
    return first
