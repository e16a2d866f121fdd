"""The portfolio's figures on a day grouped for its pages: by contract, client or account
manager, rolled up and paged (pure; each roll-up made once and shared, see `Found`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from projections.rollup import RollUp, RollUpFigures, roll_up
from projections.trend import TrendPoint, weekly_trend
from services.reads.formatters import rollup_json
from services.reads.margin_facts import Portfolio


class Found:
    """Each assignment's roll-up figures as of a day with its contract's ids (client, account
    manager), and the roll-ups made of them, each made once: the portfolio's are shared by the
    requests of its page (services/api/margin_cache.py) and by every sort and page of them."""

    def __init__(self, figures: list[RollUpFigures], ids: list[dict[str, Any]]) -> None:
        self.figures, self.ids = figures, ids
        self._by_contract: list[tuple[str, dict[str, Any], list[RollUpFigures]]] | None = None
        self._total: RollUp | None = None
        self._groups: dict[str, list[tuple[dict[str, Any], RollUp]]] = {}

    def by_contract(self) -> list[tuple[str, dict[str, Any], list[RollUpFigures]]]:
        """Each contract's id, ids and assignments' figures, by contract id."""
        if self._by_contract is None:
            groups: dict[str, tuple[str, dict[str, Any], list[RollUpFigures]]] = {}
            for m, ids in zip(self.figures, self.ids, strict=True):
                group = groups.get(m.contract_id)
                if group is None:
                    group = groups[m.contract_id] = (m.contract_id, ids, [])
                group[2].append(m)
            self._by_contract = sorted(groups.values(), key=lambda g: g[0])
        return self._by_contract

    def total(self) -> RollUp:
        if self._total is None:
            self._total = roll_up(self.figures)
        return self._total

    def groups(self, key: str, name_key: str | None) -> list[tuple[dict[str, Any], RollUp]]:
        """Every group (`key`: client_id or account_manager_id) with its name, its number of
        contracts and its roll-up, in the order each first appears."""
        rows = self._groups.get(key)
        if rows is None:
            groups: dict[str, tuple[dict[str, Any], list[RollUpFigures]]] = {}
            for m, ids in zip(self.figures, self.ids, strict=True):
                group = groups.get(ids[key])
                if group is None:
                    group = groups[ids[key]] = (ids, [])
                group[1].append(m)
            rows = []
            for gid, (ids, items) in groups.items():
                head: dict[str, Any] = {key: gid}
                head["name"] = ids[name_key] if name_key else gid
                head["contracts_count"] = len({m.contract_id for m in items})
                rows.append((head, roll_up(items)))
            self._groups[key] = rows
        return rows

    def margin(self, as_of: date, head: dict[str, Any], limit: int, offset: int) -> dict[str, Any]:
        """The roll-up of the assignments' margins (a client's, an account manager's, the
        portfolio), with a page of its contracts' roll-ups (only the page is rolled up)."""
        by_contract = self.by_contract()
        contracts = [
            {"contract_id": cid, **ids, **rollup_json(roll_up(items))}
            for cid, ids, items in by_contract[offset : offset + limit]
        ]
        return {
            "as_of": as_of,
            **head,
            "contracts_count": len(by_contract),
            **rollup_json(self.total()),
            "contracts": contracts,
            "limit": limit,
            "offset": offset,
        }


def ranked(
    found: Found,
    key: str,
    name_key: str | None,
    sort: str,
    limit: int,
    offset: int,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """How many groups (`key`: client_id or account_manager_id) there are, and a page of them
    with their roll-ups and the `extra` columns of each (by the group's id), sorted by a column
    (`-` first: descending); groups without a value for it last."""
    rows = found.groups(key, name_key)
    if extra:
        rows = [({**head, **extra.get(head[key], {})}, r) for head, r in rows]
    column, descending = sort.lstrip("-"), sort.startswith("-")

    def value(item: tuple[dict[str, Any], RollUp]) -> Any:
        head, r = item
        return head[column] if column in head else getattr(r, column)

    present = [i for i in rows if value(i) is not None]
    present.sort(key=lambda i: (value(i), i[0][key]), reverse=descending)
    ordered = present + sorted((i for i in rows if value(i) is None), key=lambda i: i[0][key])
    page = ordered[offset : offset + limit]
    return len(ordered), [{**head, **rollup_json(r)} for head, r in page]


def trend(p: Portfolio, days: list[date]) -> list[TrendPoint]:
    """The weekly gross profit of the portfolio's assignments on each day."""
    return weekly_trend(p.assignments, p.terms_history, days)
