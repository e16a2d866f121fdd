"""The API's side of the submissions/verdicts conversation with the writer.

Each POST hands submissions to Kafka and waits for their verdicts. One listener per API
process reads the verdicts topic (read_committed: a verdict whose transaction aborted was never
given) and resolves the waiting requests; it also records every verdict in PostgreSQL so that a
submission answered 202 can be polled, whichever API process took it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from events.messages import Submission, Verdict, decode_verdict, encode_submission
from events.serialization import encode_json
from events.topics import Topics

log = logging.getLogger("ledger.api.gateway")


class SubmissionGateway:
    def __init__(self, bootstrap: str, topics: Topics, pool: asyncpg.Pool) -> None:
        self.topics = topics
        self.pool = pool
        self.producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=1
        )
        self.listener = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        self.waiting: dict[uuid.UUID, asyncio.Future[Verdict]] = {}
        self._task: asyncio.Task[None] | None = None

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

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.listener.stop()
        await self.producer.stop()

    async def submit(
        self, submissions: Sequence[Submission], timeout_s: float
    ) -> list[Verdict | None]:
        """Hands the submissions over in order; returns each verdict, or None past the deadline."""
        loop = asyncio.get_running_loop()
        futures = []
        for s in submissions:
            fut: asyncio.Future[Verdict] = loop.create_future()
            self.waiting[s.submission_id] = fut
            futures.append(fut)
        try:
            async with self.pool.acquire() as conn:
                await conn.executemany(
                    """INSERT INTO submissions (submission_id, event_id, contract_id, submitted_by)
                       VALUES ($1, $2, $3, $4)""",
                    [
                        (
                            s.submission_id,
                            s.event.event_id,
                            s.event.contract_id,
                            s.submitter.principal,
                        )
                        for s in submissions
                    ],
                )
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
            await asyncio.wait(futures, timeout=timeout_s)
            return [f.result() if f.done() else None for f in futures]
        finally:
            for s in submissions:
                self.waiting.pop(s.submission_id, None)

    async def _listen(self) -> None:
        while True:
            try:
                batch = await self.listener.getmany(timeout_ms=1000, max_records=1000)
                verdicts = []
                for records in batch.values():
                    for r in records:
                        try:
                            verdicts.append(decode_verdict(r.value or b""))
                        except Exception:
                            log.exception("undecodable verdict at %s/%d", r.partition, r.offset)
                if not verdicts:
                    continue
                for v in verdicts:
                    fut = self.waiting.get(v.submission_id)
                    if fut is not None and not fut.done():
                        fut.set_result(v)
                await self._record(verdicts)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("verdict listener error; continuing")
                await asyncio.sleep(1)

    async def _record(self, verdicts: list[Verdict]) -> None:
        async with self.pool.acquire() as conn:
            await conn.executemany(
                """UPDATE submissions SET verdict = $2::jsonb, decided_at = $3
                   WHERE submission_id = $1 AND verdict IS NULL""",
                [
                    (v.submission_id, encode_json(v.model_dump(mode="json")).decode(), v.decided_at)
                    for v in verdicts
                ],
            )
