"""GET /metrics, as Prometheus scrapes it: requests and submissions counted as they happen,
the projector's lag and the alerts read from the system; the writer's and the risk agent's
group lag, the dead letters and the latest readiness checks, which the Kubernetes
deployment's alerts are written on (deploy/k8s/base/monitoring.yaml)."""

from __future__ import annotations

import time

import httpx
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from simulation.examples import example
from tests.support.http import post
from tests.support.services import Services, Tokens
from tests.support.stack import Stack, unique

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(http: httpx.Client) -> Samples:
    r = http.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_submissions_and_requests_and_show_the_projector_lag(
    http: httpx.Client, api_tokens: Tokens
) -> None:
    before = _scrape(http)
    cid = unique("C")
    signed = example("ContractSigned", contract_id=cid, account_manager_id=api_tokens.am_id)
    assert post(http, api_tokens.am, signed).status_code == 201
    assert post(http, api_tokens.am, signed).status_code == 200  # the same event again
    bad = example("ContractSigned", contract_id="not an id", account_manager_id=api_tokens.am_id)
    assert post(http, api_tokens.am, bad).status_code == 422
    after = _scrape(http)

    def delta_of(now: Samples, name: str, **labels: str) -> float:
        return _value(now, name, **labels) - _value(before, name, **labels)

    def delta(name: str, **labels: str) -> float:
        return delta_of(after, name, **labels)

    # Accepted once; the same event again is recognised as a duplicate, not a second event.
    assert delta("ledger_submissions_total", outcome="accepted", code="") == 1
    assert (
        sum(
            value - _value(before, name, **dict(labels))
            for (name, labels), value in after.items()
            if name == "ledger_submissions_total" and dict(labels)["outcome"] == "duplicate"
        )
        == 1
    )
    assert delta("ledger_submissions_total", outcome="invalid", code="invalid_event") == 1
    assert delta("ledger_http_requests_total", method="POST", route="/v1/events", status="201") == 1
    assert delta("ledger_http_requests_total", method="POST", route="/v1/events", status="422") == 1
    assert (
        delta("ledger_http_request_duration_seconds_count", method="POST", route="/v1/events") == 3
    )

    # The projector applies what was accepted: its lag per partition comes back to 0.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lag = {
            dict(labels)["partition"]: value
            for (name, labels), value in _scrape(http).items()
            if name == "ledger_projection_lag_events"
        }
        if len(lag) == 6 and not any(lag.values()):
            break
        time.sleep(0.3)
    assert lag == {str(p): 0.0 for p in range(6)}

    # A threat to move the staffer: one more open critical alert.
    assert (
        post(http, api_tokens.am, example("AssignmentStarted", contract_id=cid)).status_code == 201
    )
    threat = example("BypassThreatReported", contract_id=cid, assignment_id="A-1")
    assert post(http, api_tokens.am, threat).status_code == 201
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        raised = delta_of(_scrape(http), "ledger_alerts", status="open", severity="critical")
        if raised >= 1:
            break
        time.sleep(0.3)
    assert raised == 1


def _by_partition(samples: Samples, consumer: str) -> dict[str, float]:
    return {
        dict(labels)["partition"]: value
        for (name, labels), value in samples.items()
        if name == "ledger_consumer_lag_events" and dict(labels)["consumer"] == consumer
    }


async def test_metrics_show_the_groups_lag_the_dead_letters_and_the_readiness_checks(
    ready_stack: Stack, services: Services, http: httpx.Client, api_tokens: Tokens
) -> None:
    before = _scrape(http)
    assert set(_by_partition(before, "writer")) == {str(p) for p in range(6)}
    assert set(_by_partition(before, "risk")) == {str(p) for p in range(6)}

    # A submission the writer cannot decode: dead-lettered in the writer's transaction (the
    # record, then its commit marker: the end offset moves by two).
    cid = unique("C")
    producer = AIOKafkaProducer(bootstrap_servers=ready_stack.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            services.topics.submissions.name, b'{"not": "a submission"', key=cid.encode()
        )
    finally:
        await producer.stop()
    # And an event, judged by the risk agent.
    signed = example("ContractSigned", contract_id=cid, account_manager_id=api_tokens.am_id)
    assert post(http, api_tokens.am, signed).status_code == 201

    dead = _value(before, "ledger_dead_letters_end_offset")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = _scrape(http)
        writer, risk = _by_partition(now, "writer"), _by_partition(now, "risk")
        # The writer has committed past both; the risk agent past every event it judged (its
        # committed offset stops before the commit marker of the writer's last transaction).
        if (
            _value(now, "ledger_dead_letters_end_offset") == dead + 2
            and not any(writer.values())
            and max(risk.values()) <= 1
        ):
            break
        time.sleep(0.3)
    assert _value(now, "ledger_dead_letters_end_offset") == dead + 2
    assert writer == {str(p): 0.0 for p in range(6)}
    assert max(risk.values()) <= 1

    # The outcome of each check of the latest /readyz.
    assert http.get("/readyz").status_code == 200
    checks = {
        dict(labels)["check"]: value
        for (name, labels), value in _scrape(http).items()
        if name == "ledger_readiness_check"
    }
    assert checks == {
        "postgres": 1.0,
        "kafka": 1.0,
        "writer": 1.0,
        "verdict_recorder": 1.0,
        "projections": 1.0,
    }
