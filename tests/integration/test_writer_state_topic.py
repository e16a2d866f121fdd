"""The writer's state and ids topics: a restart takes its partitions over from the state topic
(old event ids read from the ids topic only when asked about), and when either is lost the
writer rebuilds both from the log and decides exactly as before."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner

from events.messages import Submission, Submitter, Verdict, decode_verdict, encode_submission
from events.serialization import encode_event
from events.topics import Topics, TopicSpec
from services import kafka_admin
from services.kafka_log import partitions_of, read_partition, read_partition_events
from services.writer.worker import Writer
from simulation import examples
from tests.support.stack import Scratch, Stack, unique
from writemodel.ids import CHUNK
from writemodel.state import ContractState, fold
from writemodel.stored import PARTITION_KEY, decode_state

OWNER = Submitter(role="account_manager", principal="u.jones", account_manager_id="am.jones")
CONTRACTS = 6
CONTACTS = 3  # events after the signature, per contract


def submission(cid: str, type_name: str = "ClientContactLogged", **fields: Any) -> Submission:
    return examples.submission(
        type_name, submitter=OWNER, recorded_at=datetime.now(UTC), contract_id=cid, **fields
    )


def again(original: Submission) -> Submission:
    """The same event sent again (a new HTTP attempt, stamped anew)."""
    event = original.event.model_copy(update={"recorded_at": datetime.now(UTC)})
    return original.model_copy(update={"submission_id": uuid.uuid4(), "event": event})


class Desk:
    """Sends submissions as the API does and waits for their verdicts."""

    def __init__(self, stack: Stack, t: Topics) -> None:
        self.t = t
        self.producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all")
        self.verdicts = AIOKafkaConsumer(
            bootstrap_servers=stack.bootstrap,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        self.seen: dict[uuid.UUID, Verdict] = {}

    async def submit(self, *subs: Submission) -> list[Verdict]:
        name = self.t.submissions.name
        sent = [
            await self.producer.send(name, encode_submission(s), key=s.event.contract_id.encode())
            for s in subs
        ]
        await asyncio.gather(*sent)
        deadline = time.monotonic() + 60
        while any(s.submission_id not in self.seen for s in subs):
            assert time.monotonic() < deadline, "the writer gave no verdict"
            batch = await self.verdicts.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    v = decode_verdict(r.value or b"")
                    self.seen[v.submission_id] = v
        return [self.seen[s.submission_id] for s in subs]


@asynccontextmanager
async def desk(stack: Stack, t: Topics) -> AsyncIterator[Desk]:
    d = Desk(stack, t)
    await d.producer.start()
    await d.verdicts.start()
    # Topics just made: a writer joining its group before their metadata is known would be
    # assigned nothing until its next metadata refresh (minutes).
    for spec in t.all():
        deadline = time.monotonic() + 30
        while len(await d.producer.partitions_for(spec.name)) < spec.partitions:
            assert time.monotonic() < deadline, f"topic {spec.name} has no metadata"
            await asyncio.sleep(0.1)
    d.verdicts.assign(partitions_of(t.verdicts))
    try:
        yield d
    finally:
        await d.producer.stop()
        await d.verdicts.stop()


@asynccontextmanager
async def writer(stack: Stack, t: Topics) -> AsyncIterator[None]:
    """A writer running in this process until the block ends (stopped as on SIGTERM)."""
    stop = asyncio.Event()
    w = Writer(stack.bootstrap, t, f"{t.submissions.name}.writer")
    task = asyncio.create_task(w.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def state_topic(
    stack: Stack, t: Topics, skip_unreadable: bool = False
) -> tuple[dict[str, ContractState], int]:
    """The latest state of each contract in the state topic (as compaction keeps it), and how
    many completeness records (one per partition folded from the log) it holds."""
    states: dict[str, ContractState] = {}
    folds = 0
    for p in range(t.writer_state.partitions):
        async for r in read_partition(stack.bootstrap, t.writer_state.name, p):
            if r.key == PARTITION_KEY:
                folds += 1
            elif not (skip_unreadable and r.value == b'{"v": 99}'):
                state, _ = decode_state(r.value or b"")
                assert r.key == state.contract_id.encode()
                states[state.contract_id] = state
    return states, folds


async def folded_log(stack: Stack, t: Topics) -> dict[str, ContractState]:
    states: dict[str, ContractState] = {}
    for p in range(t.events.partitions):
        states |= fold(await read_partition_events(stack.bootstrap, t.events.name, p))
    return states


@dataclass(frozen=True)
class Contracted:
    stack: Stack
    t: Topics
    d: Desk
    cids: list[str]
    contacts: list[Submission]


@asynccontextmanager
async def contracted(scratch: Scratch) -> AsyncIterator[Contracted]:
    """CONTRACTS contracts signed and CONTACTS contacts logged on each, by a writer stopped
    since, on topics of their own; the desk stays open."""
    stack = scratch.stack
    t = await scratch.topics(name="wstate")
    cids = [unique("C") for _ in range(CONTRACTS)]
    contacts = [submission(cid) for _ in range(CONTACTS) for cid in cids]
    async with desk(stack, t) as d:
        async with writer(stack, t):
            signed = await d.submit(*(submission(cid, "ContractSigned") for cid in cids))
            verdicts = await d.submit(*contacts)
        assert {v.outcome for v in signed + verdicts} == {"accepted"}
        yield Contracted(stack, t, d, cids, contacts)


async def recreate_empty(stack: Stack, t: Topics, *specs: TopicSpec) -> None:
    """The writer's state topic (or `specs`) deleted and created again, empty."""
    names = [spec.name for spec in specs or (t.writer_state,)]
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(names)
        deadline = time.monotonic() + 30
        while set(names) & set(await admin.list_topics()):
            assert time.monotonic() < deadline, f"{names} were not deleted"
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    while True:  # until it exists again (a deletion can still be finishing)
        try:
            await kafka_admin.ensure_topics(stack.bootstrap, t)
            break
        except RuntimeError:
            assert time.monotonic() < deadline, f"{names} were not created again"
            await asyncio.sleep(0.2)


async def test_a_restart_takes_over_from_the_state_topic(scratch: Scratch) -> None:
    async with contracted(scratch) as c:
        stack, t, d, cids = c.stack, c.t, c.d, c.cids
        states, folds = await state_topic(stack, t)
        # One state per contract, exactly what the log folds to; each partition folded once
        # (when first taken, its log empty).
        assert states == await folded_log(stack, t)
        assert set(states) == set(cids)
        assert folds == t.events.partitions

        # A writer of before the state topic (a rolling upgrade) appends one event without
        # its state: the next takeover folds it on top of the states.
        await append_stateless(stack, t, cids[0], CONTACTS + 2)

        async with writer(stack, t):
            verdicts = await d.submit(*(submission(cid) for cid in cids))
        assert [(v.outcome, v.stream_version) for v in verdicts] == [("accepted", CONTACTS + 3)] + [
            ("accepted", CONTACTS + 2)
        ] * (CONTRACTS - 1)
        states, folds = await state_topic(stack, t)
        assert states == await folded_log(stack, t)
        assert folds == t.events.partitions  # the restart folded no partition's log again


async def append_stateless(stack: Stack, t: Topics, cid: str, version: int) -> None:
    """An event of `cid` at `version` in the events topic, in the partition the writer uses,
    with no state record."""
    event = examples.submission(
        "ClientContactLogged", submitter=OWNER, recorded_at=datetime.now(UTC), contract_id=cid
    ).event.model_copy(update={"stream_version": version})
    await send_to_partition_of(stack, t.events.name, cid, encode_event(event), t)


async def send_to_partition_of(stack: Stack, topic: str, cid: str, value: bytes, t: Topics) -> None:
    """`value` keyed `cid` to `topic`, in the partition the writer uses for `cid`."""
    parts = list(range(t.events.partitions))
    partition = DefaultPartitioner()(cid.encode(), parts, parts)
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=cid.encode(), partition=partition)
    finally:
        await producer.stop()


async def test_a_lost_state_topic_is_rebuilt_from_the_log(scratch: Scratch) -> None:
    async with contracted(scratch) as c:
        stack, t, d, cids, contacts = c.stack, c.t, c.d, c.cids, c.contacts
        async with writer(stack, t):
            first = await d.submit(again(contacts[0]))
        assert [(v.outcome, v.stream_version) for v in first] == [("duplicate", 2)]
        before = await folded_log(stack, t)

        await recreate_empty(stack, t)
        assert await state_topic(stack, t) == ({}, 0)

        async with writer(stack, t):
            redelivered = again(contacts[0])
            changed = examples.submission(
                "ClientContactLogged",
                submitter=OWNER,
                recorded_at=datetime.now(UTC),
                contract_id=cids[0],
                event_id=str(contacts[0].event.event_id),
                note="something else",
            )
            verdicts = await d.submit(redelivered, changed, submission(cids[0]))
        # Decided exactly as before the loss: the same event again is a duplicate of its
        # version, another event under its id is refused, the next one continues the stream.
        assert [(v.outcome, v.stream_version) for v in verdicts] == [
            ("duplicate", 2),
            ("refused", None),
            ("accepted", CONTACTS + 2),
        ]
        assert verdicts[1].code == "event_id_reused"
        states, folds = await state_topic(stack, t)
        after = await folded_log(stack, t)
        assert states == after
        assert {cid: s for cid, s in after.items() if cid != cids[0]} == {
            cid: s for cid, s in before.items() if cid != cids[0]
        }
        assert folds == t.events.partitions  # each partition folded from the log once more

        # A record the writer cannot read makes its partition fold the log again, not guess.
        await send_to_partition_of(stack, t.writer_state.name, cids[1], b'{"v": 99}', t)
        async with writer(stack, t):
            (verdict,) = await d.submit(submission(cids[1]))
        assert (verdict.outcome, verdict.stream_version) == ("accepted", CONTACTS + 2)
        states, folds = await state_topic(stack, t, skip_unreadable=True)
        assert states == await folded_log(stack, t)
        assert folds == t.events.partitions + 1


async def test_old_event_ids_are_answered_from_their_chunks_and_from_the_log_when_lost(
    scratch: Scratch,
) -> None:
    """An event id old enough to be sealed in the ids topic (not in the state record a takeover
    reads): its redelivery is a duplicate of its version and its reuse a 409 after a restart,
    after both derived topics are lost, and after the ids topic alone is lost."""
    stack = scratch.stack
    t = await scratch.topics(name="wids")
    cid = unique("C")
    contacts = [submission(cid) for _ in range(CHUNK + 6)]
    old = contacts[3]  # stream version 5, in the first chunk
    async with desk(stack, t) as d:
        async with writer(stack, t):
            verdicts = await d.submit(submission(cid, "ContractSigned"))
            verdicts += await d.submit(*contacts)
        assert {v.outcome for v in verdicts} == {"accepted"}
        states, _ = await state_topic(stack, t)
        assert states[cid].seen.written_chunks == 1  # versions 1-64 sealed, 65-71 inline
        assert states == await folded_log(stack, t)

        async def restart_and_ask(version: int) -> None:
            reused = examples.submission(
                "ClientContactLogged",
                submitter=OWNER,
                recorded_at=datetime.now(UTC),
                contract_id=cid,
                event_id=str(old.event.event_id),
                note="something else",
            )
            async with writer(stack, t):
                verdicts = await d.submit(again(old), reused, submission(cid))
            assert [(v.outcome, v.http_status, v.stream_version) for v in verdicts] == [
                ("duplicate", 200, 5),
                ("refused", 409, None),
                ("accepted", 201, version),
            ]
            assert verdicts[1].code == "event_id_reused"
            states, _ = await state_topic(stack, t)
            assert states == await folded_log(stack, t)

        await restart_and_ask(CHUNK + 8)
        await recreate_empty(stack, t, t.writer_state, t.writer_ids)
        await restart_and_ask(CHUNK + 9)
        await recreate_empty(stack, t, t.writer_ids)
        await restart_and_ask(CHUNK + 10)
