"""Each process rides out a fault by itself: a writer paused past its session timeout, an API
restarted with a 202 outstanding, a writer killed, Kafka cut away (through a proxy: the shared
servers are never stopped). The risk agent's and PostgreSQL's faults: test_resilience_risk_pg.py."""

from __future__ import annotations

import contextlib
import signal
import threading
import time

import httpx
import pytest

from simulation.examples import example
from tests.support.http import auth, history
from tests.support.proxy import kafka_proxy_to
from tests.support.resilience import timed_post, until, verdict_of
from tests.support.services import ROOT, Tokens, running_services
from tests.support.stack import Stack, unique

# Its tests assert how soon a service answers or decides after a fault (a deadline is the
# product's promise): they run alone, after the parallel run (`make test`).
pytestmark = pytest.mark.serial


SESSION_TIMEOUT_S = 10  # the writer's consumer group session timeout


async def test_paused_writer_resumes_and_a_202_resolves_across_an_api_restart(
    ready_stack: Stack, api_tokens: Tokens
) -> None:
    async with running_services(ready_stack, verdict_timeout_s=2.0) as svc:
        with httpx.Client(base_url=svc.url, timeout=30) as client:
            cids = [unique("C") for _ in range(4)]
            for cid in cids:
                for body in history(cid, api_tokens.am_id):
                    assert verdict_of(client, api_tokens.am, body)["status"] == "accepted"

            # Steady submissions, so that the pause lands in the middle of transactions.
            answers: dict[str, int] = {}
            load = threading.Event()

            def submit(cid: str) -> None:
                with httpx.Client(base_url=svc.url, timeout=30) as c:
                    while not load.is_set():
                        body = example("ClientContactLogged", contract_id=cid)
                        with contextlib.suppress(httpx.TransportError):  # the API restarting
                            r, _ = timed_post(c, api_tokens.am, body)
                            answers[body["event_id"]] = r.status_code

            threads = [threading.Thread(target=submit, args=(cid,)) for cid in cids]
            for t in threads:
                t.start()
            time.sleep(1.5)
            svc.send("writer", signal.SIGSTOP)  # a GC pause, a VM migration
            paused = time.monotonic()
            time.sleep(2.5)
            load.set()
            for t in threads:
                t.join()
            pending = example("ClientContactLogged", contract_id=cids[0])
            r, took = timed_post(client, api_tokens.am, pending)
            assert r.status_code == 202, r.text
            assert r.headers["Location"] == f"/v1/submissions/{pending['event_id']}"
            assert took < 2.0 + 1.5

            # The API that took the submissions goes away before the writer decides them.
            svc.kill("api")
            svc.start("api")
            svc.wait_http()

            time.sleep(max(0.0, SESSION_TIMEOUT_S + 3 - (time.monotonic() - paused)))
            svc.send("writer", signal.SIGCONT)
            resumed = time.monotonic()

            def decided() -> bool:
                r, _ = timed_post(
                    client, api_tokens.am, example("ClientContactLogged", contract_id=cids[1])
                )
                assert r.status_code in (201, 202), r.text
                return r.status_code == 201

            until("the writer decides again after the pause", 30, decided)
            print(f"writer deciding again {time.monotonic() - resumed:.1f} s after SIGCONT")
            assert svc.alive("writer")

            # Every 202, given by the API before its restart, resolves.
            waited = [eid for eid, code in answers.items() if code == 202] + [pending["event_id"]]
            accepted = {eid for eid, code in answers.items() if code == 201}
            for eid in waited:
                verdict = until(
                    f"the 202 of {eid} resolves",
                    30,
                    lambda eid=eid: (
                        (
                            x := client.get(f"/v1/submissions/{eid}", headers=auth(api_tokens.am))
                        ).status_code
                        == 200
                        and x.json()
                    ),
                )
                assert verdict["status"] == "accepted"
                accepted.add(eid)
            logged = []
            for cid in cids:
                events = client.get(
                    "/v1/events", params={"contract_id": cid}, headers=auth(api_tokens.am)
                ).json()["events"]
                assert [e["stream_version"] for e in events] == list(range(1, len(events) + 1))
                logged += [e["event_id"] for e in events[1:]]
            assert len(logged) == len(set(logged))  # nothing twice
            assert accepted <= set(logged)  # nothing lost


async def test_a_killed_writer_decides_again_without_waiting_out_its_old_session(
    ready_stack: Stack, api_tokens: Tokens
) -> None:
    """Issue #21: a SIGKILLed writer cost 10-11 s of verdicts, its successor waiting out the dead
    member's session. Restarted under the same static membership, it takes its partitions back
    at once, as the projector and the risk agent do."""
    async with running_services(ready_stack, verdict_timeout_s=10.0) as svc:
        with httpx.Client(base_url=svc.url, timeout=30) as client:
            cid = unique("C")
            signed, contact = history(cid, api_tokens.am_id, "ClientContactLogged")
            assert timed_post(client, api_tokens.am, signed)[0].status_code == 201
            for body in (contact, example("ClientContactLogged", contract_id=cid)):
                svc.kill("writer")  # SIGKILL: it never leaves its consumer group
                svc.start("writer")
                restarted = time.monotonic()
                r, _ = timed_post(client, api_tokens.am, body)
                took = time.monotonic() - restarted
                assert r.status_code == 201, r.text
                print(f"writer deciding again {took:.1f} s after its restart")
                # A new member would have waited out the dead one's session first.
                assert took < SESSION_TIMEOUT_S - 2
        log = (ROOT / "var" / "log" / f"test-{svc.prefix}-writer.log").read_text()
        assert "(instance writer-" in log


async def test_kafka_cut_away_post_answers_within_its_deadline(
    ready_stack: Stack, api_tokens: Tokens
) -> None:
    with kafka_proxy_to(ready_stack.bootstrap) as kafka:
        async with running_services(
            ready_stack,
            verdict_timeout_s=3.0,
            env_of={"api": {"KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap}},
        ) as svc:
            with httpx.Client(base_url=svc.url, timeout=30) as client:
                cid = unique("C")
                for body in history(cid, api_tokens.am_id):
                    assert verdict_of(client, api_tokens.am, body)["status"] == "accepted"

                kafka.cut()
                r, took = timed_post(
                    client, api_tokens.am, example("ClientContactLogged", contract_id=cid)
                )
                assert took < 3.0 + 2.0, f"answered after {took:.1f} s"
                assert r.status_code == 503, r.text
                assert int(r.headers["Retry-After"]) > 0
                assert r.json()["errors"][0]["field"] == "kafka"
                ready = client.get("/readyz")
                assert ready.status_code == 503
                assert not ready.json()["checks"]["kafka"]["ok"]
                assert svc.alive("api")

                kafka.restore()
                until(
                    "the API hands submissions over again",
                    30,
                    lambda: timed_post(client, api_tokens.am, example(
                        "ClientContactLogged", contract_id=cid))[0].status_code == 201,
                )  # fmt: skip
