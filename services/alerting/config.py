"""What an admin may configure, through the API or a YAML file: channels, routes and account
managers' own delivery. One set of models for both, so both refuse the same things with the
same reasons (a field named, the secret never repeated)."""

from __future__ import annotations

import os
import re
from datetime import time
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter

from events.alerts import Basis, RuleName, Severity
from services.alerting.routing import Match, QuietHours, Schedule
from services.alerting.secrecy import url_problem

ChannelKind = Literal["email", "slack", "teams", "alertmanager", "webhook"]
Delivery = Literal["email", "digest", "none"]
"""An account manager's own alerts: each by e-mail (the default), one daily digest, or none."""

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]

# The JSON Schema patterns say exactly what the validators accept (the API's contract is
# fuzzed against them); the validators run first, so a refusal gives a reason in words.
_PORT = r"(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
_HOST = r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}"
HTTP_URL_PATTERN = rf"^[hH][tT][tT][pP][sS]?://{_HOST}{_PORT}([/?#][^\s\x00-\x1f\x7f]*)?$"
_USERINFO = r"([A-Za-z0-9._~%!$&'()*+,;=-]+(:[A-Za-z0-9._~%!$&'()*+,;=-]*)?@)?"
SMTP_URL_PATTERN = rf"^[sS][mM][tT][pP][sS]?://{_USERINFO}{_HOST}{_PORT}/?$"
EMAIL_PATTERN = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9][A-Za-z0-9.-]{0,252}$"


def _distinct_zones() -> list[str]:
    """The IANA zones, less the aliases that differ only by punctuation or case (`Etc/GMT+0`,
    `Etc/GMT-0`, `GMT0`, ...): a generated client names each enumerated value as an identifier
    of letters and digits, and openapi-python-client refused the document for the duplicates
    (issue #21's criterion: a client generated from it). The first of each such set is kept."""
    seen: set[str] = set()
    out = []
    for name in sorted(available_timezones()):
        key = re.sub(r"[^A-Za-z0-9]", "", name).upper()
        if key not in seen:
            seen.add(key)
            out.append(name)
    return out


TIME_ZONES = _distinct_zones()


def _email(value: str) -> str:
    if not re.match(EMAIL_PATTERN, value):
        raise ValueError("must be an e-mail address (name@domain)")
    return value


def _zone(value: str) -> str:
    if value not in TIME_ZONES:
        raise ValueError("must be an IANA time zone such as Europe/London or UTC")
    return value


def _checked(kind: str) -> Any:
    def check(value: Any) -> Any:
        if isinstance(value, str):
            problem = url_problem(kind, value)
            if problem is not None:
                raise ValueError(problem)
        return value

    return BeforeValidator(check)


def _time_text(value: Any) -> Any:
    # pydantic's lax time would read a number as seconds (and YAML reads 22:00 unquoted as
    # the number 1320): only a time written as text.
    if not isinstance(value, str | time):
        raise ValueError("must be a time written HH:MM or HH:MM:SS (quoted in YAML)")
    return value


def _wall_clock(value: time) -> time:
    # A time is local to the `timezone` beside it; an offset written with it is dropped.
    return value.replace(tzinfo=None)


Email = Annotated[str, Field(max_length=320, pattern=EMAIL_PATTERN), BeforeValidator(
    lambda v: _email(v) if isinstance(v, str) else v)]  # fmt: skip
TimeZone = Annotated[str, Field(json_schema_extra={"enum": TIME_ZONES}), AfterValidator(_zone)]
LocalTime = Annotated[time, BeforeValidator(_time_text), AfterValidator(_wall_clock)]
HttpUrl = Annotated[
    str, Field(min_length=1, max_length=2048, pattern=HTTP_URL_PATTERN), _checked("webhook")
]
SmtpUrl = Annotated[
    str, Field(min_length=1, max_length=2048, pattern=SMTP_URL_PATTERN), _checked("smtp")
]


class _Input(BaseModel):
    """What an admin sends, through the API or a YAML file: a key it does not know is refused
    (a misspelt one must not silently leave its default in place); frozen once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EmailChannelIn(_Input):
    """E-mail to `to`, through `smtp_url` (the channel's own server, with its password: a
    credential) or else LEDGER_SMTP_URL."""

    name: Name
    kind: Literal["email"]
    to: Annotated[list[Email], Field(min_length=1, max_length=50)]
    smtp_url: SmtpUrl | None = None


class WebhookChannelIn(_Input):
    """A Slack or Teams incoming webhook, or a signed webhook of your own: `url` is a
    credential (anyone who has it can post), kept, used, and shown masked from now on."""

    name: Name
    kind: Literal["slack", "teams", "webhook"]
    url: HttpUrl


class AlertmanagerChannelIn(_Input):
    """Prometheus Alertmanager's API v2 at `url` (its base URL)."""

    name: Name
    kind: Literal["alertmanager"]
    url: HttpUrl
    resend_s: Annotated[int, Field(ge=1, le=86_400)] = 60
    """How often an unresolved alert is sent again; keep it well under Alertmanager's
    resolve_timeout (5 minutes by default)."""


ChannelIn = Annotated[
    EmailChannelIn | WebhookChannelIn | AlertmanagerChannelIn, Field(discriminator="kind")
]
"""A place alerts go; the fields depend on `kind`."""
CHANNEL_IN: TypeAdapter[EmailChannelIn | WebhookChannelIn | AlertmanagerChannelIn] = TypeAdapter(
    ChannelIn
)


class QuietHoursIn(_Input):
    start: LocalTime
    end: LocalTime
    timezone: TimeZone = "UTC"


class MatchIn(_Input):
    """Which alerts: every filter given must hold; one left out (or empty) accepts any."""

    rules: list[RuleName] = []
    severities: list[Severity] = []
    bases: list[Basis] = []
    client_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = []
    account_manager_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = []

    def core(self) -> Match:
        return Match(
            rules=frozenset(self.rules),
            severities=frozenset(self.severities),
            bases=frozenset(self.bases),
            client_ids=frozenset(self.client_ids),
            account_manager_ids=frozenset(self.account_manager_ids),
        )


class RouteIn(_Input):
    """Which alerts go to which channel (by the channel's name), and when."""

    name: Name
    channel: Name
    match: MatchIn = MatchIn()
    repeat_interval_s: Annotated[int, Field(ge=1, le=30 * 86_400)] | None = None
    """Send an alert again this often while it is open (not acknowledged or resolved)."""
    quiet_hours: QuietHoursIn | None = None
    digest_at: LocalTime | None = None
    """One e-mail a day at this local time listing the alerts since, instead of each alert."""
    timezone: TimeZone = "UTC"
    """The time zone of `digest_at`."""

    def schedule(self) -> Schedule:
        quiet = None
        if self.quiet_hours is not None:
            q = self.quiet_hours
            quiet = QuietHours(start=q.start, end=q.end, timezone=q.timezone)
        return Schedule(
            repeat_interval_s=self.repeat_interval_s,
            quiet=quiet,
            digest_at=self.digest_at,
            timezone=self.timezone,
        )


class RecipientIn(_Input):
    """An account manager's own alerts: where (their e-mail address) and how."""

    email: Email | None = None
    delivery: Delivery | None = None
    digest_at: LocalTime | None = None
    timezone: TimeZone | None = None


class RecipientSeed(RecipientIn):
    account_manager_id: Annotated[str, Field(min_length=1, max_length=200)]


class SeedFile(_Input):
    """A YAML file of channels, routes and account managers' addresses: upserted by name."""

    channels: list[ChannelIn] = []
    routes: list[RouteIn] = []
    recipients: list[RecipientSeed] = []


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(value: Any, env: dict[str, str] | None = None, where: str = "") -> Any:
    """`${NAME}` in any string replaced by the environment variable NAME, so a file kept in
    git names its secrets without holding them. A missing variable is a KeyError naming the
    field and the variable (never a value)."""
    env = dict(os.environ) if env is None else env
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in env:
                raise KeyError(f"{where or '(file)'}: environment variable {m.group(1)} is not set")
            return env[m.group(1)]

        return _VAR.sub(sub, value)
    if isinstance(value, list):
        return [
            expand_env(v, env, f"{where}.{i}" if where else str(i)) for i, v in enumerate(value)
        ]
    if isinstance(value, dict):
        return {
            k: expand_env(v, env, f"{where}.{k}" if where else str(k)) for k, v in value.items()
        }
    return value
