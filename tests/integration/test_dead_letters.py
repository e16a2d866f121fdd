"""A submission that cannot be decoded goes to the dead-letter topic; the writer carries on."""

from __future__ import annotations

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from simulation.examples import example
from tests.support.http import post
from tests.support.services import Services, Tokens
from tests.support.stack import Stack, unique


async def test_poison_submission_is_dead_lettered_and_the_next_one_accepted(
    ready_stack: Stack, services: Services, http: httpx.Client, api_tokens: Tokens
) -> None:
    cid = unique("C")
    poison = b'{"submission_id": "not-a-uuid", "event": {"type": "Nonsense"'
    producer = AIOKafkaProducer(bootstrap_servers=ready_stack.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(services.topics.submissions.name, poison, key=cid.encode())
    finally:
        await producer.stop()

    signed = example("ContractSigned", contract_id=cid, account_manager_id=api_tokens.am_id)
    r = post(http, api_tokens.am, signed)
    assert r.status_code == 201, r.text

    consumer = AIOKafkaConsumer(
        services.topics.dead_letters.name,
        bootstrap_servers=ready_stack.bootstrap,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=10_000)
    finally:
        await consumer.stop()
    letters = [r for records in batch.values() for r in records]
    assert [r.value for r in letters] == [poison]
    headers = dict(letters[0].headers)
    assert b"JSON" in headers["reason"] or b"json" in headers["reason"].lower()
    assert headers["source"].startswith(services.topics.submissions.name.encode())
