"""Entry points of the long-running processes: `ledger serve api|writer`."""

from __future__ import annotations

import asyncio
import logging
import signal

from services.settings import Settings


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


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

    _logging()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        writer = Writer(settings.kafka_bootstrap_servers, settings.topics, settings.writer_group)
        logging.getLogger("ledger.writer").info(
            "writer consuming %s as group %s",
            settings.topics.submissions.name,
            settings.writer_group,
        )
        await writer.run(stop)

    asyncio.run(main())


def serve_projector(settings: Settings) -> None:
    from services.projector.commands import serve

    _logging()
    asyncio.run(serve(settings))


def serve_risk(settings: Settings) -> None:
    from services.risk.worker import RiskAgent

    _logging()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        agent = RiskAgent(settings.kafka_bootstrap_servers, settings.topics, settings.dsn)
        await agent.start()
        logging.getLogger("ledger.risk").info(
            "judging %s; alerts to %s", settings.topics.events.name, settings.topics.alerts.name
        )
        try:
            await agent.run(stop)
        finally:
            await agent.stop()

    asyncio.run(main())


def serve_webhooks(settings: Settings) -> None:
    from services.webhooks import Deliverer

    _logging()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await Deliverer(settings.dsn).run(stop)

    asyncio.run(main())
