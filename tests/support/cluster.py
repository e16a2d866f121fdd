"""A three-broker KRaft cluster with a whole stack around it, for the fault suite's broker faults
(tests/faults/test_cluster_faults.py): `deploy/local/stack.sh up` with LEDGER_KAFKA_BROKERS=3,
in var/cluster and on ports of its own, so it runs beside the stack the rest of the suite uses
and stops at the end of the run. Its ports are that stack's plus PORT_OFFSET (LEDGER_KAFKA_PORT
and the others, as `make up` reads them: 19102-19107, 15442 and 8010 by default), so a stack
moved to other ports takes its cluster with it, still below Linux's ephemeral range.

And what the faults need to know of it: which broker leads the partitions of given contracts,
which coordinates the writer's transactions for them, and when every partition has its three
copies in sync again.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient, CoordinationType

from events.topics import partition_of
from services.settings import LOCAL_KAFKA_PORT, LOCAL_PG_PORT, Settings
from tests.support.local_stack import ROOT, LocalStack, moved_port

BROKERS = 3
PORT_OFFSET = 10


# node n: + 2(n-1), its controller the port after
KAFKA_PORT = moved_port("LEDGER_KAFKA_PORT", LOCAL_KAFKA_PORT, PORT_OFFSET)
PG_PORT = moved_port("LEDGER_PG_PORT", LOCAL_PG_PORT, PORT_OFFSET)
API_PORT = moved_port("LEDGER_API_PORT", Settings.model_fields["api_port"].default, PORT_OFFSET)
VAR = ROOT / "var" / "cluster"
IN_SYNC_WITHIN_S = 90.0


def cluster_stack() -> LocalStack:
    return LocalStack(
        var=VAR,
        env={
            "LEDGER_VAR": str(VAR),
            "LEDGER_KAFKA_BROKERS": str(BROKERS),
            "LEDGER_KAFKA_PORT": str(KAFKA_PORT),
            "LEDGER_KAFKA_CONTROLLER_PORT": str(KAFKA_PORT + 1),
            "LEDGER_PG_PORT": str(PG_PORT),
            "LEDGER_API_PORT": str(API_PORT),
        },
        brokers=BROKERS,
    )


def cluster_settings() -> Settings:
    """What the cluster's services run with (their environment is the stack's)."""
    return Settings(
        KAFKA_BOOTSTRAP_SERVERS=",".join(f"127.0.0.1:{KAFKA_PORT + 2 * n}" for n in range(BROKERS)),
        DATABASE_URL=f"postgresql://ledger:ledger@127.0.0.1:{PG_PORT}/ledger",
        LEDGER_API_PORT=API_PORT,
        LEDGER_KAFKA_REPLICATION_FACTOR=BROKERS,
    )


_DATA = ("kafka", "pg")


def start(stack: LocalStack) -> None:
    """The whole stack from nothing: data of an earlier run is wiped first."""
    stack.start_afresh("the three-broker stack", _DATA)


def stop(stack: LocalStack) -> None:
    """Everything stopped and its data gone (the logs stay, in var/cluster/log)."""
    stack.stop_and_wipe(_DATA)


@dataclass(frozen=True)
class Cluster:
    stack: LocalStack
    settings: Settings

    def _admin(self) -> AIOKafkaAdminClient:
        return AIOKafkaAdminClient(
            bootstrap_servers=self.settings.kafka_bootstrap_servers, request_timeout_ms=10_000
        )

    async def leader_of(self, contracts: list[str]) -> int:
        """The broker leading most of the submissions and events partitions of `contracts`."""
        t = self.settings.topics
        partitions = {partition_of(c, t.events.partitions) for c in contracts}
        admin = self._admin()
        await admin.start()
        try:
            described = await admin.describe_topics([t.submissions.name, t.events.name])
        finally:
            await admin.close()
        leaders: Counter[int] = Counter(
            p["leader"]
            for topic in described
            for p in topic["partitions"]
            if p["partition"] in partitions
        )
        return leaders.most_common(1)[0][0]

    async def transaction_coordinator_of(self, contracts: list[str]) -> int:
        """The broker coordinating most of the writer's transactions for `contracts` (one
        transactional id per submissions partition: services/writer/worker.py)."""
        t = self.settings.topics
        partitions = {partition_of(c, t.submissions.partitions) for c in contracts}
        client = AIOKafkaClient(bootstrap_servers=self.settings.kafka_bootstrap_servers)
        await client.bootstrap()
        try:
            coordinators: Counter[int] = Counter(
                [
                    await client.coordinator_lookup(
                        CoordinationType.TRANSACTION,
                        f"{self.settings.writer_group}.{t.submissions.name}.{p}",
                    )
                    for p in sorted(partitions)
                ]
            )
        finally:
            await client.close()
        return coordinators.most_common(1)[0][0]

    async def wait_in_sync(self, within_s: float = IN_SYNC_WITHIN_S) -> None:
        """Every partition of every topic (Kafka's own included) led and with its three copies
        in sync: the cluster can lose a broker again."""
        deadline = time.monotonic() + within_s
        lagging: list[str] = []
        while time.monotonic() < deadline:
            admin = self._admin()
            try:
                await admin.start()
                described = await admin.describe_topics()
                lagging = [
                    f"{topic['topic']}/{p['partition']}"
                    for topic in described
                    for p in topic["partitions"]
                    if p["leader"] < 0 or len(p["isr"]) < len(p["replicas"])
                ]
                if described and not lagging:
                    return
            except Exception as e:  # a broker still starting: ask again
                lagging = [repr(e)]
            finally:
                await admin.close()
            await asyncio.sleep(0.5)
        raise AssertionError(f"partitions not in sync after {within_s:.0f} s: {lagging[:10]}")
