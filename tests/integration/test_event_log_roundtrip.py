"""An event written to the events topic with the one serializer comes back equal."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from events.catalogue import EVENT_TYPES, Event
from events.serialization import decode_event, encode_event, parse_submission
from events.topics import Topics
from simulation.examples import example
from tests.support.stack import Stack, unique
from tests.support.topics import reading


async def test_every_event_type_survives_the_events_topic(
    ready_stack: Stack, test_topics: Topics
) -> None:
    contract_id = unique("C")
    sent = [parse_submission(example(t, contract_id=contract_id))[0] for t in EVENT_TYPES]

    producer = AIOKafkaProducer(bootstrap_servers=ready_stack.bootstrap, acks="all")
    await producer.start()
    try:
        for event in sent:
            await producer.send_and_wait(
                test_topics.events.name, encode_event(event), key=contract_id.encode()
            )
    finally:
        await producer.stop()

    received: list[Event] = []
    async with reading(ready_stack, test_topics.events.name) as consumer:
        while len(received) < len(sent):
            batch = await consumer.getmany(timeout_ms=10_000)
            assert batch, f"only {len(received)} of {len(sent)} events came back"
            for records in batch.values():
                received.extend(decode_event(r.value) for r in records)

    # One key, one partition: the log keeps the contract's order.
    assert received == sent
    assert [e.type for e in received] == list(EVENT_TYPES)
