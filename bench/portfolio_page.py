"""How fast the finance portfolio page is ready in the real browser, with 5,000 contracts in the
read models.

    .venv/bin/python -m bench.portfolio_page [--contracts 5000] [--events 40000] [--runs 5]
                                             [--changes 5]

In one run it
1. generates a valid log over C contracts (simulation/histories.py, the one generator of the
   tests and benches), produces all of it but its last `--changes` events to a unique events
   topic and replays that into a unique projection schema with the real projector,
2. starts an API process of this checkout on those read models and a finance token,
3. drives Debian's chromium (Playwright) as the browser tests do: signs in (landing on the
   alerts board, so that nothing of the portfolio is computed), then loads
   /app/finance?as_of=... several times, each a fresh navigation, and takes the time from the
   start of the navigation to the app's "ready" mark (body[data-state=ready]: every figure,
   table and the trend chart loaded and drawn), by the page's own clock (performance.now()
   when the mark is set, recorded by a mutation observer in the page):
   - cold: the first load, of a browser and an API process that have loaded nothing yet;
   - unchanged: `--runs` loads while no event changes the read models (the API finds the
     portfolio computed: services/api/margin_cache.py);
   - after a change: `--changes` times, one held-back event is produced and applied by the
     real projector (a catch-up replay into the same schema), then the page is loaded: the
     first load after an event changed the read models, which computes everything again;
   with, for each load, the CPU time the API process spent on it (/proc: user + system), which
   a busy machine does not inflate as it does the wall-clock time,
4. prints the machine, its load and the timings, then stops the API, drops the schema and
   deletes the topics.

Kafka and PostgreSQL are taken from KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, else the local
stack of `make up`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import httpx
from playwright.async_api import async_playwright

from bench.projection_replay import _load, cleanup, kafka_version, machine, on_topics
from events.topics import topics
from services import db, tokens
from services.db import connection
from services.kafka_admin import ensure_topics
from services.projector import store
from services.projector.sharded import replay
from services.settings import LOCAL_DATABASE_URL, LOCAL_KAFKA
from simulation.browser import ARGS, CHROMIUM
from simulation.histories import Log, generate, produce
from simulation.ports import free_port

ROOT = Path(__file__).resolve().parent.parent


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


def _cpu_ms(pid: int) -> float:
    """User + system CPU time of a process so far, in ms."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


Load = tuple[float, float]  # (ready in ms, the API's CPU ms)

_READY_CLOCK = """
window.__readyAt = null;
new MutationObserver(() => {
  if (window.__readyAt === null && document.body?.dataset.state === "ready") {
    window.__readyAt = performance.now();
  }
}).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
"""


async def measure(
    url: str,
    token: str,
    as_of: str,
    runs: int,
    api_pid: int,
    changes: Sequence[Callable[[], Awaitable[None]]],
) -> dict[str, list[Load]]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1360, "height": 900})
            page = await context.new_page()
            # The page's own clock when the app marks itself ready (not when Playwright, which
            # polls for it from another process, notices).
            await page.add_init_script(_READY_CLOCK)
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(f"{url}/app/sign-in?next=/app/alerts")
            await page.get_by_label("API token").fill(token)
            await page.get_by_role("button", name="Sign in").click()
            await page.wait_for_url(lambda u: "/app/sign-in" not in u)
            await page.locator("body[data-state=ready]").wait_for(state="attached")

            async def load() -> Load:
                cpu = _cpu_ms(api_pid)
                await page.goto(f"{url}/app/finance?as_of={as_of}", wait_until="commit")
                await page.locator("body[data-state=ready]").wait_for(
                    state="attached", timeout=30_000
                )
                ms: float = await page.evaluate("window.__readyAt")
                assert await page.locator("#trend-chart[data-drawn=true] canvas").count() == 1
                return ms, _cpu_ms(api_pid) - cpu

            out: dict[str, list[Load]] = {"cold": [await load()]}
            out["unchanged"] = [await load() for _ in range(runs)]
            out["after a change"] = []
            for change in changes:
                await change()
                out["after a change"].append(await load())
            if errors:
                raise RuntimeError(f"console errors: {errors}")
            return out
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
    try:
        async with connection(dsn) as conn:
            await db.migrate(conn)
            t0 = time.perf_counter()
            log = generate(args.events, args.contracts, args.seed, check=False)
            cut = len(log.records) - args.changes
            held = log.records[cut:]
            log.records = log.records[:cut]
            await ensure_topics(bootstrap, wanted)
            await produce(bootstrap, spec.name, spec.partitions, log, "none")
            del log
            await store.ensure_live_schema(conn, schema, spec.name)
            settings = on_topics(bootstrap, dsn, prefix, schema)
            await replay(settings, schema, 1)
            counts = await conn.fetchrow(
                f"""SELECT (SELECT count(*) FROM {schema}.contracts) AS contracts,
                           (SELECT count(*) FROM {schema}.assignments) AS assignments,
                           (SELECT count(DISTINCT client_id) FROM {schema}.contracts) AS clients,
                           (SELECT count(DISTINCT account_manager_id)
                              FROM {schema}.contracts) AS ams,
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
            port = free_port()
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

            async def change(record: tuple[bytes, bytes]) -> None:
                """One more event in the log, applied to the read models by the real projector."""
                before = await conn.fetchval(f"SELECT sum(next_offset) FROM {schema}.positions")
                await produce(bootstrap, spec.name, spec.partitions, Log([record], 0, {}), "none")
                await replay(settings, schema, 1)
                after = await conn.fetchval(f"SELECT sum(next_offset) FROM {schema}.positions")
                assert after > before, "the projector applied nothing"

            changes = [functools.partial(change, r) for r in held]
            load_before = _load()
            times = await measure(url, token, as_of, args.runs, api.pid, changes)
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
        if args.keep:
            print(f"kept schema {schema} and topics of prefix {prefix}")
        else:
            await cleanup(bootstrap, dsn, schema, [t.name for t in wanted.all()])

    info = machine(kafka_version(), "see DATABASE_URL")
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items() if k != "postgresql"))
    print(f"load average (1 min): {load_before} before, {load_after} after")
    print(f"portfolio as of {as_of}: {active:,} active assignments")
    print("ready in ms (the API's CPU ms), each a fresh navigation:")
    for name, loads in times.items():
        each = ", ".join(f"{ms:.0f} ({cpu:.0f})" for ms, cpu in loads)
        print(f"  {name}: {each}")
    for name, loads in times.items():
        if len(loads) > 1:
            print(
                f"{name}: median {statistics.median(ms for ms, _ in loads):.0f} ms, "
                f"max {max(ms for ms, _ in loads):.0f} ms; the API's CPU median "
                f"{statistics.median(cpu for _, cpu in loads):.0f} ms"
            )
        elif loads:
            print(f"{name}: {loads[0][0]:.0f} ms; the API's CPU {loads[0][1]:.0f} ms")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contracts", type=int, default=5000)
    ap.add_argument("--events", type=int, default=40000)
    ap.add_argument("--runs", type=int, default=5, help="loads while nothing changes")
    ap.add_argument("--changes", type=int, default=5, help="loads each after one more event")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--as-of", default=None, help="YYYY-MM-DD; default: the median start date")
    ap.add_argument("--keep", action="store_true", help="keep the schema and topics (debugging)")
    sys.exit(asyncio.run(main(ap.parse_args())))
