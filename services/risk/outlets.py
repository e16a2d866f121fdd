"""Where the risk agent's judgements go: PostgreSQL (alerts, risk_progress) and the alerts topic,
and the projector's index of the log that a worker lacking a contract's events reads them from."""

import asyncio
import logging
from collections.abc import Callable, Sequence

import asyncpg
from aiokafka import AIOKafkaProducer

from events.alerts import Alert
from events.catalogue import EventBase
from events.serialization import decode_event
from events.topics import Topics
from projections.risk.state import RiskState
from services import kafka_connection
from services.reads import event_log as read_event_log
from services.risk.storage import publish_alerts, store_alerts, store_progress
from services.settings import Settings

log = logging.getLogger("ledger.risk")


class Outlets:
    """PostgreSQL (alerts, risk_progress) and the alerts topic, opened on first use in the
    worker's event loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics: Topics = settings.topics
        self.pool: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None
        self._opening = asyncio.Lock()

    async def open(self) -> tuple[asyncpg.Pool, AIOKafkaProducer]:
        async with self._opening:
            if self.pool is None:
                self.pool = await asyncpg.create_pool(
                    self.settings.dsn, min_size=1, max_size=2, timeout=10
                )
            if self.producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.settings.kafka_bootstrap_servers,
                    **kafka_connection.options(),
                    acks="all",
                    enable_idempotence=True,
                    # A flush publishes a batch's alerts together: fewer, larger requests.
                    max_batch_size=512 * 1024,
                )
                await producer.start()
                self.producer = producer
        return self.pool, self.producer

    async def close(self) -> None:
        if self.producer is not None:
            await self.producer.stop()
            self.producer = None
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    async def behind(self) -> dict[str, tuple[int, int]]:
        """Contracts whose log, as the projector has indexed it, goes further than the rules
        have judged: contract -> (judged, indexed)."""
        pool, _ = await self.open()
        rows = await pool.fetch(
            f"""SELECT c.contract_id, c.stream_version AS indexed,
                       coalesce(p.stream_version, 0) AS judged
                FROM {self.settings.projection_schema}.contracts c
                LEFT JOIN risk_progress p
                       ON p.events_topic = $1 AND p.contract_id = c.contract_id
                WHERE c.stream_version > coalesce(p.stream_version, 0)""",
            self.settings.topics.events.name,
        )
        return {r["contract_id"]: (r["judged"], r["indexed"]) for r in rows}

    async def gap_from_log(self, state: RiskState | None, event: EventBase) -> list[EventBase]:
        """The contract's events after `state` and before `event`, from the projector's index
        of the log (`event_log`), for a worker whose table lacks them: its changelog missed what
        another worker had written, or the events never reached a worker at all (both seen
        after a takeover, issue #21). Judged again, in order: what was judged raises nothing
        twice (alert ids are deterministic), what was not raises its alerts now. Raises
        LogNotIndexedYet while the index lacks one of them (the projector behind): the batch
        is judged again later."""
        return await self.events_from_log(
            event.contract_id, state.version if state is not None else 0, event.stream_version or 0
        )

    async def events_from_log(self, contract_id: str, have: int, version: int) -> list[EventBase]:
        """The contract's events after version `have` and before `version`, from the index."""
        pool, _ = await self.open()
        bodies = await read_event_log.contract_bodies(
            pool, self.settings.projection_schema, contract_id
        )
        gap: list[EventBase] = [
            e for e in map(decode_event, bodies) if have < (e.stream_version or 0) < version
        ]
        if [e.stream_version for e in gap] != list(range(have + 1, version)):
            raise LogNotIndexedYet(
                f"contract {contract_id}: {len(gap)} of its events {have + 1} to "
                f"{version - 1} are indexed yet"
            )
        log.warning(
            "contract %s: its events %d to %d judged from the log (this worker's table had "
            "version %d)",
            contract_id,
            have + 1,
            version - 1,
            have,
        )
        return gap

    async def save(self, alerts: Sequence[Alert], judged: dict[str, int]) -> None:
        """The alerts (an id already stored is left alone) and the progress, in one
        transaction."""
        pool, _ = await self.open()
        async with pool.acquire() as conn, conn.transaction():
            await store_alerts(conn, alerts)
            await store_progress(conn, self.topics.events.name, judged)

    async def publish(self, owns: Callable[[str], bool]) -> None:
        """Alerts not yet on the alerts topic, in the order they were stored, of the contracts
        this worker `owns`: each alert goes out from its partition's owner (after a crash, from
        the next), so two workers do not both send it."""
        pool, producer = await self.open()
        async with pool.acquire() as conn:
            await publish_alerts(conn, producer, self.topics, owns)


class LogNotIndexedYet(Exception):
    """A state to fold from the log's index, which lacks some of its events yet."""
