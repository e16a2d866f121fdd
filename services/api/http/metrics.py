"""GET /metrics: what the API process and the system behind it are doing, for Prometheus.

Counted as they happen: HTTP requests (by route template, never by raw path, so that ids do not
explode the series) and their latency, and the outcome of every submitted event. Read at
scrape time: the projector's lag per partition of the events topic, the writer's and the risk
agent's consumer-group lag, the records dead-lettered, and the alerts by status and severity;
and the outcome of each check of this process's latest /readyz. The alerts of the Kubernetes
deployment (deploy/k8s/base/monitoring.yaml) are written on these names. Each app has a
registry of its own, so that several apps in one process (tests) do not collide.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.http.asgi import HttpMiddleware
from services.kafka_log import end_offsets
from services.reads import alerts as read_alerts
from services.reads import margins as read_margins
from services.risk import generations
from services.risk.names import app_id
from services.settings import Settings

log = logging.getLogger("ledger.api")


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "ledger_http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ledger_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.submissions = Counter(
            "ledger_submissions",
            "Events submitted, by outcome (accepted, refused, invalid, pending) and refusal code.",
            ["outcome", "code"],
            registry=self.registry,
        )
        self.scraped = _Scraped()
        self.registry.register(self.scraped)

    def count_results(self, results: Iterable[dict[str, Any]]) -> None:
        for r in results:
            self.submissions.labels(r["status"], r.get("code") or "").inc()


class _Scraped(Collector):
    """Gauges read when scraped, from the state the app's lifespan opened."""

    def __init__(self) -> None:
        self.values: list[Metric] = []

    def describe(self) -> list[Metric]:
        return []  # read at collect time only

    def collect(self) -> Iterable[Metric]:
        return self.values


async def read_system(
    s: Settings, pool: Any, reader: Any, admin: Any, readiness: dict[str, bool]
) -> list[Metric]:
    """Lags, dead letters, alert counts and readiness (the latest /readyz's checks; none before
    one). `reader` is the read_committed consumer that end offsets are read with. A part that
    cannot be read is left out (and logged): /metrics answers whatever it can."""
    out: list[Metric] = []
    try:
        ends = await end_offsets(reader, s.topics.events)
        applied = await read_margins.projector_positions(pool, s.projection_schema)
        lag = GaugeMetricFamily(
            "ledger_projection_lag_events",
            "Offsets of the events topic the margin projector has not applied yet.",
            labels=["partition"],
        )
        for p, end in sorted(ends.items()):
            lag.add_metric([str(p)], max(0, end - applied.get(p, 0)))
        out.append(lag)
    except Exception:
        log.exception("metrics: projector lag not read")
    try:
        groups = GaugeMetricFamily(
            "ledger_consumer_lag_events",
            "Offsets of its input topic a consumer group has not committed yet, by consumer "
            "(writer: the submissions; risk: the events, where each of the writer's "
            "transactions leaves one more offset, its commit marker) and partition.",
            labels=["consumer", "partition"],
        )
        # The risk agent's group is its generation's (a rebuild swaps in another).
        risk_group = app_id(s.topic_prefix, await generations.current(pool, s.topic_prefix))
        for consumer, group, topic in (
            ("writer", s.writer_group, s.topics.submissions),
            ("risk", risk_group, s.topics.events),
        ):
            ends = await end_offsets(reader, topic)
            offsets = await admin.list_consumer_group_offsets(group)
            done = {tp.partition: m.offset for tp, m in offsets.items() if tp.topic == topic.name}
            for p, end in sorted(ends.items()):
                groups.add_metric([consumer, str(p)], max(0, end - max(done.get(p, 0), 0)))
        out.append(groups)
    except Exception:
        log.exception("metrics: consumer group lag not read")
    try:
        # Its end offset, not a count of records: the writer dead-letters inside its
        # transaction, whose commit marker takes an offset too. It only ever moves forward.
        dead = GaugeMetricFamily(
            "ledger_dead_letters_end_offset",
            "The end offset of the dead-letter topic (what the writer or the projector could "
            "not decode): it moves forward when a record is dead-lettered (by two when the "
            "writer does it: the record and its transaction's commit marker).",
        )
        dead.add_metric([], sum((await end_offsets(reader, s.topics.dead_letters)).values()))
        out.append(dead)
    except Exception:
        log.exception("metrics: dead letters not read")
    if readiness:
        ready = GaugeMetricFamily(
            "ledger_readiness_check",
            "The outcome of each check of this process's latest GET /readyz (1 passed, 0 "
            "failed), by check (postgres, kafka, writer, verdict_recorder, projections).",
            labels=["check"],
        )
        for check, ok in sorted(readiness.items()):
            ready.add_metric([check], 1 if ok else 0)
        out.append(ready)
    try:
        alerts = GaugeMetricFamily(
            "ledger_alerts",
            "Contract-risk alerts stored, by status and severity.",
            labels=["status", "severity"],
        )
        for status, severity, n in await read_alerts.alert_counts(pool):
            alerts.add_metric([status, severity], n)
        out.append(alerts)
    except Exception:
        log.exception("metrics: alerts not read")
    return out


async def exposition(
    metrics: ApiMetrics,
    s: Settings,
    pool: Any,
    offsets: Any,
    admin: Any,
    readiness: dict[str, bool],
) -> bytes:
    """GET /metrics's answer: what was counted, and the system read now, in Prometheus's text
    format (CONTENT_TYPE_LATEST)."""
    metrics.scraped.values = await read_system(s, pool, offsets, admin, readiness)
    return bytes(generate_latest(metrics.registry))


class _Measure(HttpMiddleware):
    """Counts and times every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        super().__init__(app)
        self.metrics = metrics

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500  # unless the app answers

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            # The router has put the matched route in the scope: its template, never the path.
            template = getattr(scope.get("route"), "path", "(unmatched)")
            self.metrics.requests.labels(scope["method"], template, str(status)).inc()
            self.metrics.latency.labels(scope["method"], template).observe(
                time.perf_counter() - started
            )


def install(app: FastAPI) -> ApiMetrics:
    """Counts and times every request of `app` (GET /metrics is in routes/health.py)."""
    metrics = ApiMetrics()
    app.add_middleware(_Measure, metrics=metrics)
    return metrics
