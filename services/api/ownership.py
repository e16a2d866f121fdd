"""Who may see what: the one check every route uses. Finance and admin see every contract;
an account manager sees the contracts they manage."""

from __future__ import annotations

from services.api.errors import ApiError
from services.tokens import Principal


def owner_scope(who: Principal) -> str | None:
    """The account manager whose contracts `who` may read; None: every contract."""
    return None if who.may_read_all() else who.account_manager_id


def ensure_may_read(who: Principal, account_manager_id: str | None, missing: ApiError) -> None:
    """Raises `missing` (the route's own 404 for a subject that does not exist) unless `who`
    may read a subject managed by `account_manager_id`: another manager's contract answers
    exactly as a missing one, so contract ids cannot be enumerated by their answers."""
    if not who.may_read_all() and account_manager_id != who.account_manager_id:
        raise missing
