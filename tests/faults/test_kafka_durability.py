"""The local broker keeps what it has acknowledged across a SIGKILL and `make up`: in the fault
suite, which runs last and on its own, since it kills the broker every other test uses."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from events.serialization import decode_event, encode_event, parse_submission
from events.topics import Topics
from simulation.examples import example
from tests.support.stack import Stack, unique
from tests.support.topics import first_batch

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.faults


async def test_events_survive_a_killed_broker(ready_stack: Stack, test_topics: Topics) -> None:
    if ready_stack.source != "local":
        pytest.skip("only the local broker started by deploy/local can be killed by this test")
    contract_id = unique("C")
    event = parse_submission(example("ContractSigned", contract_id=contract_id))[0]
    producer = AIOKafkaProducer(bootstrap_servers=ready_stack.bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            test_topics.events.name, encode_event(event), key=contract_id.encode()
        )
    finally:
        await producer.stop()

    pid = int((ROOT / "var/run/kafka.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    while Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid):
        time.sleep(0.1)
    subprocess.run(["make", "up"], cwd=ROOT, check=True, capture_output=True, timeout=300)

    records = await first_batch(ready_stack, test_topics.events.name, timeout_ms=20_000)
    received = [decode_event(r.value) for r in records]
    assert received == [event]


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return "zombie"
