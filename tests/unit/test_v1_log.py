"""The fixture log written by the v1 code projects, through today's upcasters and read model,
to exactly the figures the v1 code projected from it (recorded once, tests/support/v1_log.py)."""

from __future__ import annotations

import json

from events.alerts import RULE_NAMES
from events.serialization import decode_json
from tests.support.v1_log import FIGURES, LOG, figures, read_log

RULES_SINCE_V1 = {"OT_MARGIN_LEAK", "HOURS_SHORTFALL", "CLIENT_HEALTH_FALLING"}
"""The rules added since the v1 code (OT_MARGIN_LEAK and HOURS_SHORTFALL judge what v1 logs
lack); the others are the v1 code's."""
V1_RULES = set(RULE_NAMES) - RULES_SINCE_V1


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
    # Every alert the v1 code's rules raised, the same; a rule added since (judged by its own
    # tests) may raise more on the same log.
    assert [a for a in got["alerts"] if a["rule"] in V1_RULES] == expected["alerts"]
    assert {a["rule"] for a in got["alerts"]} - V1_RULES <= {"CLIENT_HEALTH_FALLING"}
