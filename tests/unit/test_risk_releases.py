"""A rule's release day: the risk agent raises its alerts for the events logged from that day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from projections.risk.rules import RULES, TIMER_RULES
from projections.risk.rules.releases import RELEASED, in_force


def test_every_release_is_of_a_rule() -> None:
    assert set(RELEASED) <= {*RULES, *TIMER_RULES}


def test_a_rule_is_in_force_from_its_release_day_on() -> None:
    day = RELEASED["OT_MARGIN_LEAK"]
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    assert not in_force("OT_MARGIN_LEAK", midnight - timedelta(microseconds=1))
    assert in_force("OT_MARGIN_LEAK", midnight)
    # The day is UTC's: 23:30 the day before in UTC, whatever the clock's zone says.
    assert not in_force(
        "OT_MARGIN_LEAK", midnight.astimezone(timezone(timedelta(hours=2))) - timedelta(minutes=30)
    )


def test_rules_of_the_first_release_and_events_of_unknown_age_are_always_judged() -> None:
    assert in_force("LOSS_POSITION", datetime(2000, 1, 1, tzinfo=UTC))
    assert in_force("OT_MARGIN_LEAK", None)
