"""Entry points of the long-running processes:
`ledger serve api|writer|projector|risk|webhooks|alerts`.

Each worker runs until SIGTERM or SIGINT, then finishes what it is doing and stops cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from services import logs, probe, watchdog
from services.settings import Settings

log = logging.getLogger("ledger")


def until_signalled(
    main: Callable[[asyncio.Event], Awaitable[None]], log_format: str = "text"
) -> None:
    logs.configure(log_format)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    with asyncio.Runner(loop_factory=event_loop()) as runner:
        runner.run(run())


def uvloop_serves(settings: Settings) -> bool:
    """uvloop, the fast event loop (issue #14), except for Kafka over TLS: under uvloop an
    aiokafka client closing its TLS connections never finished (the writer, taking its
    partitions through the local stack's TLS + SCRAM listener, hung in the `consumer.stop()`
    of its first state read; asyncio's own loop closes them at once)."""
    return settings.kafka_security_protocol == "PLAINTEXT"


def event_loop() -> Callable[[], asyncio.AbstractEventLoop]:
    """The loop a process runs on: see `uvloop_serves`."""
    if uvloop_serves(Settings()):
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def serve_api(settings: Settings) -> None:
    import uvicorn

    from services.api.app import create_app

    logs.configure(settings.log_format)
    # uvloop and httptools: the fast event loop and HTTP parser (issue #14).
    shell: dict[str, Any] = {
        "host": settings.api_host,
        "port": settings.api_port,
        "log_level": "warning",
        "access_log": False,
        "loop": "uvloop" if uvloop_serves(settings) else "asyncio",
        "http": "httptools",
        "timeout_keep_alive": settings.api_keep_alive_s,
    }
    if settings.log_format == "json":
        shell["log_config"] = None  # uvicorn's own lines through the root logger's JSON
    if settings.api_workers > 1:
        # Worker processes, each a whole API (its own verdict listener, progress listener,
        # streams and caches) reading the settings again at its start.
        uvicorn.run("services.api.app:worker_app", factory=True, workers=settings.api_workers,
                    **shell)  # fmt: skip
        return
    watchdog.install("api", settings.watchdog_s)
    uvicorn.run(create_app(settings), **shell)


# How long the writer waits for PostgreSQL to claim its static membership before joining as a
# dynamic member: it must start, and decide, with Kafka alone.
_WRITER_CLAIM_S = 5.0


def serve_writer(settings: Settings) -> None:
    from services.membership import Membership
    from services.writer.worker import Writer

    async def main(stop: asyncio.Event) -> None:
        probe.serve(settings.probe_port, watchdog.install("writer", settings.watchdog_s))
        claim = Membership(settings.dsn, settings.writer_group, settings.writer_instance_id)
        instance = None
        if settings.writer_instance_id:
            instance = await claim.claim_within(_WRITER_CLAIM_S)
        writer = Writer(
            settings.kafka_bootstrap_servers,
            settings.topics,
            settings.writer_group,
            settings.writer_kafka_timeout_s,
            instance_id=instance,
        )
        log.info(
            "writer consuming %s as group %s (instance %s)",
            settings.topics.submissions.name,
            settings.writer_group,
            instance or "dynamic",
        )
        async with claim.held():
            await writer.run(stop)

    until_signalled(main, settings.log_format)


def serve_projector(settings: Settings) -> None:
    from services.projector.commands import serve

    probe.serve(settings.probe_port, watchdog.install("projector", settings.watchdog_s))
    until_signalled(lambda stop: serve(settings, stop), settings.log_format)


def serve_risk(settings: Settings) -> None:
    from services.risk.start import run

    logs.configure(settings.log_format)
    # Not ready from the probes' first answer: `run` says when its start-up is done (the
    # generation known, a first pass judged if one was due).
    started = probe.not_ready_until("starting")
    probe.serve(settings.probe_port, watchdog.install("risk agent", settings.watchdog_s))
    run(settings, started)  # a Faust worker: it handles SIGTERM and SIGINT itself


def serve_webhooks(settings: Settings) -> None:
    from services.webhooks import Deliverer

    probe.serve(settings.probe_port, watchdog.install("webhooks", settings.watchdog_s))
    until_signalled(Deliverer(settings.dsn).run, settings.log_format)


def serve_alerts(settings: Settings) -> None:
    from services.alerting.router import Router

    probe.serve(settings.probe_port, watchdog.install("alerts", settings.watchdog_s))
    until_signalled(Router(settings).run, settings.log_format)
