"""Sending to a channel: SMTP for e-mail, HTTP for Slack, Teams, Alertmanager and the signed
webhooks. Each send answers None (delivered) or why not, cleaned of the channel's credentials:
the answer is stored in the delivery log and shown to admins.

Apprise was considered for the formats: its Slack and Teams plugins post only to the vendors'
own hosts (rebuilt from the URL's tokens), so a receiver on an internal network, or the tests'
loopback one, could not be used; the payloads here follow the vendors' documented shapes
(`services/alerting/formats.py`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib
import asyncpg
import httpx

from services.alerting import formats, secrecy
from services.webhooks import sign


class Sender:
    def __init__(
        self, http: httpx.AsyncClient, smtp_url: str | None, smtp_from: str, timeout_s: float
    ) -> None:
        self.http = http
        self.smtp_url = smtp_url
        self.smtp_from = smtp_from
        self.timeout_s = timeout_s

    async def send(
        self,
        channel: asyncpg.Record,
        alerts: Sequence[dict[str, Any]],
        kind: str,
        now: datetime,
        digest_name: str | None = None,
    ) -> str | None:
        """Sends `alerts` (one, or a digest's several for e-mail) as a delivery of `kind`."""
        secrets = [
            *secrecy.secret_parts(channel["target"] if channel["kind"] != "email" else None),
            *secrecy.secret_parts(channel["smtp_url"]),
            *secrecy.secret_parts(self.smtp_url),
        ]
        try:
            return await self._send(channel, alerts, kind, now, digest_name)
        except Exception as exc:  # any failure is the channel's: logged, retried
            return secrecy.redact(f"{type(exc).__name__}: {exc}", secrets)[:500]

    async def _send(
        self,
        channel: asyncpg.Record,
        alerts: Sequence[dict[str, Any]],
        kind: str,
        now: datetime,
        digest_name: str | None,
    ) -> str | None:
        ch_kind, target = channel["kind"], channel["target"]
        if ch_kind == "email":
            if digest_name is not None:
                subject, body = formats.digest_email(alerts, digest_name)
            else:
                subject, body = formats.email(alerts[0], kind)
            return await self._email(channel, target.split(","), subject, body)
        (alert,) = alerts
        if ch_kind == "slack":
            return await self._post(target, formats.slack(alert, kind))
        if ch_kind == "teams":
            return await self._post(target, formats.teams(alert, kind))
        if ch_kind == "alertmanager":
            url = target.rstrip("/") + "/api/v2/alerts"
            return await self._post(url, formats.alertmanager(alert, now, kind == "resolved"))
        if ch_kind == "webhook":
            signed = json.dumps(alert, separators=(",", ":")).encode()
            headers = {
                "Content-Type": "application/json",
                "X-Ledger-Alert-Id": alert["alert_id"],
                "X-Ledger-Delivery": kind,
                "X-Ledger-Signature": sign(channel["signing_secret"], int(time.time()), signed),
            }
            return _status(await self.http.post(target, content=signed, headers=headers))
        return f"unknown channel kind {ch_kind}"

    async def _post(self, url: str, payload: Any) -> str | None:
        return _status(await self.http.post(url, json=payload))

    async def _email(
        self, channel: asyncpg.Record, to: list[str], subject: str, body: str
    ) -> str | None:
        server = channel["smtp_url"] or self.smtp_url
        if not server:
            return "no SMTP server: set LEDGER_SMTP_URL, or the channel's smtp_url"
        parts = urlsplit(server)
        msg = EmailMessage()
        msg["From"] = self.smtp_from
        msg["To"] = ", ".join(to)
        msg["Subject"] = subject
        msg.set_content(body)
        implicit_tls = parts.scheme == "smtps"
        await aiosmtplib.send(
            msg,
            hostname=parts.hostname,
            port=parts.port or (465 if implicit_tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=implicit_tls,
            # STARTTLS when the server offers it (aiosmtplib's default), plain otherwise.
            start_tls=None if not implicit_tls else False,
            timeout=self.timeout_s,
        )
        return None


def _status(resp: httpx.Response) -> str | None:
    if 200 <= resp.status_code < 300:
        return None
    return f"HTTP {resp.status_code}"
