"""Channel URLs and SMTP passwords are credentials (a Slack or Teams webhook URL lets anyone
post to the channel): the schemes a channel may use, how one is shown (masked), and how an
error about one is cleaned before it is stored or logged."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

MASK: Final = "****"

SCHEMES: Final[dict[str, frozenset[str]]] = {
    "slack": frozenset({"https", "http"}),
    "teams": frozenset({"https", "http"}),
    "webhook": frozenset({"https", "http"}),
    "alertmanager": frozenset({"https", "http"}),
    "smtp": frozenset({"smtp", "smtps"}),
}
"""Per kind of URL, the schemes allowed; anything else (file:, javascript:, data:, gopher:,
ftp:) is refused with the field named. Plain http is allowed for receivers on an internal
network (and the tests' loopback ones)."""


def url_problem(kind: str, url: str) -> str | None:
    """Why `url` may not be a `kind` URL, or None. The reason never repeats the URL."""
    allowed = SCHEMES[kind]
    listed = ", ".join(sorted(allowed))
    if any(c.isspace() or ord(c) < 32 for c in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme.lower() not in allowed:
        return f"scheme must be one of {listed}"
    if not parts.hostname:
        return "must name a host"
    if kind == "smtp" and parts.path not in ("", "/"):
        return "must be smtp://[user:password@]host[:port] (no path)"
    del port
    return None


def mask_url(url: str) -> str:
    """Scheme, host and port only, the rest masked: `https://hooks.slack.com/****`; an SMTP URL
    keeps its user name: `smtp://alerts:****@mail.example.com:587`."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return MASK
    if ":" in host:
        host = f"[{host}]"
    if parts.scheme in SCHEMES["smtp"]:
        user = f"{parts.username}:{MASK}@" if parts.username else ""
        return f"{parts.scheme}://{user}{host}{port}"
    return f"{parts.scheme}://{host}{port}/{MASK}"


def secret_parts(url: str | None) -> list[str]:
    """What of `url` must never be shown: the URL itself, its password, path and query."""
    if not url:
        return []
    out = [url]
    try:
        parts = urlsplit(url)
        out += [p for p in (parts.password, parts.path, parts.query) if p and p != "/"]
    except ValueError:
        pass
    return out


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret in it replaced by the mask (longest first, so a URL goes
    whole before its path would)."""
    for s in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(s, MASK)
    return text
