"""What each channel is sent for an alert: pure functions of the alert (as `alert_json` shows
it: exposure a string rounded to cents).

Slack: an incoming webhook's JSON (`text`, the fallback shown in notifications, and `blocks`).
Teams: a Workflows / incoming webhook message carrying one Adaptive Card. Alertmanager: the
body of `POST /api/v2/alerts` (a list of postable alerts). E-mail: a subject and a plain-text
body, each naming the rule, the client, the assignment, the exposure and the sentence.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

Alert = dict[str, Any]

PRODUCT = "Markup Ledger"


def exposure_text(alert: Alert) -> str:
    raw = alert.get("exposure")
    return "none" if raw is None else f"{Decimal(raw):,.2f}"


def assignment_text(alert: Alert) -> str:
    return alert.get("assignment_id") or "(the contract as a whole)"


def title(alert: Alert, kind: str = "raised") -> str:
    """One line: severity, rule, client, assignment, exposure."""
    lead = {"repeat": "Still open: ", "resolved": "Resolved: "}.get(kind, "")
    where = alert["client_name"]
    if alert.get("assignment_id"):
        where += f", assignment {alert['assignment_id']}"
    line = f"{lead}[{alert['severity'].upper()}] {alert['rule']}: {where}; "
    # One line whatever a name holds: an e-mail subject may not break, nor a card's title.
    return " ".join((line + f"exposure {exposure_text(alert)}").split())


def facts(alert: Alert) -> list[tuple[str, str]]:
    """(label, value) of everything a person acting on the alert needs."""
    return [
        ("Rule", alert["rule"]),
        ("Severity", alert["severity"]),
        ("Basis", alert["basis"]),
        ("Client", alert["client_name"]),
        ("Contract", alert["contract_id"]),
        ("Assignment", assignment_text(alert)),
        ("Exposure", exposure_text(alert)),
        ("Status", alert["status"]),
        ("Raised at", alert["raised_at"]),
        ("Alert id", alert["alert_id"]),
    ]


def email(alert: Alert, kind: str = "raised") -> tuple[str, str]:
    """(subject, plain-text body)."""
    lines = [alert["message"], ""]
    width = max(len(label) for label, _ in facts(alert))
    lines += [f"{label + ':':<{width + 1}} {value}" for label, value in facts(alert)]
    if kind == "repeat":
        lines += ["", "Sent again: the alert is still open (acknowledge it to stop the repeats)."]
    return f"{PRODUCT}: {title(alert, kind)}", "\n".join(lines) + "\n"


def digest_email(alerts: Sequence[Alert], name: str) -> tuple[str, str]:
    """One e-mail listing several alerts (a daily digest), in the order they were raised."""
    n = len(alerts)
    subject = f"{PRODUCT}: daily digest for {name}, {n} alert{'s' if n != 1 else ''}"
    blocks = []
    for i, a in enumerate(alerts, 1):
        _, body = email(a)
        blocks.append(f"{i}. {title(a)}\n{body}")
    return subject, "\n".join(blocks)


def slack(alert: Alert, kind: str = "raised") -> dict[str, Any]:
    fields = [{"type": "mrkdwn", "text": f"*{label}*\n{value}"} for label, value in facts(alert)]
    return {
        "text": f"{title(alert, kind)}. {alert['message']}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title(alert, kind)[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": alert["message"]}},
            # Slack allows at most 10 fields in a section.
            {"type": "section", "fields": fields[:10]},
        ],
    }


def teams(alert: Alert, kind: str = "raised") -> dict[str, Any]:
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": True,
             "text": title(alert, kind)},
            {"type": "TextBlock", "wrap": True, "text": alert["message"]},
            {"type": "FactSet",
             "facts": [{"title": label, "value": value} for label, value in facts(alert)]},
        ],
    }  # fmt: skip
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def _rfc3339(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def alertmanager(alert: Alert, now: datetime, resolved: bool) -> list[dict[str, Any]]:
    """The labels identify the alert in Alertmanager (the same on every re-send); no endsAt
    while it is unresolved, so Alertmanager keeps it firing for its resolve_timeout after the
    last send; endsAt at its resolution once resolved."""
    raised = datetime.fromisoformat(alert["raised_at"])
    starts = min(raised, now)
    labels = {
        "alertname": alert["rule"],
        "severity": alert["severity"],
        "basis": alert["basis"],
        "contract_id": alert["contract_id"],
        "client": alert["client_name"],
        "alert_id": alert["alert_id"],
        "source": "markup-ledger",
    }
    if alert.get("assignment_id"):
        labels["assignment_id"] = alert["assignment_id"]
    out: dict[str, Any] = {
        "labels": labels,
        "annotations": {
            "summary": title(alert),
            "description": alert["message"],
            "exposure": exposure_text(alert),
        },
        "startsAt": _rfc3339(starts),
    }
    if resolved:
        at = alert.get("resolved_at")
        ended = datetime.fromisoformat(at) if at else now
        out["endsAt"] = _rfc3339(max(ended, starts))
    return [out]
