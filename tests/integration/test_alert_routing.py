# Long: the routing tests share one set of real receivers, started once.
"""Alert routing against real receivers started by the test run: an SMTP server (aiosmtpd), a
loopback HTTP receiver for the Slack, Teams and signed-webhook payloads, and Debian's
prometheus-alertmanager. Routes and channels are made through the API, as an admin would; the
alerts are raised by the stack's own risk agent from events posted over HTTP."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from services import tokens
from services.db import connection
from services.webhooks import verify
from simulation.examples import OMIT, example
from simulation.ports import free_port
from tests.support.alert_channels import (
    Alertmanager,
    HttpReceiver,
    SmtpServer,
    wait_for,
)
from tests.support.http import auth, post
from tests.support.services import ROOT, Services, Tokens
from tests.support.stack import Stack, unique

ROUTER_ENV = {
    "LEDGER_ALERTS_BACKOFF_S": "0.2",
    "LEDGER_ALERTS_MAX_BACKOFF_S": "1",
    "LEDGER_ALERTS_POLL_S": "0.2",
    "LEDGER_ALERTS_TIMEOUT_S": "3",
}


@pytest.fixture(scope="module")
def router(services: Services, smtp_server: SmtpServer) -> Iterator[Services]:
    """`ledger serve alerts` for this module's stack, sending e-mail through the test's SMTP."""
    services.start("alerts", LEDGER_SMTP_URL=smtp_server.url, **ROUTER_ENV)
    yield services
    services.kill("alerts")


def contract(http: httpx.Client, api_tokens: Tokens, client_id: str) -> str:
    """A contract of `client_id` with assignment A-1, managed by the module's account manager."""
    cid = unique("C")
    signed = example(
        "ContractSigned", contract_id=cid, client_id=client_id, account_manager_id=api_tokens.am_id
    )
    assert post(http, api_tokens.am, signed).status_code == 201
    started = example("AssignmentStarted", contract_id=cid)
    assert post(http, api_tokens.am, started).status_code == 201
    return cid


def threat(http: httpx.Client, token: str, cid: str, n: int) -> dict[str, Any]:
    """A bypass threat on A-1: one critical alert, in the answer (the risk agent judged it)."""
    r = post(
        http,
        token,
        example("BypassThreatReported", contract_id=cid, assignment_id="A-1", staffer_id=OMIT,
                description=f"threat number {n}"),
    )  # fmt: skip
    assert r.status_code == 201, r.text
    (alert,) = [a for a in r.json()["alerts"] if a["rule"] == "BYPASS_THREAT"]
    return alert  # type: ignore[no-any-return]


def add_channel(http: httpx.Client, api_tokens: Tokens, **body: Any) -> dict[str, Any]:
    r = http.post("/v1/alert-channels", json=body, headers=auth(api_tokens.admin))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def add_route(http: httpx.Client, api_tokens: Tokens, **body: Any) -> dict[str, Any]:
    r = http.post("/v1/alert-routes", json=body, headers=auth(api_tokens.admin))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def deliveries(http: httpx.Client, api_tokens: Tokens, **params: Any) -> list[dict[str, Any]]:
    r = http.get("/v1/alert-deliveries", params=params, headers=auth(api_tokens.admin))
    assert r.status_code == 200, r.text
    return r.json()["deliveries"]  # type: ignore[no-any-return]


@pytest.fixture
def cleanup(http: httpx.Client, api_tokens: Tokens) -> Iterator[list[str]]:
    """Channel ids made by the test, removed at its end (with their routes)."""
    made: list[str] = []
    yield made
    for channel_id in made:
        http.delete(f"/v1/alert-channels/{channel_id}", headers=auth(api_tokens.admin))


def test_an_alert_reaches_email_slack_teams_a_webhook_and_alertmanager(
    router: Services,
    http: httpx.Client,
    api_tokens: Tokens,
    smtp_server: SmtpServer,
    http_receiver: HttpReceiver,
    alertmanager: Alertmanager,
    cleanup: list[str],
) -> None:
    tag, client = unique("t"), unique("CL")
    slack_path, teams_path, hook_path = f"/slack/{tag}", f"/teams/{tag}", f"/hook/{tag}"
    mailbox = f"finance-{tag}@agency.example"
    made = {
        "email": add_channel(http, api_tokens, name=f"mail-{tag}", kind="email", to=[mailbox]),
        "slack": add_channel(http, api_tokens, name=f"slack-{tag}", kind="slack",
                             url=http_receiver.url(slack_path)),
        "teams": add_channel(http, api_tokens, name=f"teams-{tag}", kind="teams",
                             url=http_receiver.url(teams_path)),
        "webhook": add_channel(http, api_tokens, name=f"hook-{tag}", kind="webhook",
                               url=http_receiver.url(hook_path)),
        "alertmanager": add_channel(http, api_tokens, name=f"am-{tag}", kind="alertmanager",
                                    url=alertmanager.url, resend_s=2),
    }  # fmt: skip
    cleanup += [c["channel_id"] for c in made.values()]
    # The answer masks the credential: the host, never the path.
    assert made["slack"]["url"] == f"http://127.0.0.1:{http_receiver.port}/****"
    assert made["webhook"]["signing_secret"].startswith("whsec_")
    listed = http.get("/v1/alert-channels", headers=auth(api_tokens.admin))
    assert listed.status_code == 200
    assert slack_path not in listed.text and "whsec_" not in listed.text
    for kind, ch in made.items():
        add_route(http, api_tokens, name=f"{kind}-{tag}", channel=ch["name"],
                  match={"client_ids": [client], "severities": ["critical"]})  # fmt: skip
    time.sleep(1.5)  # the router takes new routes up within a second

    cid = contract(http, api_tokens, client)
    alert = threat(http, api_tokens.am, cid, 1)
    aid = alert["alert_id"]

    (mail,) = wait_for(lambda: smtp_server.to(mailbox), 20, "the e-mail")
    exposure = f"{Decimal(alert['exposure']):,.2f}"  # 13,380.00 is written with its commas
    for part in ("BYPASS_THREAT", alert["client_name"], "A-1", exposure):
        assert part in mail.subject, mail.subject
    for part in (alert["message"], cid, "A-1", exposure, "BYPASS_THREAT", alert["client_name"]):
        assert part in mail.body

    (slack,) = wait_for(lambda: http_receiver.at(slack_path), 20, "the Slack message")
    assert alert["message"] in slack.body["text"]
    assert slack.body["blocks"][0]["type"] == "header"
    (teams,) = wait_for(lambda: http_receiver.at(teams_path), 20, "the Teams card")
    card = teams.body["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert alert["message"] in [b.get("text") for b in card["content"]["body"]]
    (hook,) = wait_for(lambda: http_receiver.at(hook_path), 20, "the signed webhook")
    assert hook.body["alert_id"] == aid
    raw = json.dumps(hook.body, separators=(",", ":")).encode()
    assert verify(made["webhook"]["signing_secret"], hook.headers["X-Ledger-Signature"], raw)

    # Alertmanager's API shows it active; resolved in the ledger, Alertmanager says resolved.
    (active,) = wait_for(lambda: alertmanager.active(aid), 20, "active in Alertmanager")
    assert active["labels"]["alertname"] == "BYPASS_THREAT"
    assert active["annotations"]["description"] == alert["message"]
    # Still unresolved: sent again (every resend_s, 2 s here) so it outlives resolve_timeout.
    wait_for(lambda: any(d["kind"] == "refresh" and d["status"] == "delivered"
                         for d in deliveries(http, api_tokens, alert_id=aid)), 20,
             "a re-send to Alertmanager")  # fmt: skip
    resolved = http.post(f"/v1/alerts/{aid}/resolve", headers=auth(api_tokens.finance))
    assert resolved.status_code == 200, resolved.text

    def am_says_resolved() -> bool:
        return any(
            a["labels"].get("alert_id") == aid and a["status"] == "resolved"
            for n in http_receiver.at("/alertmanager-notifications")
            for a in n.body["alerts"]
        )

    wait_for(am_says_resolved, 20, "Alertmanager's resolved notification")
    assert alertmanager.active(aid) == []

    log = deliveries(http, api_tokens, alert_id=aid)
    by_channel = {(d["channel_kind"], d["kind"]): d for d in log}
    for kind in ("email", "slack", "teams", "webhook", "alertmanager"):
        d = by_channel[(kind, "raised")]
        assert d["status"] == "delivered" and d["tries"] == 1 and d["delivered_at"], d
    assert by_channel[("alertmanager", "resolved")]["status"] == "delivered"
    # Each once: nothing repeated (no repeat interval), the e-mail alone in its mailbox.
    time.sleep(1)
    assert len(smtp_server.to(mailbox)) == 1 and len(http_receiver.at(slack_path)) == 1


@pytest.fixture
def second_router(router: Services, smtp_server: SmtpServer) -> Iterator[subprocess.Popen[bytes]]:
    """A second `ledger serve alerts`, as when the service is scaled out; at the end it stops,
    and the module's router runs again if the test stopped it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", "alerts"], cwd=ROOT,
        env=router.env() | {"LEDGER_SMTP_URL": smtp_server.url, **ROUTER_ENV},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    yield proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=30)
    if "alerts" not in router.procs:
        router.start("alerts")


def test_channels_down_for_a_while_get_each_alert_once_in_order_when_back(
    router: Services,
    second_router: subprocess.Popen[bytes],
    http: httpx.Client,
    api_tokens: Tokens,
    smtp_server: SmtpServer,
    http_receiver: HttpReceiver,
    alertmanager: Alertmanager,
    cleanup: list[str],
) -> None:
    tag, client = unique("t"), unique("CL")
    mailbox, slack_path, teams_path = f"desk-{tag}@agency.example", f"/slack/{tag}", f"/teams/{tag}"
    channels = [
        add_channel(http, api_tokens, name=f"mail-{tag}", kind="email", to=[mailbox]),
        add_channel(http, api_tokens, name=f"slack-{tag}", kind="slack",
                    url=http_receiver.url(slack_path)),
        add_channel(http, api_tokens, name=f"am-{tag}", kind="alertmanager",
                    url=alertmanager.url, resend_s=60),
        add_channel(http, api_tokens, name=f"teams-{tag}", kind="teams",
                    url=http_receiver.url(teams_path)),
    ]  # fmt: skip
    cleanup += [c["channel_id"] for c in channels]
    routes = [
        add_route(http, api_tokens, name=f"r{i}-{tag}", channel=c["name"],
                  match={"client_ids": [client], "rules": ["BYPASS_THREAT"]})
        for i, c in enumerate(channels)
    ]  # fmt: skip
    time.sleep(1.5)
    cid = contract(http, api_tokens, client)

    # Down: the SMTP server refuses connections, the Slack receiver answers 500, Alertmanager
    # is stopped. Teams stays up.
    smtp_server.down()
    http_receiver.failing.add(slack_path)
    alertmanager.down()
    try:
        alerts = []
        for n in range(4):
            started = time.monotonic()
            alerts.append(threat(http, api_tokens.am, cid, n))
            # The risk agent is another process: its verdict and alert come as fast as ever.
            assert time.monotonic() - started < 10
        ids = [a["alert_id"] for a in alerts]
        # The healthy channel is not held up by the three that are down.
        wait_for(lambda: len(http_receiver.at(teams_path)) == 4, 20, "Teams while others down")

        def failing() -> bool:
            log = deliveries(http, api_tokens, status="failing")
            return {r["route_id"] for r in routes[:3]} <= {d["route_id"] for d in log}

        wait_for(failing, 20, "the three failing routes in the delivery log")

        def retried() -> bool:  # each down channel tried again and again, with backoff
            heads = [deliveries(http, api_tokens, route_id=r["route_id"], status="failing")
                     for r in routes[:3]]  # fmt: skip
            return all(h and h[0]["tries"] >= 4 for h in heads)

        wait_for(retried, 20, "four tries of each failing head")
        (mail_failure,) = [d for d in deliveries(http, api_tokens, route_id=routes[0]["route_id"],
                                                 status="failing")]  # fmt: skip
        assert mail_failure["tries"] >= 1 and mail_failure["last_error"]
        assert mail_failure["alert_id"] == ids[0]  # the head waits; the rest wait behind it
        # The first router goes away; the second takes over (each alert still once).
        router.kill("alerts")
    finally:
        smtp_server.up()
        http_receiver.failing.discard(slack_path)
        alertmanager.up()

    mails = wait_for(lambda: len(smtp_server.to(mailbox)) >= 4 and smtp_server.to(mailbox), 25,
                     "the e-mails after the outage")  # fmt: skip
    assert [m.body.split("Alert id:")[1].strip() for m in mails] == ids
    slack = wait_for(lambda: len(http_receiver.at(slack_path)) >= 4 and http_receiver.at(
        slack_path), 25, "Slack after the outage")  # fmt: skip
    assert [s.body["blocks"][2]["fields"][-1]["text"].split("\n")[1] for s in slack] == ids

    def notified(aid: str) -> bool:
        return any(
            a["labels"].get("alert_id") == aid
            for n in http_receiver.at("/alertmanager-notifications")
            for a in n.body["alerts"]
        )

    def seen(aid: str) -> bool:
        # Active in Alertmanager's API, or (resolved since, by someone sharing these servers)
        # notified by Alertmanager itself.
        return bool(alertmanager.active(aid)) or notified(aid)

    for aid in ids:
        wait_for(functools.partial(seen, aid), 25, f"{aid} in Alertmanager")
    time.sleep(1.5)  # nothing more comes: each alert once
    assert len(smtp_server.to(mailbox)) == 4 and len(http_receiver.at(slack_path)) == 4
    assert second_router.poll() is None
    for r in routes:
        log = sorted(deliveries(http, api_tokens, route_id=r["route_id"]),
                     key=lambda d: d["delivery_id"])  # fmt: skip
        assert [d["alert_id"] for d in log] == ids
        assert all(d["status"] == "delivered" for d in log)
        done = [d["delivered_at"] for d in log]
        assert done == sorted(done), "delivered out of order"


def test_repeats_while_open_stop_once_acknowledged_and_quiet_hours_hold(
    router: Services,
    http: httpx.Client,
    api_tokens: Tokens,
    http_receiver: HttpReceiver,
    cleanup: list[str],
) -> None:
    tag, client = unique("t"), unique("CL")
    loud, quiet = f"/slack/{tag}-loud", f"/slack/{tag}-quiet"
    a = add_channel(http, api_tokens, name=f"loud-{tag}", kind="slack",
                    url=http_receiver.url(loud))  # fmt: skip
    b = add_channel(http, api_tokens, name=f"quiet-{tag}", kind="slack",
                    url=http_receiver.url(quiet))  # fmt: skip
    cleanup += [a["channel_id"], b["channel_id"]]
    loud_route = add_route(http, api_tokens, name=f"loud-{tag}", channel=a["name"],
                           repeat_interval_s=1,
                           match={"client_ids": [client], "rules": ["BYPASS_THREAT"]})  # fmt: skip
    now = datetime.now(UTC)
    window = {"start": (now - timedelta(hours=1)).strftime("%H:%M"),
              "end": (now + timedelta(hours=1)).strftime("%H:%M"), "timezone": "UTC"}  # fmt: skip
    quiet_route = add_route(http, api_tokens, name=f"quiet-{tag}", channel=b["name"],
                            quiet_hours=window, match={"client_ids": [client]})  # fmt: skip
    time.sleep(1.5)
    cid = contract(http, api_tokens, client)
    alert = threat(http, api_tokens.am, cid, 1)

    got = wait_for(lambda: len(http_receiver.at(loud)) >= 3 and http_receiver.at(loud), 20,
                   "the alert and its repeats")  # fmt: skip
    assert got[0].body["text"].startswith("[CRITICAL] BYPASS_THREAT")
    assert got[1].body["text"].startswith("Still open: [CRITICAL] BYPASS_THREAT")
    ack = http.post(f"/v1/alerts/{alert['alert_id']}/acknowledge", headers=auth(api_tokens.am))
    assert ack.status_code == 200

    def settled() -> bool:
        # A repeat being sent as the acknowledgement came may still arrive: it is recorded
        # (delivered) once sent; one queued but not sent yet is dropped when its turn comes.
        log = deliveries(http, api_tokens, route_id=loud_route["route_id"])
        return all(d["status"] in ("delivered", "dropped") for d in log)

    wait_for(settled, 20, "the loud route's queue settled after the acknowledgement")
    after = len(http_receiver.at(loud))
    time.sleep(3)  # three repeat intervals: none comes
    assert len(http_receiver.at(loud)) == after

    # Quiet hours: nothing sent, the delivery waits in the log until they end.
    assert http_receiver.at(quiet) == []
    held = deliveries(http, api_tokens, route_id=quiet_route["route_id"])
    assert held and all(d["status"] == "pending" for d in held)
    end = datetime.fromisoformat(held[0]["due_at"])
    assert end > datetime.now(UTC) + timedelta(minutes=30)


async def test_an_account_manager_gets_their_own_alerts_by_email_or_a_daily_digest(
    ready_stack: Stack,
    router: Services,
    http: httpx.Client,
    api_tokens: Tokens,
    smtp_server: SmtpServer,
) -> None:
    am_id = unique("am")
    async with connection(ready_stack.dsn) as conn:
        _, am = await tokens.create_token(conn, "account_manager", am_id)
    mailbox = f"{am_id}@agency.example"
    # Only an admin records the address; the account manager may not, nor may another.
    assert http.put(f"/v1/alert-recipients/{am_id}", json={"email": mailbox},
                    headers=auth(am)).status_code == 403  # fmt: skip
    assert http.get(f"/v1/alert-recipients/{am_id}",
                    headers=auth(api_tokens.other_am)).status_code == 403  # fmt: skip
    r = http.put(f"/v1/alert-recipients/{am_id}", json={"email": mailbox},
                 headers=auth(api_tokens.admin))  # fmt: skip
    assert r.status_code == 200 and r.json()["delivery"] == "email", r.text
    time.sleep(1.5)

    cid = unique("C")
    signed = example("ContractSigned", contract_id=cid, account_manager_id=am_id)
    assert post(http, am, signed).status_code == 201
    assert post(http, am, example("AssignmentStarted", contract_id=cid)).status_code == 201

    def own() -> list[Any]:  # (the timer's RELATIONSHIP_NEGLECT of the contract aside)
        return [m for m in smtp_server.to(mailbox) if "RELATIONSHIP_NEGLECT" not in m.subject]

    first = threat(http, am, cid, 1)
    (mail,) = wait_for(own, 20, "the account manager's e-mail")
    assert first["message"] in mail.body and first["alert_id"] in mail.body

    # They choose a daily digest, due a few seconds from now: the next two alerts in one mail.
    at = (datetime.now(UTC) + timedelta(seconds=12)).time().replace(microsecond=0)
    r = http.put(f"/v1/alert-recipients/{am_id}",
                 json={"delivery": "digest", "digest_at": at.isoformat(), "timezone": "UTC"},
                 headers=auth(am))  # fmt: skip
    assert r.status_code == 200 and r.json()["delivery"] == "digest", r.text
    # No pause: an alert raised once the choice is saved is held for the digest, whenever the
    # router last read the route (it reads it again as it queues).
    second, third = threat(http, am, cid, 2), threat(http, am, cid, 3)
    # (Both must be raised before the digest's time, or they wait for tomorrow's.)
    assert datetime.now(UTC).time() < at or at.hour == 0, "too slow to judge this test"
    time.sleep(1)
    assert len(own()) == 1  # held for the digest
    mails = wait_for(lambda: len(own()) >= 2 and own(), 25, "the digest")
    digest = mails[1]
    # Every alert of the contract since the first one's mail: the two threats, and what they
    # raise besides (CLIENT_HEALTH_FALLING: a client threatening twice more is cooling), or
    # the timer's RELATIONSHIP_NEGLECT if it fell due meanwhile (its clock follows the other
    # tests' events). None of them mailed alone.
    r = http.get("/v1/alerts", params={"contract_id": cid},
                 headers=auth(api_tokens.admin))  # fmt: skip
    assert r.status_code == 200, r.text
    listed = r.json()["alerts"]
    since = {a["alert_id"] for a in listed} - {first["alert_id"]}
    held = {a for a in since if a in digest.body}
    assert {second["alert_id"], third["alert_id"]} <= held
    assert "daily digest" in digest.subject and f"{len(held)} alerts" in digest.subject
    assert digest.body.index(second["alert_id"]) < digest.body.index(third["alert_id"])
    time.sleep(1)
    assert len(own()) == 2


def test_routing_is_for_admins_and_credentials_never_come_back(
    router: Services, http: httpx.Client, api_tokens: Tokens, cleanup: list[str]
) -> None:
    tag = unique("t")
    # Nothing listens there: every delivery fails (on loopback, no name to look up).
    secret_url = f"https://127.0.0.1:{free_port()}/services/T0/B0/{tag}-SECRET"
    for token in (api_tokens.finance, api_tokens.am):
        for method, path in (
            ("GET", "/v1/alert-channels"),
            ("GET", "/v1/alert-routes"),
            ("GET", "/v1/alert-deliveries"),
            ("POST", "/v1/alert-channels"),
        ):
            r = http.request(
                method,
                path,
                headers=auth(token),
                json={"name": f"x-{tag}", "kind": "slack", "url": secret_url},
            )
            assert r.status_code == 403, (method, path, r.text)  # fmt: skip
    for bad in ("file:///etc/passwd", "javascript:alert(1)", "data:text/html,x", "ftp://h/x"):
        r = http.post("/v1/alert-channels", headers=auth(api_tokens.admin),
                      json={"name": f"bad-{tag}", "kind": "teams", "url": bad})  # fmt: skip
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "teams.url"  # the channel kind's url
        assert bad not in r.text
    r = http.post("/v1/alert-channels", headers=auth(api_tokens.admin),
                  json={"name": f"mail-{tag}", "kind": "email", "to": ["a@agency.example"],
                        "smtp_url": "smtp://alerts:hunter2-SECRET@mail.invalid:587"})  # fmt: skip
    assert r.status_code == 201 and "hunter2" not in r.text
    assert r.json()["smtp_url"] == "smtp://alerts:****@mail.invalid:587"
    cleanup.append(r.json()["channel_id"])
    made = add_channel(http, api_tokens, name=f"slack-{tag}", kind="slack", url=secret_url)
    cleanup.append(made["channel_id"])
    assert made["url"] == secret_url.split("/services")[0] + "/****"
    r = http.post("/v1/alert-channels", headers=auth(api_tokens.admin),
                  json={"name": f"slack-{tag}", "kind": "slack", "url": secret_url})  # fmt: skip
    assert r.status_code == 409 and tag + "-SECRET" not in r.text
    r = http.post("/v1/alert-routes", headers=auth(api_tokens.admin),
                  json={"name": f"r-{tag}", "channel": f"nowhere-{tag}"})  # fmt: skip
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "channel"
    # Delivering to an unreachable host fails; the error in the log has no credential.
    route = add_route(http, api_tokens, name=f"r-{tag}", channel=made["name"])
    cid = contract(http, api_tokens, unique("CL"))
    threat(http, api_tokens.am, cid, 1)
    failing = wait_for(lambda: deliveries(http, api_tokens, route_id=route["route_id"],
                                          status="failing"), 20, "a failing delivery")  # fmt: skip
    assert failing[0]["last_error"] and tag not in failing[0]["last_error"]
    for path in ("/v1/alert-channels", "/v1/alert-routes", "/v1/alert-deliveries", "/metrics"):
        r = http.get(path, headers=auth(api_tokens.admin))
        assert r.status_code == 200 and f"{tag}-SECRET" not in r.text and "hunter2" not in r.text
    log = (ROOT / "var" / "log" / f"test-{router.prefix}-alerts.log").read_text()
    assert f"{tag}-SECRET" not in log and "hunter2" not in log
    assert f"slack-{tag}" in log  # the failure is logged, by the channel's name
    # Removing the route drops what it still had to deliver, and the log says so.
    gone = http.delete(f"/v1/alert-routes/{route['route_id']}", headers=auth(api_tokens.admin))
    assert gone.status_code == 204
    dropped = deliveries(http, api_tokens, route_id=route["route_id"])
    assert dropped and all(
        d["status"] == "dropped" and "the route was removed" in d["last_error"] for d in dropped
    )


def test_a_try_under_way_when_its_route_is_removed_leaves_the_delivery_dropped(
    router: Services,
    http: httpx.Client,
    api_tokens: Tokens,
    http_receiver: HttpReceiver,
    cleanup: list[str],
) -> None:
    tag = unique("held")
    path = f"/slack-{tag}"
    http_receiver.held[path] = release = threading.Event()
    http_receiver.failing.add(path)  # once released, the try fails: a 500
    try:
        made = add_channel(http, api_tokens, name=f"slack-{tag}", kind="slack",
                           url=http_receiver.url(path))  # fmt: skip
        cleanup.append(made["channel_id"])
        route = add_route(http, api_tokens, name=f"r-{tag}", channel=made["name"])
        threat(http, api_tokens.am, contract(http, api_tokens, unique("CL")), 1)
        # The router is sending: the route is removed while the try is under way.
        wait_for(lambda: http_receiver.arrived.get(path), 20, "the try under way")
        gone = http.delete(f"/v1/alert-routes/{route['route_id']}", headers=auth(api_tokens.admin))
        assert gone.status_code == 204
        log = ROOT / "var" / "log" / f"test-{router.prefix}-alerts.log"
        failures_before = log.read_text().count(f"channel slack-{tag} failed")
    finally:
        release.set()
    # The try ends (the 500, or the router's own timeout) and the router records its outcome.
    wait_for(lambda: log.read_text().count(f"channel slack-{tag} failed") > failures_before, 20,
             "the try's failure logged")  # fmt: skip
    dropped = deliveries(http, api_tokens, route_id=route["route_id"])
    assert dropped and all(
        d["status"] == "dropped" and "the route was removed" in d["last_error"] for d in dropped
    ), dropped
    assert http_receiver.arrived[path] == 1  # and nothing more was sent for the removed route


def test_two_admins_adding_one_name_at_once_get_one_channel_and_one_409(
    router: Services, http: httpx.Client, api_tokens: Tokens, cleanup: list[str]
) -> None:
    name = unique("same")

    def add(i: int) -> httpx.Response:
        body = {"name": name, "kind": "slack", "url": f"https://hooks.slack.invalid/services/{i}"}
        with httpx.Client(base_url=str(http.base_url), timeout=30) as c:
            return c.post("/v1/alert-channels", headers=auth(api_tokens.admin), json=body)

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(add, range(4)))
    made = [r for r in answers if r.status_code == 201]
    assert len(made) == 1, [(r.status_code, r.text) for r in answers]
    cleanup.append(made[0].json()["channel_id"])
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409]
    listed = http.get("/v1/alert-channels", headers=auth(api_tokens.admin)).json()["channels"]
    assert [c["channel_id"] for c in listed if c["name"] == name] == [made[0].json()["channel_id"]]


def test_a_routes_file_is_loaded_by_the_cli_and_loading_it_again_changes_nothing(
    router: Services, http: httpx.Client, api_tokens: Tokens, tmp_path: Any
) -> None:
    tag = unique("t")
    file = tmp_path / "routes.yaml"
    file.write_text(
        f"""channels:
  - name: desk-{tag}
    kind: slack
    url: "${{DESK_URL}}"
routes:
  - name: critical-{tag}
    channel: desk-{tag}
    match: {{severities: [critical], rules: [BYPASS_THREAT, LOSS_POSITION]}}
    repeat_interval_s: 14400
    quiet_hours: {{start: "22:00", end: "07:00", timezone: Europe/London}}
"""
    )
    env = router.env() | {"DESK_URL": f"https://127.0.0.1:9/services/{tag}"}

    def load() -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "services.cli", "alerts", "routes", "load", str(file)]
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)

    first = load()
    assert first.returncode == 0, first.stderr
    listed = http.get("/v1/alert-routes", headers=auth(api_tokens.admin)).json()["routes"]
    (route,) = [r for r in listed if r["name"] == f"critical-{tag}"]
    assert route["quiet_hours"] == {"start": "22:00", "end": "07:00", "timezone": "Europe/London"}
    assert route["match"]["severities"] == ["critical"] and route["repeat_interval_s"] == 14400
    assert load().returncode == 0
    again = http.get("/v1/alert-routes", headers=auth(api_tokens.admin)).json()["routes"]
    assert [r for r in again if r["name"] == f"critical-{tag}"] == [route]
    channels = http.get("/v1/alert-channels", headers=auth(api_tokens.admin))
    assert tag in channels.text and f"services/{tag}" not in channels.text
    # A bad file: the field and the reason, nothing changed.
    file.write_text(file.read_text().replace("${DESK_URL}", "javascript:alert(1)"))
    bad = load()
    assert (
        bad.returncode == 2
        and "channels.0.slack.url" in bad.stderr
        and "javascript" not in bad.stderr
    )
    http.delete(f"/v1/alert-channels/{route['channel_id']}", headers=auth(api_tokens.admin))

    # The same file named by LEDGER_ALERT_ROUTES_FILE: a router loads it as it starts.
    file.write_text(file.read_text().replace("javascript:alert(1)", "${DESK_URL}")
                    .replace(f"critical-{tag}", f"at-start-{tag}"))  # fmt: skip
    starting = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", "alerts"], cwd=ROOT,
        env=env | {"LEDGER_ALERT_ROUTES_FILE": str(file)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:

        def loaded() -> list[dict[str, Any]]:
            r = http.get("/v1/alert-routes", headers=auth(api_tokens.admin))
            return [x for x in r.json()["routes"] if x["name"] == f"at-start-{tag}"]

        (at_start,) = wait_for(loaded, 20, "the routes file loaded at the router's start")
        assert at_start["channel"] == f"desk-{tag}"
    finally:
        starting.terminate()
        starting.wait(timeout=30)
    http.delete(f"/v1/alert-channels/{at_start['channel_id']}", headers=auth(api_tokens.admin))


@pytest.fixture(scope="module", autouse=True)
async def _no_routes_left(ready_stack: Stack, services: Services) -> AsyncIterator[None]:
    yield
    # Every route of this module's stack is deactivated, whatever a failing test left.
    async with connection(ready_stack.dsn) as conn:
        await conn.execute(
            "UPDATE alert_routes SET active = false WHERE projection_schema = $1", services.schema
        )
