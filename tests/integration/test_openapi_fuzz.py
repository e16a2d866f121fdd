"""Schemathesis (its CLI, as an outside tester runs it) against our own API process: every
operation of /openapi.json, with generated valid and invalid data (events included), and its
full set of checks (no server error, status codes, content types, response schemas and
headers, negative data rejected, auth not ignored, Allow headers). It must find nothing.
Bounded in examples per operation and in time."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate

from tests.support.services import ROOT, Services, Tokens, running_services
from tests.support.stack import Stack

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
MAX_EXAMPLES = 25
MAX_SECONDS = 75
# Each request is given REQUEST_TIMEOUT_S (the live stream is read that long); the API answers
# POST /v1/events within its verdict deadline (202 past it), well inside.
REQUEST_TIMEOUT_S = 10
VERDICT_TIMEOUT_S = 4.0


@pytest.fixture(scope="module")
async def services(ready_stack: Stack) -> AsyncIterator[Services]:
    # No rate limit: 500-event previews as fast as two workers can send them are the fuzzer's
    # job, and a 429 on valid data is no finding (the limit has tests of its own).
    no_limit = {"api": {"LEDGER_RATE_LIMIT_PER_S": "0"}}
    async with running_services(
        ready_stack, verdict_timeout_s=VERDICT_TIMEOUT_S, env_of=no_limit
    ) as svc:
        yield svc


def test_schemathesis_finds_nothing(services: Services, api_tokens: Tokens) -> None:
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
            f"--header=Authorization: Bearer {api_tokens.admin}",
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
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]


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
