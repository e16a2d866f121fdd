"""A client generated from the API's OpenAPI document by openapi-python-client (as README shows)
submits every event type with its typed models only, and each is accepted (issue #21: the
generator made ContractAmended ten anonymous classes typed Any, and refused the document once
time zones were enumerated)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from events.catalogue import EVENT_TYPES
from tests.support.services import ROOT, Services, Tokens
from tests.support.stack import unique

GENERATOR = str(Path(sys.executable).with_name("openapi-python-client"))


def test_a_generated_client_submits_every_event_type_with_typed_models(
    services: Services, api_tokens: Tokens, tmp_path: Path
) -> None:
    (tmp_path / "openapi.json").write_bytes(httpx.get(f"{services.url}/openapi.json").content)
    generated = subprocess.run(
        [GENERATOR, "generate", "--path", "openapi.json", "--output-path", "client"],
        cwd=tmp_path, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stdout + generated.stderr
    run = subprocess.run(
        [sys.executable, "-m", "tests.support.generated_client_script",
         services.url, api_tokens.admin, unique("C"), api_tokens.am_id],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{tmp_path / 'client'}{os.pathsep}{ROOT}"},
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    answers = dict(line.split(" ", 1) for line in run.stdout.splitlines())
    assert set(answers) == set(EVENT_TYPES)
    assert all(a.strip() == "accepted" for a in answers.values()), run.stdout
