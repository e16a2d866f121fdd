"""The API's reads of the hours actually worked (`hours_reported`): each assignment's weeks as
of a date against its plan, at the rates in force each week (projections.actuals), and the
roll-ups of them. Four plain reads for whatever set of assignments `where` picks."""

from __future__ import annotations

import dataclasses
from bisect import bisect_right
from collections.abc import Callable
from datetime import date
from typing import Any, TypeAlias

import asyncpg

from projections import margin
from projections.actuals import (
    Actuals,
    ReportedHours,
    assignment_actuals,
)
from projections.read_model import (
    AssignmentRow,
    RateRow,
    Terms,
    TermsRow,
    assignment_rates,
    terms_in_force,
)
from services.reads.margin_facts import terms_histories

Db: TypeAlias = asyncpg.Pool | asyncpg.Connection

_ASSIGNMENT_FIELDS = [f.name for f in dataclasses.fields(AssignmentRow)]
_RATE_FIELDS = [f.name for f in dataclasses.fields(RateRow)]


@dataclasses.dataclass(frozen=True)
class AssignmentHours:
    row: AssignmentRow
    ids: dict[str, Any]  # its contract's client and account manager
    actuals: Actuals


def _terms_on(terms: list[TermsRow]) -> Callable[[date], Terms | None]:
    """`terms_in_force(terms, day)` for any day, computed once for each stretch between two
    amendments' effective dates (the terms change only there), the same object for a stretch."""
    days = sorted({t.effective_date for t in terms if t.kind != "signed"})
    stretches = [terms_in_force(terms, date.min), *(terms_in_force(terms, d) for d in days)]

    def on(day: date) -> Terms | None:
        return stretches[bisect_right(days, day)]

    return on


def _rates_on(
    row: AssignmentRow, rates: list[RateRow], terms: Callable[[date], Terms | None]
) -> Callable[[date], margin.Rates]:
    # One Rates for each (rate in force, terms in force): weeks under the same pair share it,
    # and the weekly figures are computed once for it (projections.actuals).
    priced: dict[tuple[int, int], margin.Rates] = {}

    def on(day: date) -> margin.Rates:
        in_force = rates[0]
        for r in rates:  # by (effective_date, stream_version)
            if r.effective_date <= day:
                in_force = r
        t = terms(day)
        if t is None:  # never: every contract has its signing
            raise LookupError(f"contract {row.contract_id} has no signed terms")
        key = (id(in_force), id(t))  # both kept: the rows in `rates`, the terms by `terms`
        found = priced.get(key)
        if found is None:
            found = priced[key] = assignment_rates(
                row, in_force.pay_rate, in_force.bill_rate, t, in_force.overtime()
            )
        return found

    return on


async def assignment_hours(
    db: Db,
    schema: str,
    owner: str | None,
    as_of: date,
    where: str,
    *args: Any,
    since: date | None = None,
) -> list[AssignmentHours]:
    """Each assignment `where` picks (over `a` and `c`; its arguments from $1), limited to the
    owner's contracts, with its weeks and forecast as of the day."""
    s = schema
    if owner is not None:
        where = f"({where}) AND c.account_manager_id = ${len(args) + 1}"
        args = (*args, owner)
    cols = ", ".join(f"a.{c}" for c in _ASSIGNMENT_FIELDS)
    found = await db.fetch(
        f"""SELECT {cols}, c.client_id, c.client_name, c.account_manager_id
            FROM {s}.assignments a JOIN {s}.contracts c USING (contract_id)
            WHERE {where} ORDER BY a.contract_id, a.assignment_id""",
        *args,
    )
    if not found:
        return []
    keys = [(r["contract_id"], r["assignment_id"]) for r in found]
    cids = sorted({k[0] for k in keys})
    aids = [k[1] for k in keys]
    rates: dict[tuple[str, str], list[RateRow]] = {}
    for r in await db.fetch(
        f"""SELECT {", ".join(_RATE_FIELDS)} FROM {s}.rate_history
            WHERE contract_id = ANY($1::text[]) AND assignment_id = ANY($2::text[])
            ORDER BY contract_id, assignment_id, effective_date, stream_version""",
        cids,
        aids,
    ):
        values: dict[str, Any] = {k: r[k] for k in _RATE_FIELDS}
        rate = RateRow(**(values | {"event_id": str(r["event_id"])}))
        rates.setdefault((rate.contract_id, rate.assignment_id), []).append(rate)
    terms = await terms_histories(db, s, cids)
    reported: dict[tuple[str, str], list[ReportedHours]] = {}
    for h in await db.fetch(
        f"""SELECT contract_id, assignment_id, week, regular_hours, ot_hours, dt_hours, source,
                   reports
            FROM {s}.hours_reported
            WHERE contract_id = ANY($1::text[]) AND assignment_id = ANY($2::text[])
              AND week <= $3""",
        cids,
        aids,
        as_of,
    ):
        reported.setdefault((h[0], h[1]), []).append(ReportedHours(*list(h.values())[2:]))
    terms_on = {cid: _terms_on(rows) for cid, rows in terms.items()}
    out = []
    for r in found:
        row = AssignmentRow(**{k: r[k] for k in _ASSIGNMENT_FIELDS})
        key = (row.contract_id, row.assignment_id)
        if key not in rates or row.contract_id not in terms:
            continue
        end = row.expected_end_date
        if row.end_date is not None and row.end_date < end:
            end = row.end_date
        actuals = assignment_actuals(
            reported.get(key, []),
            _rates_on(row, rates[key], terms_on[row.contract_id]),
            margin.Term(row.start_date, end),
            as_of,
            since,
        )
        ids = {k: r[k] for k in ("client_id", "client_name", "account_manager_id")}
        out.append(AssignmentHours(row, ids, actuals))
    return out
