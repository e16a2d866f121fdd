"""Entry points of the long-running processes: `ledger serve api|writer|projector|risk|webhooks`.

Each worker runs until SIGTERM or SIGINT, then finishes what it is doing and stops cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

from services.settings import Settings

log = logging.getLogger("ledger")


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


def _until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    _logging()

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(run())


def serve_api(settings: Settings) -> None:
    import uvicorn

    from services.api.app import create_app

    _logging()
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        access_log=False,
    )


def serve_writer(settings: Settings) -> None:
    from services.writer.worker import Writer

    async def main(stop: asyncio.Event) -> None:
        writer = Writer(settings.kafka_bootstrap_servers, settings.topics, settings.writer_group)
        log.info(
            "writer consuming %s as group %s",
            settings.topics.submissions.name,
            settings.writer_group,
        )
        await writer.run(stop)

    _until_signalled(main)


def serve_projector(settings: Settings) -> None:
    from services.projector.commands import serve

    _until_signalled(lambda stop: serve(settings, stop))


def serve_risk(settings: Settings) -> None:
    from services.risk.worker import run

    _logging()
    run(settings)  # a Faust worker: it handles SIGTERM and SIGINT itself


def serve_webhooks(settings: Settings) -> None:
    from services.webhooks import Deliverer

    _until_signalled(Deliverer(settings.dsn).run)
