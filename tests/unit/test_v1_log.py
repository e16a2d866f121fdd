"""The fixture log written by the v1 code projects, through today's upcasters and read model,
to exactly the figures the v1 code projected from it (recorded once, tests/support/v1_log.py)."""

from __future__ import annotations

import json

from events.serialization import decode_json
from tests.support.v1_log import FIGURES, LOG, figures, read_log


def test_the_fixture_log_is_all_schema_version_1() -> None:
    raw = [decode_json(line) for line in LOG.read_bytes().splitlines()]
    assert len(raw) == 474
    assert {e["schema_version"] for e in raw} == {1}


def test_the_v1_log_projects_to_the_figures_the_v1_code_gave() -> None:
    expected = json.loads(FIGURES.read_text())
    got = json.loads(json.dumps(figures(read_log())))
    assert got["events"] == expected["events"]
    assert got["by_type"] == expected["by_type"]
    assert got["assignments"] == expected["assignments"]
    assert got["impacts"] == expected["impacts"]
    assert got["alerts"] == expected["alerts"]
