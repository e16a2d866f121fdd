"""Each endpoint × (no token, revoked token, each role) answers as DESIGN says."""

from __future__ import annotations

import uuid

import httpx
import pytest

from services import tokens
from services.db import connection
from simulation.examples import example
from tests.support.http import post
from tests.support.services import Tokens
from tests.support.stack import Stack, unique


@pytest.fixture(scope="module")
async def revoked(ready_stack: Stack) -> str:
    async with connection(ready_stack.dsn) as conn:
        _, token = await tokens.create_token(conn, "admin", None)
        assert await tokens.revoke_token(conn, token)
        return token


@pytest.fixture(scope="module")
def own_contract(services: object, api_tokens: Tokens) -> tuple[str, str]:
    """A contract of `am` with one event: (contract_id, event_id)."""
    cid = unique("C")
    signed = example("ContractSigned", contract_id=cid, account_manager_id=api_tokens.am_id)
    with httpx.Client(base_url=services.url, timeout=60) as http:  # type: ignore[attr-defined]
        assert post(http, api_tokens.am, signed).status_code == 201
    return cid, signed["event_id"]


# who -> expected status for (submit to own contract, read its log, poll its submission)
MATRIX = {
    "none": (401, 401, 401),
    "revoked": (401, 401, 401),
    "finance": (403, 200, 200),
    "admin": (201, 200, 200),
    "am": (201, 200, 200),
    # Another manager's contract reads as a missing one (404): ids cannot be enumerated.
    "other_am": (403, 404, 404),
}


@pytest.mark.parametrize("who", sorted(MATRIX))
def test_auth_matrix(
    who: str,
    http: httpx.Client,
    api_tokens: Tokens,
    revoked: str,
    own_contract: tuple[str, str],
) -> None:
    cid, event_id = own_contract
    token = {"none": None, "revoked": revoked}[who] if who in ("none", "revoked") else None
    token = token if who in ("none", "revoked") else getattr(api_tokens, who)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    submit, read, poll = MATRIX[who]

    contact = example("ClientContactLogged", contract_id=cid)
    r = http.post("/v1/events", json=contact, headers=headers)
    assert r.status_code == submit, r.text
    if submit in (401, 403):
        body = r.json()
        assert body["errors"] and body["message"], body

    r = http.get("/v1/events", params={"contract_id": cid}, headers=headers)
    assert r.status_code == read, r.text

    r = http.get(f"/v1/submissions/{event_id}", headers=headers)
    assert r.status_code == poll, r.text


def test_unknown_submission_is_404(http: httpx.Client, api_tokens: Tokens) -> None:
    r = http.get(
        f"/v1/submissions/{uuid.uuid4()}", headers={"Authorization": f"Bearer {api_tokens.admin}"}
    )
    assert r.status_code == 404
