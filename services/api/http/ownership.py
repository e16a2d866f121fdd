"""Who may see and do what: the checks every route makes, here only. Finance and admin see
every contract; an account manager sees the contracts they manage, acknowledges their alerts
and keeps their own alert settings; only finance and admin resolve alerts; only an admin
manages alert routing and imports."""

from __future__ import annotations

from services.api.http.errors import ApiError
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


def submitter_scope(who: Principal) -> str | None:
    """The submitter whose submissions `who` may poll; None: every submitter's."""
    return None if who.may_read_all() else who.name


def manager_scope(who: Principal, account_manager_id: str | None) -> str | None:
    """The account manager whose contracts a list asked for `account_manager_id` shows `who`
    (None: every contract). An account manager asking for another's is refused (403)."""
    if who.may_read_all():
        return account_manager_id
    if account_manager_id is not None and account_manager_id != who.account_manager_id:
        raise ApiError.field(
            403, "account_manager_id", "account managers see only their own contracts"
        )
    return who.account_manager_id


def ensure_may_resolve(who: Principal, alert_id: str) -> None:
    """Only finance and admin resolve an alert (an account manager acknowledges it)."""
    if not who.may_read_all():
        raise ApiError.field(
            403, "(token)", f"only finance or admin may mark alert {alert_id} resolved"
        )


def ensure_admin(who: Principal, refused: ApiError) -> None:
    """Raises `refused` (the route's own 403, naming what only an admin may do) unless `who`
    is an admin."""
    if who.role != "admin":
        raise refused


def ensure_admin_or_self(who: Principal, account_manager_id: str) -> None:
    """An account manager's own settings: theirs, or an admin's to see and change."""
    if who.role != "admin" and who.account_manager_id != account_manager_id:
        raise ApiError.field(
            403, "(token)", "only an admin or that account manager may see or change this"
        )
