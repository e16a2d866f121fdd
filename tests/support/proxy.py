"""A TCP proxy a test can cut and restore, between its own processes and a shared server.

The shared Kafka and PostgreSQL must never be stopped: a test that needs one of them to go
away points its processes at a proxy instead, and `cut()`s it (open connections are reset, new
ones refused, as when the server is down), then `restore()`s it. It runs its own event loop in a
thread, so blocking test code does not stall it.

Kafka clients connect to the brokers a Metadata (or FindCoordinator) response names, not to the
bootstrap address: `KafkaProxy` rewrites those addresses to its own, so that every connection
of the client goes through it (the versions aiokafka speaks: Metadata v0-v5, FindCoordinator
v0-v1, none of them "flexible").
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import struct
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Self
from urllib.parse import urlsplit, urlunsplit

from simulation.ports import free_port

# One direction of a connection: from a reader to a writer, until either closes.
Pipe = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Proxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # -- control, from the test's thread -------------------------------------------------------

    def start(self) -> Self:
        self._thread.start()
        self._call(self._listen())
        return self

    def cut(self) -> None:
        """As if the server went away: connections reset, new ones refused."""
        self._call(self._cut())

    def restore(self) -> None:
        self._call(self._listen())

    def close(self) -> None:
        self._call(self._cut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def dsn(self, dsn: str) -> str:
        """`dsn` with its host and port replaced by the proxy's."""
        parts = urlsplit(dsn)
        auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        return urlunsplit(parts._replace(netloc=f"{auth}127.0.0.1:{self.port}"))

    def _call(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)  # type: ignore[arg-type]

    # -- in the proxy's loop ---------------------------------------------------------------------

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._writers):
            with contextlib.suppress(Exception):
                w.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        await self._relay(reader, writer, up_reader, up_writer)
        self._writers -= {writer, up_writer}

    async def _relay(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        """Both directions of one accepted connection, until either side closes."""
        up, down = self._directions()
        await asyncio.gather(up(reader, up_writer), down(up_reader, writer), return_exceptions=True)

    def _directions(self) -> tuple[Pipe, Pipe]:
        """How bytes go to the server, and back: as they are."""
        return self._pipe, self._pipe

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()


_METADATA, _FIND_COORDINATOR = 3, 10


class KafkaProxy(Proxy):
    """A proxy to one Kafka broker that every connection of its clients goes through."""

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _directions(self) -> tuple[Pipe, Pipe]:
        """Frame by frame both ways, the brokers' addresses in the answers made the proxy's."""
        asked: dict[int, tuple[int, int]] = {}  # correlation id -> (api key, version)
        return (
            functools.partial(self._pump, edit=lambda frame: self._request(frame, asked)),
            functools.partial(self._pump, edit=lambda frame: self._response(frame, asked)),
        )

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        edit: Callable[[bytes], bytes],
    ) -> None:
        """Frame by frame from `reader` to `writer`, each through `edit`."""
        try:
            while True:
                writer.write(edit(await _frame(reader)))
                await writer.drain()
        finally:
            writer.transport.abort()

    @staticmethod
    def _request(frame: bytes, asked: dict[int, tuple[int, int]]) -> bytes:
        key, version, correlation = struct.unpack_from(">hhi", frame, 4)
        asked[correlation] = (key, version)
        return frame

    def _response(self, frame: bytes, asked: dict[int, tuple[int, int]]) -> bytes:
        (correlation,) = struct.unpack_from(">i", frame, 4)
        key, version = asked.pop(correlation, (-1, -1))
        if key == _METADATA:
            return self._metadata(frame, version)
        if key == _FIND_COORDINATOR:
            return self._coordinator(frame, version)
        return frame

    def _me(self) -> tuple[bytes, bytes]:
        host = b"127.0.0.1"
        return struct.pack(">h", len(host)) + host, struct.pack(">i", self.port)

    def _metadata(self, frame: bytes, version: int) -> bytes:
        at = 8 + (4 if version >= 3 else 0)  # size, correlation id, throttle time
        out = bytearray(frame[:at])
        (count,) = struct.unpack_from(">i", frame, at)
        out += frame[at : at + 4]
        at += 4
        host, port = self._me()
        for _ in range(count):
            out += frame[at : at + 4]  # node id
            at += 4
            at = _skip_string(frame, at) + 4  # host, port
            out += host + port
            if version >= 1:  # rack
                start, at = at, _skip_string(frame, at)
                out += frame[start:at]
        out += frame[at:]
        return _sized(out)

    def _coordinator(self, frame: bytes, version: int) -> bytes:
        at = 8 + (4 if version >= 1 else 0) + 2  # size, correlation, throttle, error code
        if version >= 1:
            at = _skip_string(frame, at)  # error message
        at += 4  # node id
        end = _skip_string(frame, at) + 4
        host, port = self._me()
        return _sized(bytearray(frame[:at]) + host + port + frame[end:])


async def _frame(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readexactly(4)
    (size,) = struct.unpack(">i", head)
    return head + await reader.readexactly(size)


def _skip_string(frame: bytes, at: int) -> int:
    length: int = struct.unpack_from(">h", frame, at)[0]
    return at + 2 + max(length, 0)


def _sized(frame: bytearray) -> bytes:
    frame[:4] = struct.pack(">i", len(frame) - 4)
    return bytes(frame)


@contextlib.contextmanager
def kafka_proxy_to(bootstrap: str) -> Iterator[KafkaProxy]:
    """A started Kafka proxy to a one-broker cluster at `bootstrap` ("host:port")."""
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    p = KafkaProxy(host, int(port)).start()
    try:
        yield p
    finally:
        p.close()


@contextlib.contextmanager
def proxy_to(dsn_or_host_port: str) -> Iterator[Proxy]:
    """A started proxy to the host:port of a URL (or of "host:port")."""
    parts = urlsplit(dsn_or_host_port if "://" in dsn_or_host_port else f"//{dsn_or_host_port}")
    p = Proxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    try:
        yield p
    finally:
        p.close()
