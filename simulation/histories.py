# Long: a maker per event type; each draws its fields in a fixed order, so a seed is one log.
"""Valid event histories, the one generator of them for the tests and the benchmarks.

`Generator` makes up one contract's stream from a `random.Random`: the same seed gives the
same events. Every event is built with the catalogue's models; with `check` each one is
submitted to the writer's public `decide` (which stamps its stream version) and the generator
fails on a refusal. `REALISTIC` is the benchmarks' mix of event types (relationship contacts
and rate changes dominate); `EVERY_TYPE` adds endings, closed negotiations, amendments and
terminations, for the property tests. `history` merges a few contracts' streams in time order
(tests/support/histories.py wraps it as a hypothesis strategy); `generate` makes a benchmark's
whole log, encoded, and `produce` writes it keyed by contract_id.
"""

from __future__ import annotations

import asyncio
import heapq
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer

from events import catalogue as ev
from events.messages import Submission, Submitter
from events.serialization import encode_event
from services.kafka_log import send_keyed
from writemodel.decide import decide
from writemodel.state import ContractState, evolve

CENT = Decimal("0.01")


def money(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


# -- generating a realistic log ---------------------------------------------------------------


@dataclass
class _Assignment:
    assignment_id: str
    staffer_id: str
    pay: Decimal
    bill: Decimal
    start: date
    end: date
    hours_per_week: Decimal


@dataclass
class _Contract:
    """What the generator must know of one contract to keep its stream valid."""

    contract_id: str
    account_manager_id: str
    clock: datetime
    version: int = 0
    assignments: list[_Assignment] = field(default_factory=list)
    negotiations: dict[str, int] = field(default_factory=dict)  # open id -> proposals made
    raises: dict[str, tuple[_Assignment, Decimal]] = field(default_factory=dict)  # open ones
    next_id: int = 0
    ended: list[_Assignment] = field(default_factory=list)
    scope: dict[str, str | None] = field(default_factory=dict)  # negotiation id -> assignment
    terminated: bool = False
    length: int = 0  # the events the stream will have
    state: ContractState | None = None  # the writer's, when the generator checks

    def new_id(self, prefix: str) -> str:
        self.next_id += 1
        return f"{prefix}-{self.next_id}"


# The mix after a contract's set-up: relationship contacts and rate changes dominate.
REALISTIC = {
    "ClientContactLogged": 40,
    "RatesAdjusted": 22,
    "MarkupNegotiationOpened": 3,
    "MarkupProposed": 7,
    "MarkupAgreed": 5,
    "RaiseRequested": 4,
    "RaiseApproved": 4,
    "RaiseDeclined": 2,
    "BypassThreatReported": 3,
    "ClientComplaintLogged": 4,
    "AssignmentStarted": 1,
}
# Every type of the catalogue after the signature, for the property tests. (A hypothesis random
# source draws the ends of a range often: rate changes first, agreements last.)
EVERY_TYPE = {
    "RatesAdjusted": 22,
    "ClientContactLogged": 12,
    "AssignmentStarted": 4,
    "MarkupNegotiationOpened": 3,
    "MarkupProposed": 7,
    "RaiseRequested": 4,
    "ContractTerminated": 1,
    "AssignmentEnded": 2,
    "RaiseApproved": 4,
    "RaiseDeclined": 2,
    "BypassThreatReported": 3,
    "ClientComplaintLogged": 4,
    "ContractAmended": 2,
    "MarkupNegotiationClosed": 2,
    "MarkupAgreed": 5,
    "AccountManagerChanged": 1,
    "HoursReported": 3,
}


def with_hours(mix: dict[str, int], share: float) -> dict[str, int]:
    """`mix` with HoursReported making up `share` of the events drawn from it (the benchmarks'
    log with timesheets: `bench/projection_replay.py --hours`)."""
    rest = sum(w for k, w in mix.items() if k != "HoursReported")
    hours = round(rest * share / (1 - share))
    return {**{k: w for k, w in mix.items() if k != "HoursReported"}, "HoursReported": hours}


_CONTACT_NOTES = ["quarterly check-in", "weekly status call", "timesheet question", "site visit"]
_RATE_REASONS = ["annual review", "market adjustment", "overtime policy change", "cost of living"]


_ADMIN = Submitter(role="admin", principal="u.generator")
_DECIDED_AT = datetime(2030, 1, 1, tzinfo=UTC)

# One catalogue model: what `Generator._event` builds is what it returns.
_E = TypeVar("_E", bound=ev.EventBase)

_END_REASONS = ["completed", "ended_early_by_client", "staffer_left", "moved_to_other_agency"]


class Generator:
    def __init__(
        self, rng: random.Random, mix: dict[str, int] | None = None, check: bool = False
    ) -> None:
        self.rng = rng
        self.check = check
        self.ids: set[uuid.UUID] = set()
        mix = REALISTIC if mix is None else mix
        self.kinds = list(mix)
        self.weights = list(mix.values())

    def uuid(self) -> uuid.UUID:
        """A new id; from a source that repeats itself (hypothesis shrinking), the next free one."""
        new = uuid.UUID(int=self.rng.getrandbits(128), version=4)
        while new in self.ids:
            new = uuid.UUID(int=new.int + 1, version=4)
        self.ids.add(new)
        return new

    def _event(self, c: _Contract, model: type[_E], **fields: Any) -> _E:
        c.clock += timedelta(minutes=self.rng.randint(60, 14 * 24 * 60))
        c.version += 1
        event = model(
            event_id=self.uuid(),
            contract_id=c.contract_id,
            occurred_at=c.clock,
            recorded_by=c.account_manager_id,
            recorded_at=c.clock + timedelta(seconds=self.rng.randint(1, 90)),
            stream_version=None if self.check else c.version,
            **fields,
        )
        return self._decided(c, event) if self.check else event

    def _decided(self, c: _Contract, event: _E) -> _E:
        """`event` as the writer appends it; a refusal is the generator's bug."""
        submission = Submission(
            submission_id=uuid.UUID(int=c.version, version=4), submitter=_ADMIN, event=event
        )
        decision = decide(c.state, submission, _DECIDED_AT)
        if decision.append is None:
            raise AssertionError(f"generated an invalid event: {decision.verdict.message}")
        appended = decision.append
        assert isinstance(appended, type(event)) and appended.stream_version == c.version
        c.state = evolve(c.state, appended)
        return appended

    def _pct(self, lo: int, hi: int) -> Decimal:
        return Decimal(self.rng.randint(lo * 100, hi * 100)) / 100

    def contract(self, i: int, n_events: int) -> list[ev.Event]:
        rng = self.rng
        start = datetime(2021, 1, 1, 8, tzinfo=UTC) + timedelta(
            minutes=rng.randint(0, 3 * 365 * 24 * 60)
        )
        c = _Contract(f"C-{i:06d}", f"am.{rng.randint(1, 60):03d}", start)
        c.length = n_events
        out: list[ev.Event] = [
            self._event(
                c,
                ev.ContractSigned,
                client_id=f"CL-{rng.randint(1, max(1, i // 3 + 1)):05d}",
                client_name=f"Client {i} Logistics",
                account_manager_id=c.account_manager_id,
                start_date=start.date(),
                end_date=start.date() + timedelta(days=rng.choice([365, 730, 1095])),
                markup_floor_pct=self._pct(12, 22),
                burden_pct=self._pct(15, 30),
                msp_fee_pct=self._pct(0, 4) if rng.random() < 0.4 else None,
                min_assignment_weeks=rng.choice([None, 13, 26]),
                conversion_fee_pct=self._pct(10, 25),
                conversion_fee_waived_after_hours=rng.choice([None, Decimal(1040), Decimal(2080)]),
                non_solicit_months=rng.choice([6, 12, 18]),
            )
        ]
        for _ in range(min(rng.randint(1, 4), n_events - 1)):
            out.append(self._start(c))
        while len(out) < n_events:
            out.append(self._next(c))
        return out

    def _start(self, c: _Contract) -> ev.Event:
        rng = self.rng
        pay = money(Decimal(rng.randint(1800, 6000)) / 100)
        bill = money(pay * (1 + self._pct(20, 60) / 100))
        assignment_id, staffer_id = c.new_id("A"), f"S-{rng.randint(1, 99999):05d}"
        start = c.clock.date() + timedelta(days=rng.randint(1, 14))
        # Drawn in the order the fields were always drawn: the same seed, the same log.
        job_title = rng.choice(["Forklift operator", "Picker", "Welder", "Accountant"])
        hours = Decimal(rng.choice([20, 32, 37.5, 40, 45]))
        end = start + timedelta(weeks=rng.randint(13, 104))
        a = _Assignment(assignment_id, staffer_id, pay, bill, start, end, hours)
        c.assignments.append(a)
        return self._event(
            c,
            ev.AssignmentStarted,
            assignment_id=a.assignment_id,
            staffer_id=a.staffer_id,
            staffer_name=f"Staffer {a.staffer_id}",
            job_title=job_title,
            pay_rate=pay,
            bill_rate=bill,
            hours_per_week=hours,
            start_date=start,
            expected_end_date=end,
            burden_pct=self._pct(15, 30) if rng.random() < 0.2 else None,
        )

    def _effective(self, c: _Contract) -> date:
        # Mostly in the coming days; sometimes back-dated, which the projector must handle.
        return c.clock.date() + timedelta(days=self.rng.randint(-10, 21))

    def _next(self, c: _Contract) -> ev.Event:
        return _MAKERS[self._kind(c)](self, c)

    def _kind(self, c: _Contract) -> str:
        """The next event's type: drawn from the mix, then made one the contract can take."""
        rng = self.rng
        kind = rng.choices(self.kinds, self.weights)[0]
        if c.terminated and kind not in ev.RELATIONSHIP_EVENT_TYPES:
            kind = "ClientContactLogged"  # all a terminated contract takes
        elif not c.assignments and kind not in ev.RELATIONSHIP_EVENT_TYPES:
            kind = "AssignmentStarted"  # every assignment has ended: something to act on
        if kind == "ContractTerminated" and c.version < c.length - 5:
            kind = "RatesAdjusted"  # termination comes late, if at all: the stream goes on
        if kind == "MarkupNegotiationClosed" and not c.negotiations:
            kind = "MarkupNegotiationOpened"
        # At most two negotiations and two raise requests open at a time on one contract.
        if kind == "MarkupNegotiationOpened" and len(c.negotiations) >= 2:
            kind = "MarkupProposed"
        if kind == "RaiseRequested" and len(c.raises) >= 2:
            kind = rng.choice(["RaiseApproved", "RaiseDeclined"])
        # Something to act on first: a negotiation to propose in, a request to decide.
        if kind in ("MarkupProposed", "MarkupAgreed") and not c.negotiations:
            kind = "MarkupNegotiationOpened"
        if kind in ("RaiseApproved", "RaiseDeclined") and not c.raises:
            kind = "RaiseRequested"
        return kind


def _rates_adjusted(g: Generator, c: _Contract) -> ev.Event:
    a = g.rng.choice(c.assignments)
    a.pay = money(a.pay * (1 + g._pct(0, 6) / 100))
    a.bill = money(a.bill * (1 + g._pct(-1, 7) / 100))
    a.bill = max(a.bill, a.pay + CENT)
    return g._event(
        c,
        ev.RatesAdjusted,
        assignment_id=a.assignment_id,
        pay_rate=a.pay,
        bill_rate=a.bill,
        effective_date=g._effective(c),
        reason=g.rng.choice(_RATE_REASONS),
    )


def _negotiation_opened(g: Generator, c: _Contract) -> ev.Event:
    rng = g.rng
    nid = c.new_id("N")
    c.negotiations[nid] = 0
    # A third of negotiations cover every active assignment of the contract.
    on = None if rng.random() < 0.33 else rng.choice(c.assignments).assignment_id
    c.scope[nid] = on
    return g._event(
        c,
        ev.MarkupNegotiationOpened,
        negotiation_id=nid,
        assignment_id=on,
        initiated_by=rng.choice(["client", "agency"]),
        reason="procurement asks for a cheaper markup",
    )


def _markup_proposed(g: Generator, c: _Contract, nid: str | None = None) -> ev.Event:
    rng = g.rng
    nid = rng.choice(list(c.negotiations)) if nid is None else nid
    c.negotiations[nid] += 1
    return g._event(
        c,
        ev.MarkupProposed,
        negotiation_id=nid,
        proposed_by=rng.choice(["client", "agency"]),
        markup_pct=g._pct(15, 45),
        note=rng.choice([None, "their first offer", "counter-offer"]),
    )


def _markup_agreed(g: Generator, c: _Contract) -> ev.Event:
    # Agree on one that has seen a proposal, if any has; else propose in it first.
    nid = max(c.negotiations, key=c.negotiations.__getitem__)
    if c.negotiations[nid] == 0:
        return _markup_proposed(g, c, nid)
    del c.negotiations[nid]
    # The generator does not follow which assignments the agreement re-prices; the next
    # RatesAdjusted starts from its own idea of the rates, which is still valid.
    return g._event(
        c,
        ev.MarkupAgreed,
        negotiation_id=nid,
        markup_pct=g._pct(18, 40),
        effective_date=g._effective(c),
    )


def _raise_requested(g: Generator, c: _Contract) -> ev.Event:
    rng = g.rng
    a = rng.choice(c.assignments)
    rid = c.new_id("R")
    requested = money(a.pay + Decimal(rng.randint(50, 300)) / 100)
    c.raises[rid] = (a, requested)
    return g._event(
        c,
        ev.RaiseRequested,
        raise_request_id=rid,
        assignment_id=a.assignment_id,
        requested_pay_rate=requested,
        requested_by=rng.choice(["staffer", "client", "agency"]),
        client_max_bill_rate=money(a.bill * Decimal("1.03")) if rng.random() < 0.4 else None,
    )


def _raise_approved(g: Generator, c: _Contract) -> ev.Event:
    rid = g.rng.choice(list(c.raises))
    a, requested = c.raises.pop(rid)
    a.pay = requested
    a.bill = max(money(a.bill * (1 + g._pct(0, 8) / 100)), a.pay + CENT)
    return g._event(
        c,
        ev.RaiseApproved,
        raise_request_id=rid,
        new_pay_rate=a.pay,
        new_bill_rate=a.bill,
        effective_date=g._effective(c),
    )


def _raise_declined(g: Generator, c: _Contract) -> ev.Event:
    rid = g.rng.choice(list(c.raises))
    del c.raises[rid]
    return g._event(
        c, ev.RaiseDeclined, raise_request_id=rid, reason="would put us in a loss position"
    )


def _bypass_threat(g: Generator, c: _Contract) -> ev.Event:
    rng = g.rng
    # Now and then about an assignment that has ended (a move after the end is a bypass), or
    # any, when none is active.
    a = (
        rng.choice(c.ended)
        if c.ended and (not c.assignments or rng.random() < 0.3)
        else rng.choice(c.assignments)
    )
    return g._event(
        c,
        ev.BypassThreatReported,
        assignment_id=a.assignment_id,
        staffer_id=a.staffer_id,
        kind=rng.choice(["threatened_move_to_other_agency", "direct_hire_attempt"]),
        description="client says another agency would place them for less",
    )


def _complaint(g: Generator, c: _Contract) -> ev.Event:
    return g._event(
        c,
        ev.ClientComplaintLogged,
        about=g.rng.choice(["recruiter_conduct", "candidate_quality", "billing", "other"]),
        legal_threat=g.rng.random() < 0.05,
        description="invoice double-counted overtime",
    )


def _contact(g: Generator, c: _Contract) -> ev.Event:
    rng = g.rng
    return g._event(
        c,
        ev.ClientContactLogged,
        channel=rng.choice(["call", "email", "meeting", "visit"]),
        direction=rng.choice(["outbound", "inbound"]),
        responded=rng.random() < 0.7,
        note=rng.choice([None, *_CONTACT_NOTES]),
    )


def _assignment_ended(g: Generator, c: _Contract) -> ev.Event:
    a = g.rng.choice(c.assignments)
    c.assignments.remove(a)
    c.ended.append(a)
    # What was open on it stays open in the log; the writer takes no more of it but a closing.
    for rid, (on, _) in list(c.raises.items()):
        if on is a:
            del c.raises[rid]
    for nid, aid in c.scope.items():
        if aid == a.assignment_id:
            c.negotiations.pop(nid, None)
    return g._event(
        c,
        ev.AssignmentEnded,
        assignment_id=a.assignment_id,
        end_date=g._effective(c),
        reason=g.rng.choice(_END_REASONS),
    )


def _negotiation_closed(g: Generator, c: _Contract) -> ev.Event:
    nid = g.rng.choice(list(c.negotiations))
    del c.negotiations[nid]
    return g._event(
        c,
        ev.MarkupNegotiationClosed,
        negotiation_id=nid,
        outcome=g.rng.choice(["rejected", "withdrawn", "expired"]),
    )


def _contract_amended(g: Generator, c: _Contract) -> ev.Event:
    rng = g.rng
    terms: dict[str, Any] = {"markup_floor_pct": g._pct(10, 25)} if rng.random() < 0.4 else {}
    if rng.random() < 0.5:
        terms["msp_fee_pct"] = g._pct(0, 4)
    else:
        terms["burden_pct"] = g._pct(12, 32)
    return g._event(c, ev.ContractAmended, effective_date=g._effective(c), **terms)


def _account_manager_changed(g: Generator, c: _Contract) -> ev.Event:
    # Recorded by the manager who hands it over; everything after, by the new one.
    new = f"am.{g.rng.randint(1, 60):03d}"
    event = g._event(
        c,
        ev.AccountManagerChanged,
        account_manager_id=new,
        effective_date=g._effective(c),
        reason=f"{c.account_manager_id} moved to another team",
    )
    c.account_manager_id = new
    return event


def _contract_terminated(g: Generator, c: _Contract) -> ev.Event:
    c.terminated = True
    return g._event(
        c, ev.ContractTerminated, effective_date=g._effective(c), reason="client went elsewhere"
    )


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _hours_reported(g: Generator, c: _Contract) -> ev.Event:
    rng = g.rng
    a = rng.choice(c.assignments)
    # This week's, or (a late timesheet) one of the weeks before, within the term.
    week = _monday(c.clock.date()) - timedelta(weeks=rng.choice([0, 0, 0, 1, 2]))
    week = min(max(week, _monday(a.start)), _monday(a.end))
    share = Decimal(rng.choice([30, 55, 80, 95, 100, 100, 100, 105])) / 100
    regular = (a.hours_per_week * share).quantize(Decimal("0.5"), rounding=ROUND_HALF_UP)
    ot = Decimal(rng.choice([0, 0, 0, 2, 4, 8]))
    return g._event(
        c,
        ev.HoursReported,
        assignment_id=a.assignment_id,
        week=week,
        regular_hours=min(regular, Decimal(160)),
        ot_hours=ot,
        dt_hours=Decimal(rng.choice([0, 0, 0, 0, 0, 4])),
        source=rng.choice(["timesheet", "timesheet", "estimate", "import"]),
    )


# How each type of event after the signing is made up.
_MAKERS: dict[str, Callable[[Generator, _Contract], ev.Event]] = {
    "ClientContactLogged": _contact,
    "RatesAdjusted": _rates_adjusted,
    "MarkupNegotiationOpened": _negotiation_opened,
    "MarkupProposed": _markup_proposed,
    "MarkupAgreed": _markup_agreed,
    "RaiseRequested": _raise_requested,
    "RaiseApproved": _raise_approved,
    "RaiseDeclined": _raise_declined,
    "BypassThreatReported": _bypass_threat,
    "ClientComplaintLogged": _complaint,
    "AssignmentStarted": lambda g, c: g._start(c),
    "AssignmentEnded": _assignment_ended,
    "MarkupNegotiationClosed": _negotiation_closed,
    "ContractAmended": _contract_amended,
    "AccountManagerChanged": _account_manager_changed,
    "ContractTerminated": _contract_terminated,
    "HoursReported": _hours_reported,
}


def _split(total: int, parts: int, minimum: int, rng: random.Random) -> list[int]:
    """`total` events over `parts` contracts, each at least `minimum`, unevenly."""
    spare = total - parts * minimum
    weights = [rng.uniform(0.3, 1.7) for _ in range(parts)]
    scale = spare / sum(weights)
    counts = [minimum + int(w * scale) for w in weights]
    for k in range(total - sum(counts)):
        counts[k % parts] += 1
    return counts


def history(
    rng: random.Random, contracts: int = 1, events: int = 30, mix: dict[str, int] | None = None
) -> list[ev.Event]:
    """A log of `contracts` contracts of 2 to `events` events each, every event accepted by the
    writer's `decide`, the contracts' streams merged in time order."""
    gen = Generator(rng, EVERY_TYPE if mix is None else mix, check=True)
    streams = [gen.contract(i, rng.randint(2, events)) for i in range(contracts)]
    return list(heapq.merge(*streams, key=lambda e: e.occurred_at))


@dataclass
class Log:
    records: list[tuple[bytes, bytes]]  # (key, value) in log order
    bytes: int
    by_type: dict[str, int]


def generate(
    n: int, contracts: int, seed: int, check: bool, mix: dict[str, int] | None = None
) -> Log:
    rng = random.Random(seed)
    gen = Generator(rng, mix, check=check)
    streams = []
    by_type: dict[str, int] = {}
    for i, count in enumerate(_split(n, contracts, 2, rng)):
        events = gen.contract(i, count)
        stream = []
        for e in events:
            by_type[e.type] = by_type.get(e.type, 0) + 1
            stream.append((e.occurred_at, e.contract_id.encode(), encode_event(e)))
        streams.append(stream)
    # The log in time order; each contract's own events stay in stream order.
    merged = heapq.merge(*streams, key=lambda t: t[0])
    records = [(key, value) for _, key, value in merged]
    return Log(records, sum(len(v) for _, v in records), by_type)


async def produce(bootstrap: str, topic: str, partitions: int, log: Log, compression: str) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=20,
        max_batch_size=1024 * 1024,
        max_request_size=8 * 1024 * 1024,
        compression_type=None if compression == "none" else compression,
    )
    await producer.start()
    t0 = time.perf_counter()
    try:
        # Each record where `producer.send(key=...)` would put it, among the topic's partitions
        # (`partitions` of them, as the broker's metadata says).
        await send_keyed(producer, topic, log.records)
    finally:
        await producer.stop()
    return time.perf_counter() - t0


async def append(bootstrap: str, topic: str, events: Iterable[ev.Event], copies: int = 1) -> None:
    """Each event `copies` times on the events `topic`, keyed by its contract (no transaction)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        sent = [
            await producer.send(topic, encode_event(e), key=e.contract_id.encode())
            for e in events
            for _ in range(copies)
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
