"""POST /v1/events/preview over HTTP, against the real writer's log: DESIGN's worked example
previews as −96.00 a week with LOSS_POSITION and RAISE_ABSORBED, while the contract's log and
its alerts stay as they were; submitting it for real then answers the same impact and alerts.
Another account manager's preview is refused like their submission."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from events.topics import partition_of
from services import tokens
from services.db import connection
from services.reads.event_log import projected_offset
from simulation.examples import OMIT, example
from tests.support.http import auth, log_of, post
from tests.support.services import Services, Tokens, running_services
from tests.support.stack import Stack, unique


def _preview(http: httpx.Client, token: str, body: Any) -> httpx.Response:
    return http.post("/v1/events/preview", json=body, headers=auth(token))


def _alerts(http: httpx.Client, token: str, cid: str) -> list[dict[str, Any]]:
    r = http.get("/v1/alerts", params={"contract_id": cid}, headers=auth(token))
    assert r.status_code == 200, r.text
    alerts: list[dict[str, Any]] = r.json()["alerts"]
    return alerts


def _worked_example_events(am_id: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The contract and assignment of DESIGN's worked example (floor 15 %), and the raise the
    client asks for."""
    cid, aid = unique("C"), unique("A")
    signed = example(
        "ContractSigned", contract_id=cid, account_manager_id=am_id,
        start_date="2026-01-05", end_date="2027-12-31", markup_floor_pct="15", burden_pct="20",
        msp_fee_pct=OMIT, conversion_fee_waived_after_hours=OMIT,
    )  # fmt: skip
    started = example(
        "AssignmentStarted", contract_id=cid, assignment_id=aid, pay_rate="30.00",
        bill_rate="37.50", hours_per_week="40", burden_pct=OMIT, start_date="2026-01-05",
        expected_end_date="2027-06-28",
    )  # fmt: skip
    # Dated in the past on any day this runs: the API refuses an event more than a day ahead.
    ask = example(
        "RaiseRequested", contract_id=cid, assignment_id=aid, requested_pay_rate="32.00",
        client_max_bill_rate="37.50", requested_by="client",
        occurred_at="2026-11-30T09:00:00+00:00",
    )  # fmt: skip
    return signed, started, ask


@dataclass(frozen=True)
class _Placed:
    cid: str
    ask: dict[str, Any]  # the worked example's raise request, not submitted
    log: list[dict[str, Any]]  # the contract's log before it


@pytest.fixture
def placed(http: httpx.Client, api_tokens: Tokens) -> _Placed:
    """The worked example's contract and assignment submitted; the raise not yet."""
    signed, started, ask = _worked_example_events(api_tokens.am_id)
    for e in (signed, started):
        assert post(http, api_tokens.am, e).status_code == 201
    cid = str(signed["contract_id"])
    return _Placed(cid, ask, log_of(http, api_tokens.am, cid))


def _without_version(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in i.items() if k != "stream_version"} for i in items]


def test_the_worked_example_previews_its_cost_and_appends_nothing(
    http: httpx.Client, api_tokens: Tokens, placed: _Placed
) -> None:
    cid, ask = placed.cid, placed.ask

    r = _preview(http, api_tokens.am, ask)

    assert r.status_code == 200, r.text
    body = r.json()
    assert {k: body[k] for k in ("preview", "status", "http_status", "stream_version")} == {
        "preview": True, "status": "accepted", "http_status": 201, "stream_version": 3,
    }  # fmt: skip
    assert (body["event_id"], body["contract_id"], body["type"]) == (
        ask["event_id"], cid, "RaiseRequested"
    )  # fmt: skip
    # Said as what would happen: nothing was (issue #21: "was accepted" under "Would be").
    assert "would be accepted" in body["message"] and "was accepted" not in body["message"]
    [impact] = body["margin_impacts"]
    # 60.00 → −36.00 a week: −96.00; over the 30 weeks left: −2,880.00
    assert (impact["delta_weekly_gross_profit"], impact["delta_remaining_gross_profit"]) == (
        "-96.00",
        "-2880.00",
    )
    assert (impact["basis"], impact["counted_from"]) == ("proposed", "2026-11-30")
    assert {(a["rule"], a["severity"], a["exposure"], a["status"]) for a in body["alerts"]} == {
        ("LOSS_POSITION", "high", "1080.00", "open"),
        ("RAISE_ABSORBED", "high", "3000.00", "open"),
    }

    # Nothing appended: a real event now gets version 3, and once it is judged (POST waits for
    # the projector and the rules) no alert comes from the previewed event.
    contact = example(
        "ClientContactLogged", contract_id=cid, direction="inbound", responded=True,
        occurred_at="2026-11-23T09:00:00+00:00",
    )  # fmt: skip
    r = post(http, api_tokens.am, contact)
    assert r.status_code == 201 and r.json()["stream_version"] == 3
    assert log_of(http, api_tokens.am, cid)[:-1] == placed.log
    assert not [a for a in _alerts(http, api_tokens.am, cid) if ask["event_id"] in a["event_ids"]]

    # Submitted for real, it causes what the preview said (one version later).
    r = post(http, api_tokens.am, ask)
    assert r.status_code == 201, r.text
    real = r.json()
    assert _without_version(real["margin_impacts"]) == _without_version(body["margin_impacts"])
    assert sorted(_without_version(real["alerts"]), key=lambda a: a["rule"]) == sorted(
        _without_version(body["alerts"]), key=lambda a: a["rule"]
    )


def test_a_preview_is_refused_as_the_submission_would_be(
    http: httpx.Client, api_tokens: Tokens, placed: _Placed
) -> None:
    cid, ask = placed.cid, placed.ask

    other = _preview(http, api_tokens.other_am, ask)
    assert other.status_code == 403, other.text
    assert (other.json()["status"], other.json()["code"]) == ("refused", "forbidden_contract")
    submitted = post(http, api_tokens.other_am, ask)
    assert submitted.status_code == 403
    assert submitted.json().items() <= other.json().items()  # POST's answer, and more

    assert _preview(http, api_tokens.finance, ask).status_code == 403
    assert http.post("/v1/events/preview", json=ask).status_code == 401

    invalid = {**ask, "requested_pay_rate": "-1"}
    bad = _preview(http, api_tokens.am, invalid)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "requested_pay_rate"
    assert bad.json() == post(http, api_tokens.am, invalid).json()

    # A batch is judged in order: the same request made twice is refused the second time.
    again = {**ask, "event_id": str(uuid.uuid4())}
    batch = _preview(http, api_tokens.am, {"events": [ask, again]})
    assert batch.status_code == 200, batch.text
    assert [(r["status"], r.get("code")) for r in batch.json()["results"]] == [
        ("accepted", None),
        ("refused", "raise_request_exists"),
    ]
    assert log_of(http, api_tokens.am, cid) == placed.log


@pytest.fixture(scope="module")
async def own(ready_stack: Stack) -> AsyncIterator[Services]:
    """A set of processes for the two tests below (one pauses its projector and deletes records
    of its log; the other needs a low rate limit): a short verdict deadline, 40 units a second
    (a 200-unit bucket) per token. Each test's contracts and tokens are its own."""
    slow = {"api": {"LEDGER_RATE_LIMIT_PER_S": "40"}}
    async with running_services(ready_stack, verdict_timeout_s=3, env_of=slow) as svc:
        yield svc


async def test_a_preview_reads_the_index_and_what_the_projector_has_not_applied_yet(
    ready_stack: Stack, api_tokens: Tokens, own: Services
) -> None:
    """A preview costs O(the contract's events), not a scan of its partition: with the records
    before the projector's position deleted from the log, it still judges against the whole
    history (read from the audit index), and against an event the projector, stopped, has not
    applied yet (read from the log)."""
    signed, started, ask = _worked_example_events(api_tokens.am_id)
    cid = str(signed["contract_id"])
    with httpx.Client(base_url=own.url, timeout=60) as http:
        assert post(http, api_tokens.am, signed).json()["margin_impacts"] == []
        events = own.topics.events
        partition = partition_of(cid, events.partitions)
        async with connection(ready_stack.dsn) as conn:
            position = await projected_offset(conn, own.schema, partition)
        assert position > 0
        admin = AIOKafkaAdminClient(bootstrap_servers=ready_stack.bootstrap)
        await admin.start()
        try:
            tp = TopicPartition(events.name, partition)
            await admin.delete_records({tp: RecordsToDelete(before_offset=position)})
        finally:
            await admin.close()

        own.send("projector", signal.SIGSTOP)
        try:
            r = post(http, api_tokens.am, started)  # answered without its impacts
            assert r.status_code == 201, r.text
            r = _preview(http, api_tokens.am, ask)
        finally:
            own.send("projector", signal.SIGCONT)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["stream_version"]) == ("accepted", 3)
    [impact] = r.json()["margin_impacts"]
    assert impact["delta_weekly_gross_profit"] == "-96.00"


async def test_a_token_that_asks_too_much_waits_and_others_are_served(
    ready_stack: Stack, own: Services
) -> None:
    """Issue #21: four 500-event previews at once held every request for 24 s. Here a limit of
    40 units a second (a 200-unit bucket): 20 previewed events fill it. The two tokens are this
    test's own, their buckets full."""
    async with connection(ready_stack.dsn) as conn:
        am = (await tokens.create_token(conn, "account_manager", unique("am")))[1]
        other_am = (await tokens.create_token(conn, "account_manager", unique("am")))[1]
    with httpx.Client(base_url=own.url, timeout=60) as http:
        batch = {"events": [example("ClientContactLogged", contract_id=unique("C"))
                            for _ in range(20)]}  # fmt: skip
        assert _preview(http, am, batch).status_code == 200
        limited = _preview(http, am, batch)
        assert limited.status_code == 429, limited.text
        wait = int(limited.headers["Retry-After"])
        assert 1 <= wait <= 5
        assert limited.json()["errors"][0]["field"] == "(token)"
        assert _preview(http, other_am, batch).status_code == 200
        time.sleep(wait)
        assert _preview(http, am, batch).status_code == 200
