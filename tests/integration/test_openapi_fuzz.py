"""Schemathesis (its CLI, as an outside tester runs it) against our own API process: every
operation of /openapi.json, with generated valid and invalid data (events included), and its
full set of checks (no server error, status codes, content types, response schemas and
headers, negative data rejected, auth not ignored, Allow headers). It must find nothing.
Bounded in examples per operation and in time."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate

from services import db, tokens
from services.db import connection
from simulation.own_stack import with_settings
from tests.support.services import ROOT, Services, running_services
from tests.support.stack import Stack, remove, unique

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
MAX_EXAMPLES = 25
MAX_SECONDS = 75
# Each request is given REQUEST_TIMEOUT_S (the live stream is read that long); the API answers
# POST /v1/events within its verdict deadline (202 past it), well inside.
REQUEST_TIMEOUT_S = 10
VERDICT_TIMEOUT_S = 4.0


@dataclass(frozen=True)
class OwnTables:
    dsn: str
    admin: str  # an admin's token, stored in those tables


@pytest.fixture(scope="module")
async def own_tables(ready_stack: Stack) -> AsyncIterator[OwnTables]:
    """The API's tables (tokens, alerts, alert channels and routes...) in a schema of the
    fuzzer's own, first on its processes' search_path. Schemathesis's stateful phase deletes
    what it lists (an admin's token may), and the tests running beside it share the public
    tables: it deactivated a browser test's channel between its creation and its route."""
    schema = unique("fuzz_api").replace("-", "_")
    async with connection(ready_stack.dsn) as conn:
        await conn.execute(f"CREATE SCHEMA {schema}")
    dsn = with_settings(ready_stack.dsn, search_path=schema)
    try:
        async with connection(dsn) as conn:
            await db.migrate(conn)
            admin = (await tokens.create_token(conn, "admin", None))[1]
        yield OwnTables(dsn, admin)
    finally:
        await remove(ready_stack, None, schema)


@pytest.fixture(scope="module")
async def services(ready_stack: Stack, own_tables: OwnTables) -> AsyncIterator[Services]:
    # No rate limit: 500-event previews as fast as two workers can send them are the fuzzer's
    # job, and a 429 on valid data is no finding (the limit has tests of its own).
    tables = {"DATABASE_URL": own_tables.dsn}
    env_of = {name: tables for name in ("writer", "projector", "risk")}
    env_of["api"] = tables | {"LEDGER_RATE_LIMIT_PER_S": "0"}
    async with running_services(
        ready_stack, verdict_timeout_s=VERDICT_TIMEOUT_S, env_of=env_of
    ) as svc:
        yield svc


def test_schemathesis_finds_nothing(services: Services, own_tables: OwnTables) -> None:
    run = subprocess.run(
        [
            SCHEMATHESIS,
            "run",
            f"{services.url}/openapi.json",
            "--checks=all",
            "--mode=all",
            f"--max-examples={MAX_EXAMPLES}",
            f"--max-time={MAX_SECONDS}",
            "--seed=12",
            "--generation-database=none",
            "--workers=2",
            f"--request-timeout={REQUEST_TIMEOUT_S}",
            f"--header=Authorization: Bearer {own_tables.admin}",
        ],
        env={
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.support.schemathesis_hooks",
            "PYTHONPATH": str(ROOT),
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=MAX_SECONDS * 3,
    )
    assert run.returncode == 0, _findings_last(run.stdout) + run.stderr[-5000:]


def _findings_last(report: str) -> str:
    """Schemathesis's report without its WARNINGS (the operations it could not reach: long, and
    always there), its ERRORS and FAILURES moved to the end: a CI log that kept the start and
    the end of a red run's message once cut out the one section that named the request."""
    sections = re.split(r"(?m)^(?==+ [A-Z][A-Za-z ]* =+$)", report)
    named = [(re.match(r"=+ ([A-Z][A-Za-z ]*?) =+", s), s) for s in sections]
    kept = [s for m, s in named if not (m and m[1] == "WARNINGS")]
    findings = [s for m, s in named if m and m[1] in ("ERRORS", "FAILURES")]
    return "".join([s for s in kept if s not in findings] + findings)[-30000:]


def test_openapi_document_is_valid_openapi_3_1(services: Services) -> None:
    doc = httpx.get(f"{services.url}/openapi.json", timeout=30).json()
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema
    body = doc["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["oneOf"]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for status, answer in op["responses"].items():
                if status != "204":  # No Content
                    assert answer.get("content"), f"{method.upper()} {path} {status} has no body"
