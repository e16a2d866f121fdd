"""What single sign-on decides from an ID token's claims alone: the person, their role from
the groups claim, and where the browser may go after signing in."""

from __future__ import annotations

import re
from typing import Any

import pytest

from events.fields import ID_PATTERN
from events.messages import Role
from services.api.routes.sign_in import safe_next
from services.oidc import SignInRefused, person_of, role_of
from services.tokens import Principal

GROUPS: dict[Role, frozenset[str]] = {
    "admin": frozenset({"ledger-admins"}),
    "finance": frozenset({"ledger-finance", "0b7a-finance-guid"}),
    "account_manager": frozenset({"ledger-account-managers"}),
}


@pytest.mark.parametrize(
    ("groups", "role"),
    [
        (["ledger-account-managers"], "account_manager"),
        (["staff", "0b7a-finance-guid"], "finance"),
        (["ledger-account-managers", "ledger-finance"], "finance"),  # the broader reading wins
        (["ledger-finance", "ledger-admins"], "admin"),
        ("ledger-admins", "admin"),  # a provider that sends one group as a string
    ],
)
def test_the_role_is_the_first_whose_group_the_person_is_in(groups: Any, role: str) -> None:
    assert role_of({"groups": groups}, "groups", GROUPS) == role


def test_no_groups_claim_is_no_access_saying_which_claim_is_missing() -> None:
    with pytest.raises(SignInRefused) as refused:
        role_of({"sub": "x"}, "roles", GROUPS)
    assert refused.value.status == 403
    assert "no 'roles' claim" in refused.value.reason


def test_too_many_groups_for_the_token_says_so() -> None:
    overage = {"_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {"endpoint": "x"}}}
    with pytest.raises(SignInRefused, match="too many groups") as refused:
        role_of(overage, "groups", GROUPS)
    assert refused.value.status == 403


@pytest.mark.parametrize("groups", [[], ["staff"], ["LEDGER-ADMINS"]])
def test_groups_that_give_no_role_are_no_access(groups: list[str]) -> None:
    with pytest.raises(SignInRefused, match="none of the groups") as refused:
        role_of({"groups": groups}, "groups", GROUPS)
    assert refused.value.status == 403


def test_a_person_is_their_subject_name_and_email() -> None:
    p = person_of({"sub": "00u1abcd", "name": "Alex Morgan", "email": "alex@agency.example"})
    assert (p.person_id, p.subject, p.name, p.email) == (
        "00u1abcd", "00u1abcd", "Alex Morgan", "alex@agency.example",
    )  # fmt: skip


def test_a_subject_that_is_not_a_plain_id_is_digested_the_same_every_time() -> None:
    odd = {"sub": "CgVhbGV4EgVsb2NhbA==/x+y", "preferred_username": "alex"}
    p = person_of(odd)
    assert re.fullmatch(ID_PATTERN, p.person_id)
    assert p.person_id == person_of(odd).person_id != person_of({"sub": "other/+"}).person_id
    assert (p.subject, p.name, p.email) == (odd["sub"], "alex", None)


@pytest.mark.parametrize(
    "sub", ["admin:4f2a9c1b0d3e", "finance:x", "account_manager:am.1", "..", "a" * 65]
)
def test_a_subject_that_reads_as_a_tokens_principal_or_no_id_is_digested(sub: str) -> None:
    person_id = person_of({"sub": sub}).person_id
    assert person_id.startswith("p-") and re.fullmatch(ID_PATTERN, person_id)


@pytest.mark.parametrize(
    "value",
    ["/", "/app/finance", "/app/alerts?status=open&rule=LOSS_POSITION", "/app/contracts/C-1#top"],
)
def test_next_may_be_any_path_of_this_site(value: str) -> None:
    assert safe_next(value) == value


def test_no_next_goes_to_the_start_page() -> None:
    assert safe_next(None) == safe_next("") == "/"


@pytest.mark.parametrize(
    "value",
    [
        "https://evil.example/",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "app/finance",
        "/app\r\nLocation: https://evil.example",
        "/app\tx",
        "/" + "a" * 2000,
    ],
)
def test_next_to_another_site_is_refused(value: str) -> None:
    assert safe_next(value) is None


def test_people_are_counted_apart_from_each_other_and_from_tokens() -> None:
    alex = Principal("", "account_manager", "u-alex", person_id="u-alex")
    sam = Principal("", "account_manager", "u-sam", person_id="u-sam")
    token = Principal("4f2a9c1b0d3e", "account_manager", "u-alex")
    assert len({alex.key, sam.key, token.key}) == 3
    assert (alex.name, token.name) == ("u-alex", "u-alex")  # both record as the account manager
