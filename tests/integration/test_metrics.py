"""GET /metrics, as Prometheus scrapes it: requests and submissions counted as they happen,
the projector's lag and the alerts read from the system."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from simulation.examples import example
from tests.support.http import post
from tests.support.services import Tokens
from tests.support.stack import unique

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
