"""API bearer tokens: made here, shown once, and kept in PostgreSQL only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, get_args

import asyncpg

from events.fields import ID_PATTERN, ID_REFUSED
from events.messages import Role, Submitter

TOKEN_PREFIX = "mlt_"  # recognisable in a leaked-secret scan


@dataclass(frozen=True)
class Principal:
    """Who is asking: a bearer token (token_id), or a person signed in through the identity
    provider (person_id; token_id empty). A person who is an account manager manages the
    contracts whose account_manager_id is their person_id."""

    token_id: str
    role: Role
    account_manager_id: str | None
    person_id: str | None = None

    @property
    def name(self) -> str:
        """What an event's recorded_by says about who submitted it: the person, else the
        account manager the token acts for, else the token."""
        return self.person_id or self.account_manager_id or f"{self.role}:{self.token_id}"

    @property
    def key(self) -> str:
        """One per credential holder, for what is counted per caller (the rate limit): the
        token, or the person (whatever their sessions)."""
        return f"person:{self.person_id}" if self.person_id else self.token_id

    def submitter(self) -> Submitter:
        return Submitter(
            role=self.role, principal=self.name, account_manager_id=self.account_manager_id
        )

    def may_read_all(self) -> bool:
        return self.role in ("finance", "admin")


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_DURATION = re.compile(r"^([1-9][0-9]{0,5})([smhdw])$")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """`90d`, `12h`, `30m`, `2w`, `45s`: how long a token lives (ValueError otherwise)."""
    m = _DURATION.match(text.strip())
    if m is None:
        raise ValueError(
            f"--expires-in {text!r}: expected a whole number and a unit s, m, h, d or w (e.g. 90d)"
        )
    return timedelta(**{_UNIT[m.group(2)]: int(m.group(1))})


def check_account_manager_id(account_manager_id: str) -> None:
    """An account manager's id as contracts name it (an event id field), and never one that
    reads like another principal's `recorded_by` (`admin:<token>`): ValueError otherwise."""
    if not re.fullmatch(ID_PATTERN, account_manager_id):
        raise ValueError(f"--account-manager {account_manager_id!r}: {ID_REFUSED}")
    role, colon, _ = account_manager_id.partition(":")
    if colon and role in get_args(Role):
        raise ValueError(
            f"--account-manager {account_manager_id!r}: must not begin with a role and a colon "
            f"({role}:), which is how events name who recorded them"
        )


async def create_token(
    conn: asyncpg.Connection,
    role: Role,
    account_manager_id: str | None,
    expires_in: timedelta | None = None,
) -> tuple[str, str]:
    """Returns (token_id, token). The token itself is never stored. With `expires_in` it is
    refused from then on, like a revoked one."""
    if (role == "account_manager") != (account_manager_id is not None):
        raise ValueError("--account-manager is required for, and only for, role account_manager")
    if account_manager_id is not None:
        check_account_manager_id(account_manager_id)
    token_id = secrets.token_hex(6)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await conn.execute(
        """INSERT INTO api_tokens (token_id, token_sha256, role, account_manager_id, expires_at)
           VALUES ($1, $2, $3, $4, now() + $5::interval)""",
        token_id,
        token_sha256(token),
        role,
        account_manager_id,
        expires_in,
    )
    return token_id, token


async def list_tokens(conn: asyncpg.Connection | asyncpg.Pool) -> list[dict[str, Any]]:
    """Every token, oldest first, without its secret (only a hash of it is kept anyway)."""
    rows = await conn.fetch(
        """SELECT token_id, role, account_manager_id, created_at, expires_at, revoked_at,
                  (revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())) AS live
           FROM api_tokens ORDER BY created_at, token_id"""
    )
    return [dict(r) for r in rows]


def describe(t: dict[str, Any]) -> str:
    """One line of `ledger token list`."""

    def when(d: datetime | None) -> str:
        return d.strftime("%Y-%m-%d %H:%M UTC") if d is not None else "-"

    state = "live" if t["live"] else ("revoked" if t["revoked_at"] else "expired")
    return (
        f"{t['token_id']:<14}{t['role']:<17}{t['account_manager_id'] or '-':<20}"
        f"{when(t['created_at']):<22}{when(t['expires_at']):<22}{when(t['revoked_at']):<22}{state}"
    )


LIST_HEADER = (
    f"{'TOKEN ID':<14}{'ROLE':<17}{'ACCOUNT MANAGER':<20}{'CREATED':<22}{'EXPIRES':<22}"
    f"{'REVOKED':<22}STATE"
)


async def revoke_token(conn: asyncpg.Connection, token_or_id: str) -> bool:
    """Revokes by token id or by the token itself; False when no live token matched."""
    status: str = await conn.execute(
        """UPDATE api_tokens SET revoked_at = now()
           WHERE revoked_at IS NULL AND (token_id = $1 OR token_sha256 = $2)""",
        token_or_id,
        token_sha256(token_or_id),
    )
    return status != "UPDATE 0"


async def lookup(conn: asyncpg.Connection | asyncpg.Pool, token: str) -> Principal | None:
    """The principal of a live token: None when unknown, revoked or expired."""
    row = await conn.fetchrow(
        """SELECT token_id, role, account_manager_id FROM api_tokens
           WHERE token_sha256 = $1 AND revoked_at IS NULL
             AND (expires_at IS NULL OR expires_at > now())""",
        token_sha256(token),
    )
    if row is None:
        return None
    return Principal(row["token_id"], row["role"], row["account_manager_id"])


async def is_live(conn: asyncpg.Connection | asyncpg.Pool, token_id: str) -> bool:
    """Whether the token is still neither revoked nor expired (an open stream asks this)."""
    return bool(
        await conn.fetchval(
            """SELECT true FROM api_tokens WHERE token_id = $1 AND revoked_at IS NULL
                 AND (expires_at IS NULL OR expires_at > now())""",
            token_id,
        )
    )
