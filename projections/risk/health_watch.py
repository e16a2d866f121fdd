"""What the risk state keeps to watch a client's health (CLIENT_HEALTH_FALLING), and the
measure itself. Pure, and free of the state's types so that the fold (`state.evolve`) can use it.

The rules judge one contract at a time (its events, its state, its partition), while a score is
a client's. The rule therefore scores the client's facts **as its contract carries them**, with
the client page's own function (`projections.health.client_health`) and parts: the contract's
contacts, complaints and bypass threats, its open raise requests and negotiations, its weekly
gross profit 13 weeks ago against now, and its assignments' short weeks. For a client with one
contract (the import's default and the common case) that is the client's score; a client with
several contracts is watched contract by contract, each alert naming its contract (the client
page adds them all). docs/overtime-and-hours.md says why (DESIGN "Overtime, hours worked and
client health").

The score is measured at each of the contract's events, on the event's day (event time: a
replay measures the same). What the state keeps for it is bounded: the marks of the last 90 days,
the weekly gross profit where it changed over the last 13 weeks (and the value before them), and
the scores where they changed over the last 30 days (and the one before them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Final, Literal, NamedTuple, TypeVar

from projections.health import (
    BYPASS_CAP,
    BYPASS_EACH,
    COMPLAINTS_CAP,
    COMPLAINTS_EACH,
    LEGAL_CAP,
    LEGAL_EACH,
    PRESSURE_CAP,
    PRESSURE_EACH,
    RESPONSE_CAP,
    RESPONSE_EACH,
    SHORT_WEEKS_CAP,
    SHORT_WEEKS_EACH,
    TREND_WEEKS,
    WINDOW,
    HealthFacts,
    change_pct,
    days_back,
    recency_points,
    trend_points,
)

FALLING_BELOW: Final = 50
"""CLIENT_HEALTH_FALLING: the score drops below this ..."""
DROP_POINTS: Final = 20
"""... or by this many points ..."""
DROP_WINDOW: Final = timedelta(days=30)
"""... within this long (from the highest score in the window to now)."""
TREND_SPAN: Final = timedelta(weeks=TREND_WEEKS)
_ZERO: Final = Decimal(0)

MarkKind = Literal["complaint", "legal_threat", "bypass_threat"]


@dataclass(frozen=True, slots=True)
class Mark:
    """A complaint (with or without a legal threat) or a bypass threat: the score counts those
    of the last 90 days."""

    occurred_at: datetime
    kind: MarkKind


@dataclass(frozen=True, slots=True)
class GrossProfitSample:
    """The contract's weekly gross profit from `day` on (until the next sample)."""

    day: date
    weekly_gross_profit: Decimal


@dataclass(frozen=True, slots=True)
class ScoreSample:
    """The contract's health score measured on `day`, with the day of the last two-way contact
    then: the contact recency part grows with time alone, so the score on a later day without
    an event is this one with its recency brought to that day (`score_on`)."""

    day: date
    score: int
    two_way_on: date | None
    high: int
    """The highest score measured on `day` (a later event of the day replaces the sample)."""

    def score_on(self, day: date) -> int:
        # Asked at every event (the fold's and the fall's), mostly where nothing moved: the
        # same day, or no two-way contact ever (the recency part at its cap either way).
        two_way = self.two_way_on
        if two_way is None or day == self.day:
            return self.score
        then = recency_points((self.day - two_way).days)
        later = recency_points((day - two_way).days)
        return max(0, min(100, self.score + then - later))


_S = TypeVar("_S", GrossProfitSample, ScoreSample)


def recent_marks(marks: Sequence[Mark], now: datetime) -> tuple[Mark, ...]:
    """The marks the score can still count at `now` or later (the last 90 days)."""
    if not marks:
        return ()
    since = days_back(now.date(), WINDOW)
    return tuple(m for m in marks if m.occurred_at.date() > since)


def _kept(samples: Sequence[_S], new: _S, span: timedelta) -> tuple[_S, ...]:
    """`samples` with `new` (replacing one of its day), only those within `span` of its day and
    the last one before them (the value the window starts with)."""
    start = days_back(new.day, span)
    before: _S | None = None
    kept: list[_S] = []
    for s in samples:  # one pass: called at most events
        if s.day >= new.day:
            continue
        if s.day < start:
            before = s
        else:
            kept.append(s)
    kept.append(new)
    if before is not None:
        kept.insert(0, before)
    return tuple(kept)


def with_gross_profit(
    samples: Sequence[GrossProfitSample], day: date, weekly_gross_profit: Decimal
) -> tuple[GrossProfitSample, ...]:
    if samples and samples[-1].weekly_gross_profit == weekly_gross_profit:
        return tuple(samples)
    return _kept(samples, GrossProfitSample(day, weekly_gross_profit), TREND_SPAN)


def gross_profit_on(samples: Sequence[GrossProfitSample], day: date) -> Decimal:
    """The weekly gross profit on `day` by the samples (0 before the first)."""
    found = _ZERO
    for s in samples:
        if s.day > day:
            break
        found = s.weekly_gross_profit
    return found


def trend_pct(samples: Sequence[GrossProfitSample], day: date) -> Decimal | None:
    """Weekly gross profit on `day` against 13 weeks before, in percent (None: none before)."""
    return change_pct(*_then_and_now(samples, day))


def _then_and_now(samples: Sequence[GrossProfitSample], day: date) -> tuple[Decimal, Decimal]:
    """`gross_profit_on` 13 weeks before `day` and on `day`, in one pass (the samples are by
    day)."""
    back = days_back(day, TREND_SPAN)
    then = now = _ZERO
    for s in samples:
        if s.day > day:
            break
        now = s.weekly_gross_profit
        if s.day <= back:
            then = now
    return then, now


def facts(
    day: date,
    last_two_way_at: datetime | None,
    unanswered_in_a_row: int,
    marks: Sequence[Mark],
    open_pressure: int,
    gross_profit_change_pct: Decimal | None,
    short_weeks: int,
) -> HealthFacts:
    """The score's facts on `day`, as `projections.health.facts_from` reads them."""
    if marks:
        since = days_back(day, WINDOW)
        recent = [m.kind for m in marks if since < m.occurred_at.date() <= day]
    else:
        recent = []
    return HealthFacts(
        days_since_two_way_contact=(
            None if last_two_way_at is None else (day - last_two_way_at.date()).days
        ),
        unanswered_outbound_in_a_row=unanswered_in_a_row,
        complaints_90d=recent.count("complaint"),
        legal_threats_90d=recent.count("legal_threat"),
        bypass_threats_90d=recent.count("bypass_threat"),
        open_pressure=open_pressure,
        gross_profit_change_pct=gross_profit_change_pct,
        short_weeks=short_weeks,
    )


def measured_score(
    day: date,
    last_two_way_at: datetime | None,
    unanswered_in_a_row: int,
    marks: Sequence[Mark],
    open_pressure: int,
    gross_profit: Sequence[GrossProfitSample],
    short_weeks: int,
) -> int:
    """`health_score(facts(day, ..., trend_pct(gross_profit, day), short_weeks))`, the score
    the fold measures at every event, without building the facts: each part's points as
    `projections.health` counts them, the marks counted in one pass, and the gross profit's
    change divided out only when it fell (a rise or no change takes no points). Pinned to the
    straightforward measure by tests/unit/test_risk_health_score.py."""
    two_way = None if last_two_way_at is None else (day - last_two_way_at.date()).days
    points = recency_points(two_way)
    points += min(RESPONSE_CAP, max(0, unanswered_in_a_row) * RESPONSE_EACH)
    points += min(PRESSURE_CAP, max(0, open_pressure) * PRESSURE_EACH)
    points += min(SHORT_WEEKS_CAP, max(0, short_weeks) * SHORT_WEEKS_EACH)
    if marks:
        since = days_back(day, WINDOW)
        complaints = legal = bypass = 0
        for m in marks:
            if since < m.occurred_at.date() <= day:
                if m.kind == "complaint":
                    complaints += 1
                elif m.kind == "legal_threat":
                    legal += 1
                else:
                    bypass += 1
        points += min(COMPLAINTS_CAP, complaints * COMPLAINTS_EACH)
        points += min(LEGAL_CAP, legal * LEGAL_EACH) + min(BYPASS_CAP, bypass * BYPASS_EACH)
    if gross_profit:
        then, now = _then_and_now(gross_profit, day)
        if now < then:  # fell: only then does the part take points
            points += trend_points(change_pct(then, now))
    return max(0, 100 - points)


class Fall(NamedTuple):
    """How the score stands against its recent past (a tuple: built at every event)."""

    before: int
    """The score last measured (at an earlier event): a score that crossed 50 by the passing
    of days alone is seen crossing at the next event."""
    peak: int
    """The highest score of the last 30 days (this measure's included)."""
    score: int

    @property
    def crossed_below(self) -> bool:
        return self.score < FALLING_BELOW <= self.before

    @property
    def dropped(self) -> bool:
        return self.peak - self.score >= DROP_POINTS


# The last fall answered: the fold and CLIENT_HEALTH_FALLING ask for the same one in a row
# (the history compared by identity: a tuple of frozen samples).
_last_fall: tuple[Sequence[ScoreSample], date, int, Fall | None] | None = None


def fall(history: Sequence[ScoreSample], day: date, score: int) -> Fall | None:
    """The score against the history before it; None without a history (the first measure of a
    contract, or a state from before the rule: nothing to fall from)."""
    global _last_fall
    last = _last_fall
    if last is not None and last[0] is history and last[1] == day and last[2] == score:
        return last[3]
    found = _fall(history, day, score)
    _last_fall = (history, day, score, found)
    return found


def _fall(history: Sequence[ScoreSample], day: date, score: int) -> Fall | None:
    if not history:
        return None
    start = days_back(day, DROP_WINDOW)
    peak = score
    opened: ScoreSample | None = None  # the last measured before the window
    for s in history:
        if s.day < start:
            opened = s
        elif s.high > peak:
            peak = s.high
    if opened is not None:
        # The score the window opens with: that one, brought to the window's first day.
        peak = max(peak, opened.score_on(start))
    return Fall(history[-1].score, peak, score)


def with_score(
    history: Sequence[ScoreSample], day: date, score: int, two_way_on: date | None
) -> tuple[ScoreSample, ...]:
    last = history[-1] if history else None
    if last is not None and last.two_way_on == two_way_on and last.score_on(day) == score:
        return tuple(history)  # the last sample says as much (its recency brought to `day`)
    high = max(score, last.high) if last is not None and last.day == day else score
    return _kept(history, ScoreSample(day, score, two_way_on, high), DROP_WINDOW)


__all__ = [
    "DROP_POINTS",
    "DROP_WINDOW",
    "FALLING_BELOW",
    "Fall",
    "GrossProfitSample",
    "Mark",
    "MarkKind",
    "ScoreSample",
    "facts",
    "fall",
    "gross_profit_on",
    "measured_score",
    "recent_marks",
    "trend_pct",
    "with_gross_profit",
    "with_score",
]
