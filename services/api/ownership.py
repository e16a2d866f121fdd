"""Who may see what: the one check every route uses. Finance and admin see every contract;
an account manager sees the contracts they manage."""

from __future__ import annotations

from services.api.errors import ApiError
from services.tokens import Principal


def owner_scope(who: Principal) -> str | None:
    """The account manager whose contracts `who` may read; None: every contract."""
    return None if who.may_read_all() else who.account_manager_id


def ensure_may_read(who: Principal, account_manager_id: str | None, subject: str) -> None:
    """403 unless `who` may read a subject managed by `account_manager_id`."""
    if not who.may_read_all() and account_manager_id != who.account_manager_id:
        raise ApiError.field(403, "(token)", f"{subject} is not managed by you")
