"""The pure core of alert routing: matching, quiet hours, digests, repeats, backoff, what each
channel is sent, and how credentials are refused, masked and cleaned."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any, get_args
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from events.alerts import RULE_NAMES, SEVERITIES, Basis
from services.alerting import formats, secrecy
from services.alerting.config import (
    CHANNEL_IN,
    HTTP_URL_PATTERN,
    SMTP_URL_PATTERN,
    RouteIn,
    WebhookChannelIn,
    expand_env,
)
from services.alerting.routing import (
    AlertFacts,
    Match,
    QuietHours,
    Schedule,
    backoff_s,
    due_at,
    follow_up,
    is_quiet,
    matches,
    next_digest,
    quiet_until,
    still_worth_sending,
)
from services.alerting.seed import SeedError, parse

BASES = get_args(Basis)
ZONES = ["UTC", "Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Sydney"]
ids = st.sampled_from(["CL-1", "CL-2", "am.jones", "am.smith", "x"])
facts = st.builds(
    AlertFacts,
    rule=st.sampled_from(RULE_NAMES),
    severity=st.sampled_from(SEVERITIES),
    basis=st.sampled_from(BASES),
    client_id=st.none() | ids,
    account_manager_id=st.none() | ids,
)
match_st = st.builds(
    Match,
    rules=st.frozensets(st.sampled_from(RULE_NAMES), max_size=3),
    severities=st.frozensets(st.sampled_from(SEVERITIES), max_size=2),
    bases=st.frozensets(st.sampled_from(BASES), max_size=1),
    client_ids=st.frozensets(ids, max_size=2),
    account_manager_ids=st.frozensets(ids, max_size=2),
)
instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
times = st.times().map(lambda t: t.replace(microsecond=0))


def f(**kw: Any) -> AlertFacts:
    base: dict[str, Any] = {"rule": "LOSS_POSITION", "severity": "critical", "basis": "applied",
                            "client_id": "CL-7", "account_manager_id": "am.jones"}  # fmt: skip
    return AlertFacts(**(base | kw))


def test_an_empty_route_carries_everything_and_each_filter_narrows() -> None:
    assert matches(Match(), f())
    assert matches(Match(severities=frozenset({"critical", "high"})), f())
    assert not matches(Match(severities=frozenset({"low"})), f())
    assert not matches(Match(account_manager_ids=frozenset({"am.smith"})), f())
    assert matches(Match(rules=frozenset({"LOSS_POSITION"}), client_ids=frozenset({"CL-7"})), f())
    # A contract not projected (no client known) never matches a route that names clients.
    assert not matches(Match(client_ids=frozenset({"CL-7"})), f(client_id=None))


@given(match_st, facts)
def test_matching_is_every_filter_holding(match: Match, alert: AlertFacts) -> None:
    expected = (
        (not match.rules or alert.rule in match.rules)
        and (not match.severities or alert.severity in match.severities)
        and (not match.bases or alert.basis in match.bases)
        and (not match.client_ids or alert.client_id in match.client_ids)
        and (not match.account_manager_ids or alert.account_manager_id in match.account_manager_ids)
    )
    assert matches(match, alert) == expected


@given(match_st, facts, st.sampled_from(SEVERITIES))
def test_accepting_one_more_value_never_loses_an_alert(
    match: Match, alert: AlertFacts, extra: str
) -> None:
    wider = match.model_copy(update={"severities": match.severities | {extra}})
    assert not matches(match, alert) or matches(wider, alert) or not match.severities


def test_quiet_hours_across_midnight_hold_until_morning_in_their_zone() -> None:
    night = QuietHours(start=time(22, 0), end=time(7, 0), timezone="Europe/London")
    london = ZoneInfo("Europe/London")
    at_23 = datetime(2026, 7, 1, 23, 30, tzinfo=london)  # BST
    assert is_quiet(night, at_23)
    assert quiet_until(night, at_23) == datetime(2026, 7, 2, 7, 0, tzinfo=london)
    at_6 = datetime(2026, 7, 2, 6, 0, tzinfo=london)
    assert quiet_until(night, at_6) == datetime(2026, 7, 2, 7, 0, tzinfo=london)
    noon = datetime(2026, 7, 2, 12, 0, tzinfo=london)
    assert not is_quiet(night, noon) and quiet_until(night, noon) == noon
    assert quiet_until(None, noon) == noon
    lunch = QuietHours(start=time(12, 0), end=time(13, 0))
    assert quiet_until(lunch, datetime(2026, 1, 5, 12, 15, tzinfo=UTC)) == datetime(
        2026, 1, 5, 13, 0, tzinfo=UTC
    )
    assert not is_quiet(QuietHours(start=time(9), end=time(9)), noon)


@given(times, times, st.sampled_from(ZONES), instants)
def test_a_held_notification_goes_at_the_end_of_the_quiet_hours(
    start: time, end: time, zone: str, now: datetime
) -> None:
    quiet = QuietHours(start=start, end=end, timezone=zone)
    at = quiet_until(quiet, now)
    assert now <= at <= now + timedelta(hours=25)
    assert not is_quiet(quiet, at) or (at == now + timedelta(0) and not is_quiet(quiet, now))
    if not is_quiet(quiet, now):
        assert at == now


@given(times, st.sampled_from(ZONES), instants)
def test_a_digest_goes_once_a_day_at_its_local_time(at: time, zone: str, now: datetime) -> None:
    sent = next_digest(at, zone, now)
    assert now <= sent <= now + timedelta(hours=25)
    assert sent.astimezone(ZoneInfo(zone)).time().replace(tzinfo=None) == at or (
        # a local time skipped by the clocks (daylight saving) goes an hour off
        abs(
            datetime.combine(sent.date(), sent.astimezone(ZoneInfo(zone)).time())
            - datetime.combine(sent.date(), at)
        )
        <= timedelta(hours=1)
    )
    assert due_at(Schedule(digest_at=at, timezone=zone), now) == sent


def test_repeats_while_open_and_stop_when_acknowledged_or_resolved() -> None:
    every_hour = Schedule(repeat_interval_s=3600)
    t0 = datetime(2026, 1, 1, 9, tzinfo=UTC)
    assert follow_up("slack", every_hour, 60, "open", t0, t0 + timedelta(minutes=59)) is None
    assert follow_up("slack", every_hour, 60, "open", t0, t0 + timedelta(hours=1)) == "repeat"
    assert follow_up("email", every_hour, 60, "acknowledged", t0, t0 + timedelta(hours=5)) == "end"
    assert follow_up("teams", every_hour, 60, "resolved", t0, t0) == "end"
    assert follow_up("email", Schedule(), 60, "open", t0, t0 + timedelta(days=9)) is None
    # A repeat queued before the acknowledgement is dropped; a first notice never is.
    assert not still_worth_sending("repeat", "acknowledged")
    assert still_worth_sending("raised", "acknowledged")


def test_alertmanager_is_kept_firing_until_resolved_then_ended() -> None:
    t0 = datetime(2026, 1, 1, 9, tzinfo=UTC)
    s = Schedule()
    assert follow_up("alertmanager", s, 60, "open", t0, t0 + timedelta(seconds=59)) is None
    assert follow_up("alertmanager", s, 60, "open", t0, t0 + timedelta(seconds=60)) == "refresh"
    # Acknowledged is still firing for Alertmanager (someone is on it; it is not dealt with).
    assert follow_up("alertmanager", s, 60, "acknowledged", t0, t0 + timedelta(hours=1)) == (
        "refresh"
    )
    assert follow_up("alertmanager", s, 60, "resolved", t0, t0) == "resolved"


@given(st.integers(1, 100), st.floats(0.1, 5), st.floats(5, 600))
def test_backoff_doubles_and_is_capped(tries: int, base: float, cap: float) -> None:
    wait = backoff_s(tries, base, cap)
    assert 0 < wait <= cap
    assert backoff_s(tries + 1, base, cap) >= wait
    assert backoff_s(1, base, cap) == min(base, cap)


ALERT: dict[str, Any] = {
    "alert_id": "0" * 32,
    "rule": "BELOW_FLOOR",
    "severity": "high",
    "basis": "applied",
    "contract_id": "C-1001",
    "client_name": "Northwind Logistics",
    "assignment_id": "A-1",
    "staffer_id": "S-42",
    "exposure": "12345.67",
    "message": "Northwind Logistics, Dana Reyes (A-1): markup 12.00% is below the floor.",
    "status": "open",
    "raised_at": "2026-01-05T09:00:00+00:00",
    "resolved_at": None,
}


def test_the_email_names_rule_client_assignment_exposure_and_sentence() -> None:
    subject, body = formats.email(ALERT)
    for text in (subject, body):
        for part in ("BELOW_FLOOR", "Northwind Logistics", "A-1", "12,345.67"):
            assert part in text
    assert ALERT["message"] in body
    repeat_subject, _ = formats.email(ALERT, "repeat")
    assert repeat_subject.startswith("Markup Ledger: Still open:")
    odd, _ = formats.email(ALERT | {"client_name": "Evil\r\nBcc: x@y.example"})
    assert "\n" not in odd and "\r" not in odd
    subject, body = formats.digest_email([ALERT, ALERT | {"rule": "LOSS_POSITION"}], "am.jones")
    assert "2 alerts" in subject and "BELOW_FLOOR" in body and "LOSS_POSITION" in body


def test_slack_teams_and_alertmanager_payloads_have_the_documented_shapes() -> None:
    s = formats.slack(ALERT)
    assert ALERT["message"] in s["text"]
    assert [b["type"] for b in s["blocks"]] == ["header", "section", "section"]
    assert len(s["blocks"][2]["fields"]) <= 10
    t = formats.teams(ALERT)
    card = t["attachments"][0]
    assert t["type"] == "message"
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard"
    now = datetime(2026, 1, 5, 10, tzinfo=UTC)
    (firing,) = formats.alertmanager(ALERT, now, resolved=False)
    assert firing["labels"]["alertname"] == "BELOW_FLOOR" and "endsAt" not in firing
    assert firing["startsAt"] == "2026-01-05T09:00:00Z"
    resolved = ALERT | {"status": "resolved", "resolved_at": "2026-01-05T11:00:00+00:00"}
    (ended,) = formats.alertmanager(resolved, now, resolved=True)
    assert ended["labels"] == firing["labels"]  # the same alert for Alertmanager
    assert ended["endsAt"] == "2026-01-05T11:00:00Z"
    # Raised in the future (an event's own time): it starts now, and never ends before that.
    (later,) = formats.alertmanager(ALERT | {"raised_at": "2027-01-01T00:00:00+00:00"}, now, True)
    assert later["startsAt"] == later["endsAt"] == "2026-01-05T10:00:00Z"


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "javascript:alert(1)", "data:text/plain,hi", "ftp://h/x",
     "gopher://h/", "https://", "http://exa mple.com/", "hooks.slack.com/services/x"],
)  # fmt: skip
def test_a_channel_url_of_another_scheme_is_refused_naming_the_field(url: str) -> None:
    with pytest.raises(ValidationError) as err:
        CHANNEL_IN.validate_python({"name": "desk", "kind": "slack", "url": url})
    (e,) = err.value.errors()
    assert e["loc"] == ("slack", "url")
    assert url not in str(e["msg"])


def test_an_smtp_url_must_be_smtp_and_fields_belong_to_their_kind() -> None:
    def channel(**body: Any) -> Any:
        return CHANNEL_IN.validate_python(body)

    with pytest.raises(ValidationError) as err:
        channel(name="m", kind="email", to=["a@b.example"], smtp_url="http://mail/")
    assert err.value.errors()[0]["loc"] == ("email", "smtp_url")
    with pytest.raises(ValidationError):
        channel(name="m", kind="email", to=["not an address"])
    with pytest.raises(ValidationError):
        channel(name="s", kind="slack", url="https://hooks.slack.com/x", to=["a@b.example"])
    with pytest.raises(ValidationError) as err:
        channel(name="s", kind="email")
    assert err.value.errors()[0]["loc"] == ("email", "to")
    ok = channel(name="m", kind="email", to=["a@b.example"], smtp_url="smtp://u:p@mail:587")
    assert ok.smtp_url == "smtp://u:p@mail:587"
    with pytest.raises(ValidationError):
        RouteIn(name="r", channel="m", match={"severities": ["urgent"]})
    with pytest.raises(ValidationError):
        RouteIn(name="r", channel="m", timezone="Mars/Olympus")


def test_credentials_are_masked_and_cleaned_from_errors() -> None:
    slack = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    assert secrecy.mask_url(slack) == "https://hooks.slack.com/****"
    assert secrecy.mask_url("smtp://alerts:hunter2@mail.example.com:587") == (
        "smtp://alerts:****@mail.example.com:587"
    )
    error = f"ConnectError: cannot reach {slack} (path /services/T000/B000/XXXXSECRET)"
    cleaned = secrecy.redact(error, secrecy.secret_parts(slack))
    assert "XXXXSECRET" not in cleaned and "****" in cleaned
    assert "hunter2" not in secrecy.redact(
        "535 auth failed for hunter2", secrecy.secret_parts("smtp://a:hunter2@m")
    )


def test_a_routes_file_names_its_secrets_by_environment_variable() -> None:
    text = """
channels:
  - {name: risk-desk, kind: slack, url: "${SLACK_URL}"}
  - {name: finance, kind: email, to: [finance@agency.example]}
routes:
  - name: critical
    channel: risk-desk
    match: {severities: [critical]}
    repeat_interval_s: 3600
    quiet_hours: {start: "22:00", end: "07:00", timezone: Europe/London}
recipients:
  - {account_manager_id: am.jones, email: jones@agency.example, delivery: digest}
"""
    seed = parse(text, {"SLACK_URL": "https://hooks.slack.com/services/T/B/S"})
    slack = seed.channels[0]
    assert isinstance(slack, WebhookChannelIn)
    assert slack.url == "https://hooks.slack.com/services/T/B/S"
    assert seed.routes[0].schedule().quiet == QuietHours(
        start=time(22), end=time(7), timezone="Europe/London"
    )
    with pytest.raises(SeedError) as err:
        parse(text, {})
    assert err.value.problems == [("channels.0.url", "environment variable SLACK_URL is not set")]
    with pytest.raises(SeedError) as err:
        parse(text.replace("${SLACK_URL}", "javascript:alert(1)"), {})
    assert err.value.problems[0][0] == "channels.0.slack.url"
    with pytest.raises(SeedError) as err:
        parse(text.replace("channel: risk-desk", "channel: nowhere"), {"SLACK_URL": "https://h/x"})
    assert err.value.problems == [("routes.0.channel", "no channel named nowhere in the file")]
    assert expand_env({"a": ["${X}-y"]}, {"X": "1"}) == {"a": ["1-y"]}
    # YAML reads 22:00 unquoted as a number (base 60): refused, saying how to write it.
    with pytest.raises(SeedError) as err:
        parse(text.replace('"22:00"', "22:00"), {"SLACK_URL": "https://h/x"})
    assert err.value.problems[0] == (
        "routes.0.quiet_hours.start",
        "must be a time written HH:MM or HH:MM:SS (quoted in YAML)",
    )


@given(st.from_regex(HTTP_URL_PATTERN, fullmatch=True))
def test_every_url_the_documented_pattern_allows_is_accepted(url: str) -> None:
    # The API's contract is fuzzed against the pattern: what it allows must not be refused.
    assert secrecy.url_problem("slack", url) is None


@given(st.from_regex(SMTP_URL_PATTERN, fullmatch=True))
def test_every_smtp_url_the_documented_pattern_allows_is_accepted(url: str) -> None:
    assert secrecy.url_problem("smtp", url) is None
