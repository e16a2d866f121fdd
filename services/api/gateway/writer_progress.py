"""Is the writer making progress? Judged from Kafka, not from the writer's own say-so.

Faust-style consumers are known to stop silently while their process looks alive
(faust-streaming/faust#175), so uptime proves nothing. The writer group's committed offsets
are compared with the submissions topic's end: no backlog is healthy; a backlog whose
committed offsets have not moved for `stall_s` seconds means the writer is stuck or gone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient

from events.topics import TopicSpec


@dataclass
class WriterProgress:
    bootstrap: str
    submissions: TopicSpec
    group_id: str
    stall_s: float = 30.0
    _last_offsets: dict[int, int] = field(default_factory=dict)
    _last_move: float = field(default_factory=time.monotonic)
    _backlog: bool = False

    async def check(self, admin: AIOKafkaAdminClient, end: dict[int, int]) -> tuple[bool, str]:
        committed_raw = await admin.list_consumer_group_offsets(self.group_id)
        committed = {
            tp.partition: meta.offset
            for tp, meta in committed_raw.items()
            if tp.topic == self.submissions.name
        }
        lag = sum(max(0, e - max(committed.get(p, 0), 0)) for p, e in end.items())
        now = time.monotonic()
        # The stall clock starts when a backlog is first seen: a writer that has committed
        # nothing yet (a fresh group) is not stuck because the API has been up a while.
        if committed != self._last_offsets or (lag > 0 and not self._backlog):
            self._last_offsets = committed
            self._last_move = now
        self._backlog = lag > 0
        if lag == 0:
            return True, "writer has no backlog"
        idle = now - self._last_move
        if idle > self.stall_s:
            return False, f"writer backlog of {lag} has not moved for {idle:.0f} s"
        return True, f"writer backlog of {lag}, moving"
