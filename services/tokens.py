"""API bearer tokens: made here, shown once, and kept in PostgreSQL only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import asyncpg

from events.messages import Role, Submitter

TOKEN_PREFIX = "mlt_"  # recognisable in a leaked-secret scan


@dataclass(frozen=True)
class Principal:
    token_id: str
    role: Role
    account_manager_id: str | None

    @property
    def name(self) -> str:
        """What an event's recorded_by says about who submitted it."""
        return self.account_manager_id or f"{self.role}:{self.token_id}"

    def submitter(self) -> Submitter:
        return Submitter(
            role=self.role, principal=self.name, account_manager_id=self.account_manager_id
        )

    def may_read_all(self) -> bool:
        return self.role in ("finance", "admin")


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(
    conn: asyncpg.Connection, role: Role, account_manager_id: str | None
) -> tuple[str, str]:
    """Returns (token_id, token). The token itself is never stored."""
    if (role == "account_manager") != (account_manager_id is not None):
        raise ValueError("--account-manager is required for, and only for, role account_manager")
    token_id = secrets.token_hex(6)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await conn.execute(
        """INSERT INTO api_tokens (token_id, token_sha256, role, account_manager_id)
           VALUES ($1, $2, $3, $4)""",
        token_id,
        token_sha256(token),
        role,
        account_manager_id,
    )
    return token_id, token


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
    row = await conn.fetchrow(
        """SELECT token_id, role, account_manager_id FROM api_tokens
           WHERE token_sha256 = $1 AND revoked_at IS NULL""",
        token_sha256(token),
    )
    if row is None:
        return None
    return Principal(row["token_id"], row["role"], row["account_manager_id"])
