"""The health score the risk fold measures at every event (`health_watch.measured_score`, a
sample's `score_on`) is the straightforward measure: the client page's `health_score` of the
facts `health_watch.facts` gathers, and the recency part brought to another day by
`recency_points`. Both fast paths are pinned here against those, on arbitrary inputs (signs,
windows' edges, marks of every kind) and on the states of generated histories."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from events.catalogue import Event
from projections.health import health_score, recency_points
from projections.risk import evolve
from projections.risk.health_watch import (
    GrossProfitSample,
    Mark,
    ScoreSample,
    facts,
    measured_score,
    trend_pct,
)
from projections.risk.state import RiskState, short_weeks
from tests.support.histories import histories

DAY = date(2024, 6, 1)
# Days around DAY, often on the edges the score reads: 90 days back (the marks), 13 weeks back
# (the gross profit's trend), the day itself.
_offsets = st.integers(min_value=-200, max_value=30) | st.sampled_from(
    [-92, -91, -90, -89, -1, 0, 1]
)
_days = _offsets.map(lambda n: DAY + timedelta(days=n))
_times = st.builds(
    lambda d, h: datetime(d.year, d.month, d.day, h, tzinfo=UTC),
    _days,
    st.integers(min_value=0, max_value=23),
)
_money = st.decimals(
    min_value=Decimal("-5000"), max_value=Decimal("5000"), places=2, allow_nan=False
) | st.sampled_from([Decimal(0), Decimal("100.00"), Decimal("-100.00")])
_marks = st.lists(
    st.builds(Mark, _times, st.sampled_from(["complaint", "legal_threat", "bypass_threat"])),
    max_size=8,
)
_samples = st.lists(st.tuples(_days, _money), max_size=6).map(
    lambda xs: tuple(GrossProfitSample(d, v) for d, v in sorted(dict(xs).items()))
)
_counts = st.integers(min_value=0, max_value=6)


# What the score reads: day, last two-way contact, unanswered in a row, marks, open pressure,
# gross profit samples, short weeks.
Args = tuple[date, datetime | None, int, tuple[Mark, ...], int, tuple[GrossProfitSample, ...], int]


def _straightforward(args: Args) -> int:
    day, two_way, unanswered, marks, pressure, samples, short = args
    trend = trend_pct(samples, day)
    return health_score(facts(day, two_way, unanswered, marks, pressure, trend, short))


@settings(max_examples=400, deadline=None)
@given(
    args=st.tuples(
        st.just(DAY) | _days,
        st.none() | _times,
        _counts,
        _marks.map(tuple),
        _counts,
        _samples,
        st.integers(min_value=0, max_value=16),
    )
)
def test_the_measured_score_is_the_client_pages_score_of_the_facts(args: Args) -> None:
    assert measured_score(*args) == _straightforward(args)


@settings(max_examples=300, deadline=None)
@given(
    sampled=_days,
    score=st.integers(min_value=0, max_value=100),
    two_way=st.none() | _days,
    later=st.integers(min_value=0, max_value=120),
)
def test_a_samples_score_on_a_later_day_brings_only_its_recency_there(
    sampled: date, score: int, two_way: date | None, later: int
) -> None:
    sample = ScoreSample(sampled, score, two_way, score)
    day = sampled + timedelta(days=later)

    def recency(on: date) -> int:
        return recency_points(None if two_way is None else (on - two_way).days)

    assert sample.score_on(day) == max(0, min(100, score + recency(sampled) - recency(day)))


@settings(max_examples=60, deadline=None)
@given(events=histories(contracts=1, events=40))
def test_every_state_of_a_history_measures_as_the_straightforward_score(
    events: list[Event],
) -> None:
    state: RiskState | None = None
    for e in events:
        state = evolve(state, e)
        for later in (0, 1, 15, 45, 95):
            day = state.last_event_at.date() + timedelta(days=later)
            args: Args = (
                day,
                state.last_two_way_at,
                len(state.unanswered_run),
                state.marks,
                len(state.negotiations) + len(state.raise_requests),
                state.gross_profit,
                short_weeks(state),
            )
            assert measured_score(*args) == _straightforward(args)
