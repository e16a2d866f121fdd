"""A Faust transport that reads only committed records: Faust's aiokafka transport, except that
its worker consumer uses `isolation_level="read_committed"`.

Why: the writer appends to the events topic in Kafka transactions, and an aborted one leaves
its records in the log. The risk agent must judge only what was committed. Faust 0.15 reads
`read_committed` only when `processing_guarantee="exactly_once"` (its consumer thread asks
`consumer.in_transaction`), which would also make Faust commit offsets and write the table's
changelog through transactions of its own: far more than "skip aborted records".

How it is wired: Faust resolves the transport from the scheme of the broker URL
(`faust.transport.by_url`, whose registry also loads the `faust.transports` entry points). This
package declares, in pyproject.toml,

    [project.entry-points."faust.transports"]
    kafka-read-committed = "services.risk.transport:Transport"

and the risk app's broker URL is `kafka-read-committed://host:port`. Nothing of Faust's is
patched: the three classes below subclass its aiokafka driver, and only the consumer thread's
`_create_worker_consumer` differs (the hook Faust itself uses to pick the isolation level).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from faust.transport.drivers import aiokafka as faust_aiokafka

if TYPE_CHECKING:
    import aiokafka

__all__ = ["SCHEME", "Consumer", "ReadCommittedConsumerThread", "Transport", "broker_urls"]

SCHEME: Final = "kafka-read-committed"
"""The broker URL scheme of this transport (the entry point's name)."""

_READ_COMMITTED: Final = "read_committed"


def broker_urls(bootstrap_servers: str) -> list[str]:
    """`host:port[,host:port…]` as the Faust broker URLs of this transport."""
    return [f"{SCHEME}://{server.strip()}" for server in bootstrap_servers.split(",")]


class ReadCommittedConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(
        self, transport: faust_aiokafka.Transport
    ) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # AIOKafkaConsumer keeps its isolation level as given to __init__ and hands it to its
        # fetcher in start(), which has not run yet. Faust built it with every other setting
        # of the app; only this one is overridden. Fail loudly if aiokafka stops keeping it.
        if getattr(consumer, "_isolation_level", None) not in ("read_uncommitted", _READ_COMMITTED):
            raise RuntimeError(
                "aiokafka.AIOKafkaConsumer no longer keeps _isolation_level: "
                "services.risk.transport cannot make it read committed records only"
            )
        consumer._isolation_level = _READ_COMMITTED
        return consumer


class Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ReadCommittedConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    """Faust's aiokafka transport whose worker consumer reads committed records only."""

    Consumer = Consumer
