"""The people who signed in through the identity provider (table `people`): who they are as
the provider last said, and the role their groups gave them at their last sign-in."""

from __future__ import annotations

from typing import Any

import asyncpg

from events.messages import Role
from services.oidc import Person


async def record_sign_in(
    conn: asyncpg.Connection, issuer: str, person: Person, role: Role | None
) -> None:
    """Creates or updates the person; role None: the sign-in granted no access."""
    await conn.execute(
        """INSERT INTO people (person_id, issuer, subject, name, email, role)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (person_id) DO UPDATE
             SET name = EXCLUDED.name, email = EXCLUDED.email, role = EXCLUDED.role,
                 last_sign_in_at = now()""",
        person.person_id,
        issuer,
        person.subject,
        person.name,
        person.email,
        role,
    )


async def find(conn: asyncpg.Connection | asyncpg.Pool, person_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT person_id, name, email, role FROM people WHERE person_id = $1", person_id
    )
    return dict(row) if row is not None else None


async def everyone(conn: asyncpg.Connection | asyncpg.Pool) -> list[dict[str, Any]]:
    """Every person known, by name: what the web app shows in place of an id."""
    rows = await conn.fetch("SELECT person_id, name, email, role FROM people ORDER BY name")
    return [dict(r) for r in rows]
