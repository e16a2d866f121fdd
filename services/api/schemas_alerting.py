"""The bodies the alert-routing routes answer (services/api/routes/alerting.py). A channel's
URL and SMTP server are shown masked: `https://hooks.slack.com/****`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.alerting.config import ChannelKind, Delivery
from services.api.schemas import Timestamp


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Channel(_Model):
    channel_id: str
    name: str
    kind: ChannelKind
    url: str | None = Field(description="masked: scheme, host and port only")
    to: list[str] | None = Field(description="an e-mail channel's recipients")
    smtp_url: str | None = Field(description="an e-mail channel's own SMTP server, masked")
    resend_s: int
    owner: str | None = Field(description="the account manager whose own address this is")
    active: bool
    created_at: Timestamp


class ChannelCreated(Channel):
    signing_secret: str | None = Field(
        description="a webhook channel's signing secret (X-Ledger-Signature), shown this once"
    )


class ChannelList(_Model):
    channels: list[Channel]


class MatchOut(_Model):
    rules: list[str]
    severities: list[str]
    bases: list[str]
    client_ids: list[str]
    account_manager_ids: list[str]


class QuietHoursOut(_Model):
    start: str
    end: str
    timezone: str


class Route(_Model):
    route_id: str
    name: str
    channel: str
    channel_id: str
    match: MatchOut
    repeat_interval_s: int | None
    quiet_hours: QuietHoursOut | None
    digest_at: str | None
    timezone: str
    owner: str | None
    active: bool
    created_at: Timestamp


class RouteList(_Model):
    routes: list[Route]


class AlertDelivery(_Model):
    delivery_id: int
    route_id: str
    route: str
    channel: str
    channel_kind: ChannelKind
    alert_id: str
    kind: Literal["raised", "repeat", "refresh", "resolved"]
    status: Literal["pending", "failing", "delivered", "dropped"]
    tries: int
    last_error: str | None = Field(description="why the last try failed (no credentials)")
    created_at: Timestamp
    due_at: Timestamp
    last_try_at: Timestamp | None
    next_try_at: Timestamp | None
    delivered_at: Timestamp | None


class DeliveryList(_Model):
    deliveries: list[AlertDelivery]
    limit: int
    offset: int


class Recipient(_Model):
    account_manager_id: str
    email: str | None
    delivery: Delivery
    digest_at: str
    timezone: str
