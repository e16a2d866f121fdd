"""How fast the finance portfolio page is ready in the real browser, with 5,000 contracts in the
read models.

    .venv/bin/python bench/portfolio_page.py [--contracts 5000] [--events 40000] [--runs 10]

In one run it
1. generates a valid log over C contracts (simulation/histories.py, the one generator of the
   tests and benches), produces it to a unique events topic and replays it into a unique projection
   schema with the real projector,
2. starts an API process of this checkout on those read models and a finance token,
3. drives Debian's chromium (Playwright) as the browser tests do: signs in, then loads
   /app/finance?as_of=... R times, each a fresh navigation, and takes the time from the start
   of the navigation to the app's "ready" mark (body[data-state=ready]: every figure, table and
   the trend chart loaded and drawn), read from the page's own clock (performance.now()),
4. prints the machine, its load and the timings, then stops the API, drops the schema and
   deletes the topics.

The first load computes everything (the API caches the portfolio's margins and trend per day
and data version, services/api/margin_cache.py); the next ones find them computed, as a user
does who comes back to the page while no event has changed the read models.

Kafka and PostgreSQL are taken from KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, else the local
stack of `make up`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from playwright.async_api import async_playwright  # noqa: E402

from bench.projection_replay import _load, cleanup, kafka_version, machine  # noqa: E402
from events.topics import topics  # noqa: E402
from services import db, tokens  # noqa: E402
from services.kafka_admin import ensure_topics  # noqa: E402
from services.projector import store  # noqa: E402
from services.projector.sharded import replay  # noqa: E402
from services.settings import LOCAL_DATABASE_URL, LOCAL_KAFKA, Settings  # noqa: E402
from simulation.histories import generate, produce  # noqa: E402
from tests.support.browser import ARGS, CHROMIUM  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited with {proc.returncode}")
        time.sleep(0.2)
    raise TimeoutError("the API did not answer")


async def measure(url: str, token: str, as_of: str, runs: int) -> list[float]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1360, "height": 900})
            page = await context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(f"{url}/app/sign-in")
            await page.get_by_label("API token").fill(token)
            await page.get_by_role("button", name="Sign in").click()
            await page.wait_for_url(lambda u: "/app/sign-in" not in u)
            times = []
            for _ in range(runs):
                await page.goto(f"{url}/app/finance?as_of={as_of}", wait_until="commit")
                await page.locator("body[data-state=ready]").wait_for(
                    state="attached", timeout=30_000
                )
                ms: float = await page.evaluate("performance.now()")
                assert await page.locator("#trend-chart[data-drawn=true] canvas").count() == 1
                times.append(ms)
            if errors:
                raise RuntimeError(f"console errors: {errors}")
            return times
        finally:
            await browser.close()


async def main(args: argparse.Namespace) -> int:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", LOCAL_KAFKA)
    dsn = os.environ.get("DATABASE_URL", LOCAL_DATABASE_URL)
    tag = uuid.uuid4().hex[:12]
    prefix, schema = f"bench.{tag}", f"bench_{tag}"
    wanted = topics(prefix)
    spec = wanted.events
    api: subprocess.Popen[bytes] | None = None
    conn = await asyncpg.connect(dsn)
    try:
        await db.migrate(conn)
        t0 = time.perf_counter()
        log = generate(args.events, args.contracts, args.seed, check=False)
        await ensure_topics(bootstrap, wanted)
        await produce(bootstrap, spec.name, spec.partitions, log, "none")
        del log
        await store.ensure_live_schema(conn, schema, spec.name)
        settings = Settings(
            KAFKA_BOOTSTRAP_SERVERS=bootstrap,
            DATABASE_URL=dsn,
            LEDGER_TOPIC_PREFIX=prefix,
            LEDGER_PROJECTION_SCHEMA=schema,
        )
        await replay(settings, schema, 1)
        counts = await conn.fetchrow(
            f"""SELECT (SELECT count(*) FROM {schema}.contracts) AS contracts,
                       (SELECT count(*) FROM {schema}.assignments) AS assignments,
                       (SELECT count(DISTINCT client_id) FROM {schema}.contracts) AS clients,
                       (SELECT count(DISTINCT account_manager_id) FROM {schema}.contracts) AS ams,
                       (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY start_date)
                          FROM {schema}.assignments) AS mid"""
        )
        as_of = (args.as_of or counts["mid"].isoformat()) if counts["mid"] else "2023-01-01"
        print(
            f"read models: {counts['contracts']:,} contracts, {counts['assignments']:,} "
            f"assignments, {counts['clients']:,} clients, {counts['ams']} account managers "
            f"(built in {time.perf_counter() - t0:.0f} s)"
        )
        token = (await tokens.create_token(conn, "finance", None))[1]
        port = _free_port()
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "DATABASE_URL": dsn,
            "LEDGER_TOPIC_PREFIX": prefix,
            "LEDGER_PROJECTION_SCHEMA": schema,
            "LEDGER_API_PORT": str(port),
        }
        api = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", "api"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        _wait_http(url, api)
        load_before = _load()
        times = await measure(url, token, as_of, args.runs)
        load_after = _load()
        # Asked after the measurement, so that the first load finds nothing computed yet.
        active = httpx.get(
            f"{url}/v1/margins/portfolio",
            params={"as_of": as_of, "limit": 1},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        ).json()["active_assignments"]
    finally:
        if api is not None:
            api.terminate()
            api.wait(timeout=30)
        with contextlib.suppress(Exception):
            await conn.close()
        if args.keep:
            print(f"kept schema {schema} and topics of prefix {prefix}")
        else:
            await cleanup(bootstrap, dsn, schema, [t.name for t in wanted.all()])

    info = machine(kafka_version(), "see DATABASE_URL")
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items() if k != "postgresql"))
    print(f"load average (1 min): {load_before} before, {load_after} after")
    print(f"portfolio as of {as_of}: {active:,} active assignments")
    print("ready in (ms), each a fresh navigation: " + ", ".join(f"{t:.0f}" for t in times))
    warm = times[1:] or times
    print(
        f"first {times[0]:.0f} ms; after it median {statistics.median(warm):.0f} ms, "
        f"max {max(warm):.0f} ms"
    )
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contracts", type=int, default=5000)
    ap.add_argument("--events", type=int, default=40000)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--as-of", default=None, help="YYYY-MM-DD; default: the median start date")
    ap.add_argument("--keep", action="store_true", help="keep the schema and topics (debugging)")
    sys.exit(asyncio.run(main(ap.parse_args())))
