"""What an admin may configure, through the API or a YAML file: channels, routes and account
managers' own delivery. One set of models for both, so both refuse the same things with the
same reasons (a field named, the secret never repeated)."""

from __future__ import annotations

import os
import re
from datetime import time
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from events.alerts import Basis, RuleName, Severity
from services.alerting.routing import Match, QuietHours, Schedule
from services.alerting.secrecy import url_problem

ChannelKind = Literal["email", "slack", "teams", "alertmanager", "webhook"]
Delivery = Literal["email", "digest", "none"]
"""An account manager's own alerts: each by e-mail (the default), one daily digest, or none."""

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
_EMAIL = re.compile(r"^[^@\s<>,;\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,253})$")


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("must be an e-mail address (name@domain)")
    return value


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("must be an IANA time zone such as Europe/London or UTC") from exc
    return value


def _checked(kind: str) -> Any:
    def check(value: str) -> str:
        problem = url_problem(kind, value)
        if problem is not None:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


Email = Annotated[str, Field(max_length=320), AfterValidator(_email)]
TimeZone = Annotated[str, Field(max_length=64), AfterValidator(_zone)]
HttpUrl = Annotated[str, Field(min_length=1, max_length=2048), _checked("webhook")]
SmtpUrl = Annotated[str, Field(min_length=1, max_length=2048), _checked("smtp")]


class ChannelIn(BaseModel):
    """A place alerts go. `url` (Slack, Teams, webhook, Alertmanager's base URL) and
    `smtp_url` (an e-mail channel's own server, with its password; default LEDGER_SMTP_URL)
    are credentials: stored, used, never shown again."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    kind: ChannelKind
    url: HttpUrl | None = None
    to: Annotated[list[Email], Field(min_length=1, max_length=50)] | None = None
    smtp_url: SmtpUrl | None = None
    resend_s: Annotated[int, Field(ge=1, le=86_400)] = 60
    """Alertmanager: how often an unresolved alert is sent again; keep it well under
    Alertmanager's resolve_timeout (5 minutes by default)."""

    @model_validator(mode="after")
    def _fields_of_kind(self) -> Self:
        if self.kind == "email":
            if self.to is None:
                raise ValueError("to: an e-mail channel needs at least one address")
            if self.url is not None:
                raise ValueError("url: an e-mail channel has no url (use to and smtp_url)")
        else:
            if self.url is None:
                raise ValueError(f"url: a {self.kind} channel needs one")
            if self.to is not None or self.smtp_url is not None:
                raise ValueError(f"to, smtp_url: only an e-mail channel has them, not {self.kind}")
        return self


class QuietHoursIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start: time
    end: time
    timezone: TimeZone = "UTC"


class MatchIn(BaseModel):
    """Which alerts: every filter given must hold; one left out (or empty) accepts any."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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


class RouteIn(BaseModel):
    """Which alerts go to which channel (by the channel's name), and when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    channel: Name
    match: MatchIn = MatchIn()
    repeat_interval_s: Annotated[int, Field(ge=1, le=30 * 86_400)] | None = None
    """Send an alert again this often while it is open (not acknowledged or resolved)."""
    quiet_hours: QuietHoursIn | None = None
    digest_at: time | None = None
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


class RecipientIn(BaseModel):
    """An account manager's own alerts: where (their e-mail address) and how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: Email | None = None
    delivery: Delivery | None = None
    digest_at: time | None = None
    timezone: TimeZone | None = None


class RecipientSeed(RecipientIn):
    account_manager_id: Annotated[str, Field(min_length=1, max_length=200)]


class SeedFile(BaseModel):
    """A YAML file of channels, routes and account managers' addresses: upserted by name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
