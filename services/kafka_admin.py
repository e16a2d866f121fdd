"""Creating the ledger's topics, from the one list in events.topics, idempotently."""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from events.topics import Topics


async def delete_topics(bootstrap: str, prefix: str) -> list[str]:
    """Delete every topic named after `prefix`: the ledger's (`prefix.events` ...) and the risk
    agent's (`prefix-risk-...`); returns the names deleted."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        mine = (f"{prefix}.", f"{prefix}-")
        names = [n for n in await admin.list_topics() if n.startswith(mine)]
        if names:
            await admin.delete_topics(names)
        return names
    finally:
        await admin.close()


async def ensure_topics(bootstrap: str, wanted: Topics) -> list[str]:
    """Create the topics that do not exist yet; returns the names created.

    An existing topic with another partition count is an error, not something to paper over:
    the writer relies on submissions and events being partitioned alike.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in wanted.all() if spec.name not in existing]
        if missing:
            new = [NewTopic(s.name, s.partitions, 1, topic_configs=s.config()) for s in missing]
            # Another process creating them in between is what we wanted anyway.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
        present = [s for s in wanted.all() if s.name in existing]
        if present:
            described = await admin.describe_topics([s.name for s in present])
            counts = {d["topic"]: len(d["partitions"]) for d in described}
            for spec in present:
                if counts.get(spec.name) != spec.partitions:
                    raise RuntimeError(
                        f"topic {spec.name} has {counts.get(spec.name)} partitions, "
                        f"expected {spec.partitions}"
                    )
        return [s.name for s in missing]
    finally:
        await admin.close()
