"""Which alerts a route carries, and when: small pure functions, `now` passed in.

A route matches an alert when every one of its filters does; an empty filter matches anything.
Quiet hours hold a route's notifications until they end (a window may cross midnight, in the
route's time zone). A digest route sends once a day, at its local time, everything since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field


class Match(BaseModel):
    """What a route carries: each filter a set of accepted values; empty accepts any."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: frozenset[str] = frozenset()
    severities: frozenset[str] = frozenset()
    bases: frozenset[str] = frozenset()
    client_ids: frozenset[str] = frozenset()
    account_manager_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AlertFacts:
    """What routes are matched on: the alert's own fields and its contract's client and
    account manager (from the read model)."""

    rule: str
    severity: str
    basis: str
    client_id: str | None
    account_manager_id: str | None


def matches(match: Match, alert: AlertFacts) -> bool:
    pairs = (
        (match.rules, alert.rule),
        (match.severities, alert.severity),
        (match.bases, alert.basis),
        (match.client_ids, alert.client_id),
        (match.account_manager_ids, alert.account_manager_id),
    )
    return all(not accepted or value in accepted for accepted, value in pairs)


class QuietHours(BaseModel):
    """[start, end) local time in `timezone`; start > end crosses midnight; start == end is
    never quiet."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: time
    end: time
    timezone: str = "UTC"


def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def is_quiet(quiet: QuietHours | None, now: datetime) -> bool:
    if quiet is None or quiet.start == quiet.end:
        return False
    t = now.astimezone(_zone(quiet.timezone)).time().replace(tzinfo=None)
    if quiet.start < quiet.end:
        return quiet.start <= t < quiet.end
    return t >= quiet.start or t < quiet.end


def quiet_until(quiet: QuietHours | None, now: datetime) -> datetime:
    """When a notification due `now` may go: now, or the end of the quiet hours it falls in."""
    if quiet is None or not is_quiet(quiet, now):
        return now
    zone = _zone(quiet.timezone)
    local = now.astimezone(zone)
    day = local.date()
    if quiet.start > quiet.end and local.time().replace(tzinfo=None) >= quiet.start:
        day += timedelta(days=1)  # the window crosses midnight: it ends tomorrow
    end = datetime.combine(day, quiet.end, tzinfo=zone)
    # A window ending in a skipped hour (daylight saving) ends when the clocks say so again.
    return max(end, now)


def next_digest(digest_at: time, timezone: str, now: datetime) -> datetime:
    """The first time at or after `now` when a daily digest at local `digest_at` is sent."""
    zone = _zone(timezone)
    local = now.astimezone(zone)
    at = datetime.combine(local.date(), digest_at, tzinfo=zone)
    if at < now:
        at = datetime.combine(local.date() + timedelta(days=1), digest_at, tzinfo=zone)
    return at


class Schedule(BaseModel):
    """When a route sends: at once (outside quiet hours) or in a daily digest; and how often
    an alert still open is sent again."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repeat_interval_s: int | None = Field(None, gt=0)
    quiet: QuietHours | None = None
    digest_at: time | None = None
    timezone: str = "UTC"


def due_at(schedule: Schedule, now: datetime) -> datetime:
    """When a notification that arises `now` is sent."""
    if schedule.digest_at is not None:
        return next_digest(schedule.digest_at, schedule.timezone, now)
    return quiet_until(schedule.quiet, now)


def repeat_due(schedule: Schedule, status: str, last_queued_at: datetime, now: datetime) -> bool:
    """Whether an alert this route carried is to be sent again now: only while it is open
    (acknowledged or resolved stops it), once per repeat interval."""
    if schedule.repeat_interval_s is None or status != "open":
        return False
    return now - last_queued_at >= timedelta(seconds=schedule.repeat_interval_s)


def still_worth_sending(kind: str, status: str) -> bool:
    """A repeat queued while an alert was open is dropped once it is acknowledged or
    resolved; a first notice is always sent (someone acknowledged it before it went out: the
    route's people still hear of it once)."""
    return kind != "repeat" or status == "open"


def backoff_s(tries: int, base_s: float, max_s: float) -> float:
    """The wait after the `tries`-th failed attempt (1, 2, ...): doubling from base, capped."""
    return float(min(max_s, base_s * 2 ** min(max(tries - 1, 0), 30)))


FollowUp = str
"""`resolved`, `refresh` or `repeat`: a delivery to queue; `end`: nothing more, ever."""


def follow_up(
    channel_kind: str,
    schedule: Schedule,
    resend_s: int,
    status: str,
    last_queued_at: datetime,
    now: datetime,
) -> FollowUp | None:
    """What to queue next for an alert a route carried, or None (nothing yet).

    Alertmanager is told the state, not notified: an alert still unresolved is sent again
    every `resend_s` (before its resolve_timeout would end it), and its end once resolved.
    Every other channel notifies people: again once per repeat interval while open, never
    after it is acknowledged or resolved.
    """
    if channel_kind == "alertmanager":
        if status == "resolved":
            return "resolved"
        if now - last_queued_at >= timedelta(seconds=resend_s):
            return "refresh"
        return None
    if status != "open":
        return "end"
    return "repeat" if repeat_due(schedule, status, last_queued_at, now) else None
