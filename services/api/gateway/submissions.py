"""The API's side of the submissions/verdicts conversation with the writer.

Each POST hands submissions to Kafka and waits for their verdicts. One listener per API
process reads the verdicts topic (read_committed: a verdict whose transaction aborted was never
given) and resolves the waiting requests. The recorder writes every verdict into PostgreSQL so
that a submission answered 202 can be polled, whichever API process took it and whenever it
restarts: it reads the verdicts topic as a consumer group shared by the API processes, commits
its position only once a batch is recorded (retrying while PostgreSQL is away), and so resumes
where it left off.

A submission is handed over (its `submissions` row, then Kafka's acknowledgement) within the
request's deadline: when that cannot be done in time, the request is answered 503 (Unavailable).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Final

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from events.messages import Submission, Verdict, decode_verdict, encode_submission
from events.serialization import encode_json
from events.topics import Topics
from services import kafka_connection, watchdog
from services.api.http.unavailable import Unavailable

log = logging.getLogger("ledger.api.gateway")

# Every request to Kafka gives up after this long (aiokafka's default is 40 s). A consumer's
# JoinGroup waits on the broker up to its rebalance timeout (the 10 s session), so 15 s leaves
# it room; a rejoin stuck on a broker that restarted used to hang the recorder for 40 s.
KAFKA_REQUEST_TIMEOUT_MS: Final = 15_000


def _decoded(batch: dict[TopicPartition, list[ConsumerRecord]]) -> list[Verdict]:
    """The verdicts of a fetched batch; an undecodable record is logged and passed over."""
    verdicts = []
    for records in batch.values():
        for r in records:
            try:
                verdicts.append(decode_verdict(r.value or b""))
            except Exception:
                log.exception("undecodable verdict at %s/%d", r.partition, r.offset)
    return verdicts


class SubmissionGateway:
    def __init__(
        self, bootstrap: str, topics: Topics, pool: asyncpg.Pool, *, record: bool = True
    ) -> None:
        """`record`: run the verdict recorder (an API process); `ledger import` hands its
        submissions over without it, the API processes' recorders recording its verdicts."""
        self.topics = topics
        self._records_verdicts = record
        self.pool = pool
        self.producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=1,
            **kafka_connection.options(),
        )
        self.listener = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            **kafka_connection.options(),
            enable_auto_commit=False,
            isolation_level="read_committed",
            request_timeout_ms=KAFKA_REQUEST_TIMEOUT_MS,
        )
        self._bootstrap = bootstrap
        self.recorder = self._new_recorder()
        self.waiting: dict[uuid.UUID, asyncio.Future[Verdict]] = {}
        self._task: asyncio.Task[None] | None = None
        self._recording: asyncio.Task[None] | None = None
        # Submission rows waiting for their INSERT, with the future each request awaits.
        self._to_insert: list[tuple[Sequence[Submission], asyncio.Future[None]]] = []
        self._inserting: asyncio.Task[None] | None = None
        # When the recorder last held partitions of the verdicts topic (from the start on).
        self._recorder_held_at = time.monotonic()

    def _new_recorder(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            self.topics.verdicts.name,
            bootstrap_servers=self._bootstrap,
            **kafka_connection.options(),
            group_id=f"{self.topics.verdicts.name}.recorder",
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            request_timeout_ms=KAFKA_REQUEST_TIMEOUT_MS,
        )

    def recorder_idle_s(self) -> float:
        """For how long the verdict recorder has held no partition (0: it holds some). A
        recorder out of its group (rejoining after a broker restart, or never joined) records
        no verdict, and every 202 of the meantime stays unresolved: readiness says so."""
        if self.recorder.assignment():
            self._recorder_held_at = time.monotonic()
        return time.monotonic() - self._recorder_held_at

    async def start(self) -> None:
        await self.producer.start()
        await self.listener.start()
        parts = self.listener.partitions_for_topic(self.topics.verdicts.name)
        if not parts:
            await self.listener._client.force_metadata_update()
            parts = self.listener.partitions_for_topic(self.topics.verdicts.name) or set()
        if not parts:
            raise RuntimeError(f"topic {self.topics.verdicts.name} does not exist")
        tps = [TopicPartition(self.topics.verdicts.name, p) for p in sorted(parts)]
        self.listener.assign(tps)
        await self.listener.seek_to_end(*tps)
        for tp in tps:  # settle the positions now, before any submission can be sent
            await self.listener.position(tp)
        self._task = asyncio.create_task(self._listen(), name="verdict-listener")
        # The recorder joins its group in the background: a restarted API serves at once instead
        # of waiting out its dead predecessor's session (the waiting requests are woken by the
        # listener, not the recorder).
        if self._records_verdicts:
            self._recording = asyncio.create_task(self._record_all(), name="verdict-recorder")

    async def stop(self) -> None:
        for task in (self._task, self._recording, self._inserting):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._records_verdicts:
            await self.recorder.stop()
        await self.listener.stop()
        await self.producer.stop()

    async def submit(
        self, submissions: Sequence[Submission], timeout_s: float
    ) -> list[Verdict | None]:
        """Hands the submissions over in order; returns each verdict, or None past the deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        futures = []
        for s in submissions:
            fut: asyncio.Future[Verdict] = loop.create_future()
            self.waiting[s.submission_id] = fut
            futures.append(fut)
        try:
            stage = ["postgresql"]
            try:
                await asyncio.wait_for(self._hand_over(submissions, stage), timeout_s)
            except TimeoutError as exc:
                raise Unavailable(
                    stage[0], f"the submission could not be handed over within {timeout_s:g} s"
                ) from exc
            await asyncio.wait(futures, timeout=max(0.0, deadline - loop.time()))
            return [f.result() if f.done() else None for f in futures]
        finally:
            for s in submissions:
                self.waiting.pop(s.submission_id, None)

    async def _hand_over(self, submissions: Sequence[Submission], stage: list[str]) -> None:
        """The submissions' rows, then the submissions on Kafka, acknowledged."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._to_insert.append((submissions, fut))
        if self._inserting is None or self._inserting.done():
            self._inserting = asyncio.create_task(self._insert_all(), name="submission-rows")
        await fut
        stage[0] = "kafka"
        # Same key, same partition, sent in order: the writer sees a batch in its order.
        sent = [
            await self.producer.send(
                self.topics.submissions.name,
                encode_submission(s),
                key=s.event.contract_id.encode(),
            )
            for s in submissions
        ]
        await asyncio.gather(*sent)

    async def _insert_all(self) -> None:
        """The rows of every request waiting, in one INSERT at a time: the requests that come
        while one is written go together into the next (batches grow with the load)."""
        while self._to_insert:
            waiting, self._to_insert = self._to_insert, []
            subs = [s for batch, _ in waiting for s in batch]
            try:
                async with self.pool.acquire() as conn:
                    await conn.execute(
                        """INSERT INTO submissions
                               (submission_id, event_id, contract_id, submitted_by)
                           SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[])""",
                        [s.submission_id for s in subs],
                        [s.event.event_id for s in subs],
                        [s.event.contract_id for s in subs],
                        [s.submitter.principal for s in subs],
                    )
            except Exception as exc:
                for _, fut in waiting:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for _, fut in waiting:
                if not fut.done():
                    fut.set_result(None)

    async def _listen(self) -> None:
        while True:
            try:
                batch = await self.listener.getmany(timeout_ms=1000, max_records=1000)
                verdicts = _decoded(batch)
                for v in verdicts:
                    fut = self.waiting.get(v.submission_id)
                    if fut is not None and not fut.done():
                        fut.set_result(v)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("verdict listener error; continuing")
                await asyncio.sleep(1)

    async def _record_all(self) -> None:
        """Every verdict into its `submissions` row, from the group's committed position on."""
        while True:
            try:
                await self.recorder.start()
                break
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("verdict recorder: Kafka did not answer; again in 1 s", exc_info=True)
                with contextlib.suppress(Exception):
                    await self.recorder.stop()
                self.recorder = self._new_recorder()
                await asyncio.sleep(1)
        while True:
            try:
                batch = await self.recorder.getmany(timeout_ms=1000, max_records=1000)
                self.recorder_idle_s()  # notes that it holds partitions, if it does
                verdicts = _decoded(batch)
                if verdicts:
                    await self._record_until_done(verdicts)
                if batch:
                    offsets = {tp: rs[-1].offset + 1 for tp, rs in batch.items() if rs}
                    await asyncio.wait_for(self.recorder.commit(offsets), 10)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A commit lost to a rebalance or Kafka away: the batch is recorded again by
                # whoever reads it next, which changes nothing (`verdict IS NULL`).
                log.warning("verdict recorder: position not committed; continuing", exc_info=True)
                await asyncio.sleep(1)

    async def _record_until_done(self, verdicts: list[Verdict]) -> None:
        delay = 0.2
        while True:
            try:
                with watchdog.current().busy("recording verdicts"):
                    await asyncio.wait_for(self._record(verdicts), 10)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%d verdicts not recorded (%s); again in %.1f s", len(verdicts),
                            type(exc).__name__, delay)  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _record(self, verdicts: list[Verdict]) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                """UPDATE submissions s SET verdict = v.verdict::jsonb, decided_at = v.decided_at
                   FROM unnest($1::uuid[], $2::text[], $3::timestamptz[])
                        AS v(submission_id, verdict, decided_at)
                   WHERE s.submission_id = v.submission_id AND s.verdict IS NULL""",
                [v.submission_id for v in verdicts],
                [encode_json(v.model_dump(mode="json")).decode() for v in verdicts],
                [v.decided_at for v in verdicts],
            )
