# Long: a fold handler per event type, and the shared timeline that keeps a fold linear.
"""The writer's view of one contract, folded from that contract's accepted events alone.

It holds just what the writer's checks need: who manages the contract, whether it is
terminated, which assignments, negotiations (with the assignment each is about) and raise
requests exist and in which status, and the `event_id` of every accepted event with a hash of
its content (idempotency: `SeenIds`, whose older ids live in sealed chunks, see `ids.py`).

A writer reads these states from its state topic (`stored.py`), but folds the events topic
when that topic lacks them (an old log, the topic lost), so folding must stay linear in the
number of events. A naive frozen state copies
its maps on each event: O(n²). Here the successive states
of one contract share one append-only `_Timeline` of writes, and each state reads its maps as
of its own version through `_MapView`; evolving the newest state appends in O(1), and every
older state still reads exactly what it held. Evolving an older state again (a branch) copies
its maps once into a fresh timeline, so branches never see each other's writes. `evolve`
appends to that shared timeline, so one contract's states are evolved from one thread at a
time, as the writer (one asyncio loop) does.
"""

from __future__ import annotations

import hashlib
import sys
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import singledispatch
from itertools import islice
from typing import Any, Final, Generic, Literal, NamedTuple, Protocol, TypeVar, cast, overload

from pydantic import ConfigDict, ValidationError, create_model

from events import catalogue as ev
from events.catalogue import STAMPED_FIELDS, AssignmentStatus
from events.dispatch import require_every_event_type, unhandled
from events.serialization import decode_event, read_head
from writemodel.ids import ENTRY, ChunksNeeded, SeenEvent, SeenIds

NegotiationStatus = Literal["open", "closed"]
RaiseRequestStatus = Literal["open", "decided"]

_STAMPED: Final[set[str]] = set(STAMPED_FIELDS)

K = TypeVar("K")
V = TypeVar("V")
D = TypeVar("D")


# A contract's negotiations, raise requests and assignment terms: tuples, as the state record
# stores them (`writemodel.stored`), so that they are written as they are.


class NegotiationState(NamedTuple):
    assignment_id: str | None
    """The one assignment negotiated; None: every active assignment of the contract."""
    status: NegotiationStatus


class RaiseRequestState(NamedTuple):
    assignment_id: str
    status: RaiseRequestStatus


class AssignmentTerm(NamedTuple):
    """What the writer checks reported hours against: the weeks an assignment may report (from
    its start to its expected end, or to its end once ended) and whether it works overtime."""

    start_date: date
    end_date: date
    ot_exempt: bool = False


def content_hash(event: ev.EventBase) -> str:
    """What the submitter said, not what the service stamped: the sha256 (hex) of the event as
    `encode_event` writes it, with `recorded_by`, `recorded_at` and `stream_version` cleared.

    A redelivered submission is stamped anew by the API, and a logged event carries its
    stream version; neither may make the same event look different.
    """
    # The same bytes as `encode_event(event.model_copy(update=...))` (a test holds them equal),
    # without a copy per event: fold hashes every event of a partition at start-up.
    return content_digest(event).hex()


def content_digest(event: ev.EventBase) -> bytes:
    """`content_hash` as its 32 bytes (what a packed id entry holds)."""
    encoded = event.__pydantic_serializer__.to_json(event, exclude_none=True, exclude=_STAMPED)
    return _sha256(encoded).digest()


_sha256 = hashlib.sha256


class _History(Generic[K, V]):
    """Every write to one map of one contract, in version order, never changed after the fact.

    Keys are never removed from the writer's maps (an ended assignment stays, as "ended"), so a
    key exists at version v exactly when its first write is at or before v.
    """

    __slots__ = ("_born", "_earlier", "_keys", "_last")

    def __init__(self) -> None:
        self._last: dict[K, tuple[int, V]] = {}
        # Most keys are written once (most assignments): only keys written
        # again keep a list of what they held before.
        self._earlier: dict[K, list[tuple[int, V]]] = {}
        self._keys: list[K] = []
        self._born: list[int] = []

    def write(self, version: int, key: K, value: V) -> None:
        last = self._last.get(key)
        if last is None:
            self._keys.append(key)
            self._born.append(version)
        else:
            self._earlier.setdefault(key, []).append(last)
        self._last[key] = (version, value)

    def get(self, key: K, version: int) -> V | None:
        last = self._last.get(key)
        if last is None:
            return None
        if last[0] <= version:
            return last[1]
        for written_at, value in reversed(self._earlier.get(key, ())):
            if written_at <= version:
                return value
        return None

    def count(self, version: int) -> int:
        return bisect_right(self._born, version)

    def keys(self, version: int) -> Iterator[K]:
        return islice(self._keys, self.count(version))


class _MapView(Mapping[K, V]):
    """One map of a contract as of one stream version; read-only."""

    __slots__ = ("_history", "timeline", "version")

    def __init__(self, timeline: _Timeline, history: _History[K, V], version: int) -> None:
        self.timeline = timeline
        self._history = history
        self.version = version

    def __getitem__(self, key: K) -> V:
        value = self._history.get(key, self.version)
        if value is None:
            raise KeyError(key)
        return value

    @overload
    def get(self, key: K, /) -> V | None: ...
    @overload
    def get(self, key: K, /, default: V | D) -> V | D: ...
    def get(self, key: K, /, default: object = None) -> object:
        value = self._history.get(key, self.version)
        return default if value is None else value

    def __contains__(self, key: object) -> bool:
        return self._history.get(cast(K, key), self.version) is not None

    def __iter__(self) -> Iterator[K]:
        return self._history.keys(self.version)

    def __len__(self) -> int:
        return self._history.count(self.version)

    def __repr__(self) -> str:
        return repr(dict(self))


class _Timeline:
    """The writes of one chain of states of one contract; `head` is the newest state's version,
    the only one allowed to append."""

    __slots__ = ("assignments", "head", "negotiations", "raise_requests")

    def __init__(self, head: int) -> None:
        self.head = head
        self.assignments: _History[str, AssignmentStatus] = _History()
        self.negotiations: _History[str, NegotiationState] = _History()
        self.raise_requests: _History[str, RaiseRequestState] = _History()

    @classmethod
    def copied_from(cls, state: ContractState) -> _Timeline:
        version = state.version
        timeline = cls(version)
        for assignment_id, status in state.assignments.items():
            timeline.assignments.write(version, assignment_id, status)
        for negotiation_id, negotiation in state.negotiations.items():
            timeline.negotiations.write(version, negotiation_id, negotiation)
        for raise_request_id, request in state.raise_requests.items():
            timeline.raise_requests.write(version, raise_request_id, request)
        return timeline


@dataclass(frozen=True, slots=True)
class ContractState:
    """The writer's state of one contract after its event at `version`.

    The maps are read-only. Built by `evolve`, they are views sharing one timeline with the
    contract's other states; plain dicts work too (tests, tools), at the cost of one copy on
    the next `evolve`. Equality compares content, whatever the maps are.
    """

    contract_id: str
    version: int
    """The `stream_version` of the last event applied."""
    account_manager_id: str
    client_id: str
    client_name: str
    terminated: bool = False
    assignments: Mapping[str, AssignmentStatus] = field(default_factory=dict)
    negotiations: Mapping[str, NegotiationState] = field(default_factory=dict)
    raise_requests: Mapping[str, RaiseRequestState] = field(default_factory=dict)
    seen: SeenIds = field(default_factory=SeenIds)
    assignment_terms: Mapping[str, AssignmentTerm] = field(default_factory=dict)
    """Each assignment's term, for the checks of HoursReported (copied when it changes: only
    when an assignment starts or ends)."""
    """Every accepted `event_id` of this contract's stream, and what it said."""

    def _appendable_timeline(self) -> _Timeline | None:
        maps = (self.assignments, self.negotiations, self.raise_requests)
        first = maps[0]
        if not isinstance(first, _MapView):
            return None
        timeline = first.timeline
        if timeline.head != self.version:
            return None
        for view in maps:
            if not isinstance(view, _MapView) or view.timeline is not timeline:
                return None
            if view.version != self.version:
                return None
        return timeline


class _Before(Protocol):
    """What an event's handler reads of the state before it."""

    @property
    def negotiations(self) -> Mapping[str, NegotiationState]: ...

    @property
    def raise_requests(self) -> Mapping[str, RaiseRequestState]: ...


@dataclass(slots=True)
class _Step:
    """One event being applied: the state before it, and where its writes go."""

    before: _Before
    timeline: _Timeline
    version: int
    client_name: str
    terminated: bool
    account_manager_id: str
    assignment_terms: Mapping[str, AssignmentTerm]

    @classmethod
    def opening(cls, event: ev.ContractSigned) -> _Step:
        """The contract's first step, its signing at version 1, on a fresh timeline."""
        timeline = _Timeline(1)
        return cls(
            _Latest(timeline), timeline, 1, event.client_name, False, event.account_manager_id, {}
        )

    def set_term(self, assignment_id: str, term: AssignmentTerm) -> None:
        # A new map, never a write into the one earlier states share.
        self.assignment_terms = {**self.assignment_terms, assignment_id: term}

    def state(self, contract_id: str, client_id: str, seen: SeenIds) -> ContractState:
        """The contract's state after this step: its maps as views of the timeline at the
        step's version."""
        timeline, version = self.timeline, self.version
        return ContractState(
            contract_id=contract_id,
            version=version,
            account_manager_id=self.account_manager_id,
            client_id=client_id,
            client_name=self.client_name,
            terminated=self.terminated,
            assignments=_MapView(timeline, timeline.assignments, version),
            negotiations=_MapView(timeline, timeline.negotiations, version),
            raise_requests=_MapView(timeline, timeline.raise_requests, version),
            seen=seen,
            assignment_terms=self.assignment_terms,
        )


@singledispatch
def _apply(event: ev.EventBase, step: _Step) -> None:
    """By event class: every type has its own (events.dispatch)."""
    unhandled("the writer's fold", event)


@_apply.register
def _version_only(
    event: ev.ContractSigned  # opens the stream, in `_signed`
    | ev.RatesAdjusted
    | ev.MarkupProposed
    | ev.BypassThreatReported
    | ev.ClientComplaintLogged
    | ev.ClientContactLogged
    | ev.HoursReported,
    step: _Step,
) -> None:
    """The event only advances the version: nothing the writer checks depends on it."""


@_apply.register
def _contract_amended(event: ev.ContractAmended, step: _Step) -> None:
    if event.client_name is not None:
        step.client_name = event.client_name


@_apply.register
def _account_manager_changed(event: ev.AccountManagerChanged, step: _Step) -> None:
    step.account_manager_id = event.account_manager_id


@_apply.register
def _contract_terminated(event: ev.ContractTerminated, step: _Step) -> None:
    step.terminated = True


@_apply.register
def _assignment_started(event: ev.AssignmentStarted, step: _Step) -> None:
    step.timeline.assignments.write(step.version, event.assignment_id, "active")
    term = AssignmentTerm(event.start_date, event.expected_end_date, event.ot_exempt)
    step.set_term(event.assignment_id, term)


@_apply.register
def _assignment_ended(event: ev.AssignmentEnded, step: _Step) -> None:
    step.timeline.assignments.write(step.version, event.assignment_id, "ended")
    term = step.assignment_terms.get(event.assignment_id)
    if term is not None:
        step.set_term(event.assignment_id, term._replace(end_date=event.end_date))


@_apply.register
def _negotiation_opened(event: ev.MarkupNegotiationOpened, step: _Step) -> None:
    negotiation = NegotiationState(event.assignment_id, "open")
    step.timeline.negotiations.write(step.version, event.negotiation_id, negotiation)


@_apply.register
def _negotiation_ended(event: ev.MarkupAgreed | ev.MarkupNegotiationClosed, step: _Step) -> None:
    negotiation = step.before.negotiations.get(event.negotiation_id)
    # The writer never ends an unknown negotiation; should an older log hold one, it is
    # recorded as it stands: closed, about no assignment in particular.
    assignment_id = negotiation.assignment_id if negotiation is not None else None
    closed = NegotiationState(assignment_id, "closed")
    step.timeline.negotiations.write(step.version, event.negotiation_id, closed)


@_apply.register
def _raise_requested(event: ev.RaiseRequested, step: _Step) -> None:
    request = RaiseRequestState(event.assignment_id, "open")
    step.timeline.raise_requests.write(step.version, event.raise_request_id, request)


@_apply.register
def _raise_decided(event: ev.RaiseApproved | ev.RaiseDeclined, step: _Step) -> None:
    request = step.before.raise_requests.get(event.raise_request_id)
    # The writer never appends a decision on an unknown request; should an older log hold
    # one, there is nothing to decide, and refusing to start would help no one.
    if request is not None:
        decided = RaiseRequestState(request.assignment_id, "decided")
        step.timeline.raise_requests.write(step.version, event.raise_request_id, decided)


require_every_event_type("the writer's fold", _apply.registry)

_VERSION_ONLY: Final = frozenset(
    name
    for name, model in ev.EVENT_TYPES.items()
    if _apply.dispatch(model) is _version_only and model is not ev.ContractSigned
)
"""The types whose events change nothing the writer checks but the version (and the ids):
folded from their bytes' head alone."""

_READS: Final[dict[type[ev.EventBase], tuple[str, ...]]] = {
    ev.ContractSigned: ("contract_id", "client_id", "client_name", "account_manager_id"),
    ev.ContractAmended: ("client_name",),
    ev.AccountManagerChanged: ("account_manager_id",),
    ev.ContractTerminated: (),
    ev.AssignmentStarted: ("assignment_id", "start_date", "expected_end_date", "ot_exempt"),
    ev.AssignmentEnded: ("assignment_id", "end_date"),
    ev.MarkupNegotiationOpened: ("negotiation_id", "assignment_id"),
    ev.MarkupAgreed: ("negotiation_id",),
    ev.MarkupNegotiationClosed: ("negotiation_id",),
    ev.RaiseRequested: ("raise_request_id", "assignment_id"),
    ev.RaiseApproved: ("raise_request_id",),
    ev.RaiseDeclined: ("raise_request_id",),
}
"""What the fold reads of an event of each other type (`_Folding` of a ContractSigned, each
handler of the others): `LogFold.add_record` validates these fields alone, with the
catalogue's own types, instead of the whole event."""


def _reader(model: type[ev.EventBase], names: tuple[str, ...]) -> Callable[[bytes], Any]:
    """Validates the JSON of a `model` event into an object with the fields `names` alone."""
    fields: dict[str, Any] = {
        n: (model.model_fields[n].annotation, model.model_fields[n]) for n in names
    }
    read = create_model(f"{model.__name__}Read", __config__=ConfigDict(extra="ignore"), **fields)
    return read.__pydantic_validator__.validate_json


_READERS: Final = {
    model.model_fields["type"].default: (_reader(model, names), _apply.dispatch(model))
    for model, names in _READS.items()
}
"""By type name: the reader of what the fold needs, and the handler it goes to."""


def evolve(state: ContractState | None, event: ev.Event) -> ContractState:
    """The state after `event`, an event of the log carrying its `stream_version`.

    `state` is left as it was. Raises ValueError when the log is corrupt: a version other than
    the next one, an event of another contract, a stream not opened by `ContractSigned` or
    opened twice, an `event_id` appended twice. A reference to an unknown assignment,
    negotiation or raise request is recorded as it stands: the writer refuses those before
    appending, and a partition whose log holds one must still be able to start.
    """
    expected = 1 if state is None else state.version + 1
    if event.stream_version != expected:
        raise _out_of_order(event, expected)
    if state is None:
        if not isinstance(event, ev.ContractSigned):
            raise _not_opened(event)
        ids = SeenIds().added(event.event_id, content_hash(event))
        return _Step.opening(event).state(event.contract_id, event.client_id, ids)
    if event.contract_id != state.contract_id:
        raise ValueError(
            f"{event.type} {event.event_id} of contract {event.contract_id} applied to the "
            f"state of contract {state.contract_id}"
        )
    if isinstance(event, ev.ContractSigned):
        raise _signed_again(event, expected)
    try:
        seen = state.seen.get(event.event_id)
    except ChunksNeeded:
        # Only a written chunk could tell, and a fold does no I/O: the writer checked this id
        # before appending it.
        seen = None
    if seen is not None:
        raise ValueError(
            f"event {event.event_id} of contract {state.contract_id} appended twice, as "
            f"versions {seen.stream_version} and {expected}: the log is corrupt"
        )

    timeline = state._appendable_timeline() or _Timeline.copied_from(state)
    step = _Step(
        state,
        timeline,
        expected,
        state.client_name,
        state.terminated,
        state.account_manager_id,
        state.assignment_terms,
    )
    # Nothing below raises: a half-applied event would be seen by every later state.
    _apply(event, step)
    timeline.head = expected
    ids = state.seen.added(event.event_id, content_hash(event))
    return step.state(state.contract_id, state.client_id, ids)


# How `evolve` and `LogFold` word a log whose events do not follow on their contract's stream.


def _out_of_order(event: ev.Event, expected: int) -> ValueError:
    return ValueError(
        f"{event.type} {event.event_id} of contract {event.contract_id} has stream version "
        f"{event.stream_version}, expected {expected}: the log is corrupt"
    )


def _not_opened(event: ev.Event) -> ValueError:
    return ValueError(
        f"contract {event.contract_id} opens with {event.type} {event.event_id}, "
        "not ContractSigned: the log is corrupt"
    )


def _signed_again(event: ev.ContractSigned, version: int) -> ValueError:
    return ValueError(
        f"contract {event.contract_id} signed again by {event.event_id} at version "
        f"{version}: the log is corrupt"
    )


def fold(events: Iterable[ev.Event]) -> dict[str, ContractState]:
    """The state of every contract of `events` (a partition of the events topic, in order)."""
    folding = LogFold()
    for event in events:
        folding.add(event)
    return folding.states()


class _Latest:
    """A contract's maps as its timeline holds them now (the newest write of each key)."""

    __slots__ = ("negotiations", "raise_requests")

    def __init__(self, timeline: _Timeline) -> None:
        self.negotiations = _MapView(timeline, timeline.negotiations, sys.maxsize)
        self.raise_requests = _MapView(timeline, timeline.raise_requests, sys.maxsize)


class _Folding:
    """One contract being folded by `LogFold`: mutable, and private to the fold. Its one step
    is applied every event in turn, reading its maps as the timeline holds them now."""

    __slots__ = ("client_id", "contract_id", "ids", "step", "timeline")

    def __init__(self, event: ev.ContractSigned, entry: bytes) -> None:
        self.contract_id = event.contract_id
        self.client_id = event.client_id
        self.step = _Step.opening(event)
        self.timeline = self.step.timeline
        self.ids = bytearray(entry)

    @property
    def version(self) -> int:
        return self.step.version

    def advance(self, version: int, entry: bytes) -> None:
        """The contract's next event, at `version`, changes nothing but the version."""
        self.timeline.head = self.step.version = version
        self.ids += entry

    def next(self, apply: Callable[[Any, _Step], None], event: object, entry: bytes) -> None:
        """The contract's next event applied by `apply` (its handler), `entry` its packed id."""
        step = self.step
        step.version += 1
        apply(event, step)
        self.timeline.head = step.version
        self.ids += entry


class LogFold:
    """Contracts folded from their log in one pass, as a writer's first fold of a partition
    does: the states `evolve` would reach event after event, with the same checks (a corrupt
    log raises ValueError), without a frozen state per event. Each contract's maps are written
    into one timeline, its event ids packed as they come, and at `states` its ids sealed in
    bulk (`SeenIds.folded`) and checked for an id appended twice."""

    def __init__(self) -> None:
        self._contracts: dict[str, _Folding] = {}

    def __contains__(self, contract_id: object) -> bool:
        return contract_id in self._contracts

    def __len__(self) -> int:
        return len(self._contracts)

    def add_record(self, data: bytes) -> None:
        """The contract's next event as the log holds it, its record's bytes: what `add` does
        with the decoded event. Records written as `encode_event` writes an event of the current
        schema (`read_head`) have their content hash taken from their bytes, and only what the
        fold reads of them validated: nothing more than their head for most (they change
        nothing but the version). Any other record is decoded whole (upcast, validated) and
        added, as is a record that does not follow on its contract's stream (to word why)."""
        head = read_head(data)
        if head is None:
            self.add(decode_event(data))
            return
        digest = _sha256(head.content).digest()
        c = self._contracts.get(head.contract_id)
        kind = head.type
        if c is None:
            if kind == "ContractSigned" and head.stream_version == 1:
                signed = self._read(kind, data)
                if signed is not None:
                    self._contracts[head.contract_id] = _Folding(signed, head.event_id + digest)
                    return
        elif head.stream_version == c.version + 1 and kind != "ContractSigned":
            if kind in _VERSION_ONLY:
                c.advance(head.stream_version, head.event_id + digest)
                return
            event = self._read(kind, data)
            if event is not None:
                c.next(_READERS[kind][1], event, head.event_id + digest)
                return
        self.add(decode_event(data), digest)

    @staticmethod
    def _read(kind: str, data: bytes) -> Any:
        """What the fold reads of an event of type `kind`, None if those fields are not valid
        (`add` then words why)."""
        try:
            return _READERS[kind][0](data)
        except ValidationError:
            return None

    def add(self, event: ev.Event, digest: bytes | None = None) -> None:
        """The contract's next event of the log (its first: `ContractSigned`, version 1);
        `digest`: its `content_digest` when already known."""
        c = self._contracts.get(event.contract_id)
        expected = 1 if c is None else c.version + 1
        if event.stream_version != expected:
            raise _out_of_order(event, expected)
        entry = event.event_id.bytes + (content_digest(event) if digest is None else digest)
        if c is None:
            if not isinstance(event, ev.ContractSigned):
                raise _not_opened(event)
            self._contracts[event.contract_id] = _Folding(event, entry)
            return
        if isinstance(event, ev.ContractSigned):
            raise _signed_again(event, expected)
        c.next(_apply, event, entry)

    def states(self) -> dict[str, ContractState]:
        """The state of every contract folded, by contract id, handed over: the fold is empty
        after (each contract's packed ids freed as its state is made, not all held twice: a
        writer folds all its partitions at once)."""
        out = {}
        for cid in list(self._contracts):
            c = self._contracts.pop(cid)
            packed = bytes(c.ids)
            ids = {packed[at : at + 16] for at in range(0, len(packed), ENTRY)}
            if len(ids) != c.version:
                raise ValueError(
                    f"contract {cid}: {c.version - len(ids)} event ids appended twice: "
                    "the log is corrupt"
                )
            out[cid] = c.step.state(cid, c.client_id, SeenIds.folded(packed))
        return out


__all__ = [
    "AssignmentStatus",
    "AssignmentTerm",
    "ContractState",
    "LogFold",
    "NegotiationState",
    "NegotiationStatus",
    "RaiseRequestState",
    "RaiseRequestStatus",
    "SeenEvent",
    "SeenIds",
    "content_digest",
    "content_hash",
    "evolve",
    "fold",
]
