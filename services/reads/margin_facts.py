"""Reading the facts in force on a date from the read models, for the pure roll-up."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from projections import margin
from projections.read_model import Terms, TermsRow, terms_in_force
from projections.rollup import AssignmentFacts, AssignmentMargin, RollUpFigures, assignment_margin
from projections.trend import RatePoint, TrendAssignment, portfolio_on

TERMS_FIELDS = [f.name for f in dataclasses.fields(TermsRow)]

# The rates in force on $1, for the assignments the WHERE clause picks. Before an assignment's
# first rate (as_of before its start) its first recorded rates are shown. The contract's terms
# here are as last amended: `terms_on` replaces them with those in force on the date.
_FACTS = """
SELECT a.contract_id, a.assignment_id, a.staffer_id, a.staffer_name, a.job_title,
       a.start_date, a.expected_end_date, a.end_date, a.end_reason, a.hours_per_week,
       a.burden_pct AS own_burden_pct, a.stream_version,
       a.planned_ot_hours_per_week, a.ot_exempt,
       CASE WHEN r.effective_date IS NULL THEN f.ot_pay_rate ELSE r.ot_pay_rate END AS ot_pay_rate,
       CASE WHEN r.effective_date IS NULL THEN f.ot_bill_rate ELSE r.ot_bill_rate END
           AS ot_bill_rate,
       CASE WHEN r.effective_date IS NULL THEN f.dt_pay_rate ELSE r.dt_pay_rate END AS dt_pay_rate,
       CASE WHEN r.effective_date IS NULL THEN f.dt_bill_rate ELSE r.dt_bill_rate END
           AS dt_bill_rate,
       c.client_id, c.client_name, c.account_manager_id, c.terminated_on,
       coalesce(r.pay_rate, f.pay_rate) AS pay_rate,
       coalesce(r.bill_rate, f.bill_rate) AS bill_rate,
       coalesce(r.effective_date, f.effective_date) AS rates_effective,
       c.burden_pct AS contract_burden_pct, c.msp_fee_pct, c.markup_floor_pct, c.conversion_fee_pct,
       c.conversion_fee_waived_after_hours AS waived_after_hours
FROM {s}.assignments a
JOIN {s}.contracts c USING (contract_id)
LEFT JOIN LATERAL (
    SELECT pay_rate, bill_rate, effective_date, ot_pay_rate, ot_bill_rate, dt_pay_rate,
           dt_bill_rate FROM {s}.rate_history h
    WHERE h.contract_id = a.contract_id AND h.assignment_id = a.assignment_id
      AND h.effective_date <= $1
    ORDER BY h.effective_date DESC, h.stream_version DESC LIMIT 1) r ON true
LEFT JOIN LATERAL (
    SELECT pay_rate, bill_rate, effective_date, ot_pay_rate, ot_bill_rate, dt_pay_rate,
           dt_bill_rate FROM {s}.rate_history h
    WHERE h.contract_id = a.contract_id AND h.assignment_id = a.assignment_id
    ORDER BY h.effective_date, h.stream_version LIMIT 1) f ON true
WHERE {where}
ORDER BY a.contract_id, a.assignment_id
"""


async def terms_histories(
    conn: asyncpg.Connection | asyncpg.Pool, schema: str, contract_ids: list[str]
) -> dict[str, list[TermsRow]]:
    """Each contract's terms history, in log order."""
    history: dict[str, list[TermsRow]] = {}
    for r in await conn.fetch(
        f"""SELECT {", ".join(TERMS_FIELDS)} FROM {schema}.terms_history
            WHERE contract_id = ANY($1::text[]) ORDER BY contract_id, stream_version""",
        contract_ids,
    ):
        history.setdefault(r["contract_id"], []).append(TermsRow(*r.values()))
    return history


async def terms_on(
    conn: asyncpg.Connection | asyncpg.Pool, schema: str, contract_ids: list[str], on: date
) -> dict[str, Terms]:
    """The pricing terms in force on `on` of each contract, folded from its terms history."""
    if not contract_ids:
        return {}
    history = await terms_histories(conn, schema, contract_ids)
    folded = {cid: terms_in_force(rows, on) for cid, rows in history.items()}
    return {cid: t for cid, t in folded.items() if t is not None}


async def assignment_margins(
    conn: asyncpg.Connection | asyncpg.Pool,
    schema: str,
    as_of: date,
    where: str,
    *args: Any,
) -> list[tuple[AssignmentMargin, dict[str, Any]]]:
    """Each assignment's margin as of the date, with its contract's ids (client, manager)."""
    rows = await conn.fetch(_FACTS.format(s=schema, where=where), as_of, *args)
    contract_ids = sorted({r["contract_id"] for r in rows})
    terms = await terms_on(conn, schema, contract_ids, as_of)
    open_items: dict[tuple[str, str | None], list[tuple[str, str]]] = {}
    if contract_ids:
        for o in await conn.fetch(
            f"""SELECT contract_id, kind, item_id, assignment_id FROM {schema}.open_items
                WHERE contract_id = ANY($1::text[])""",
            contract_ids,
        ):
            key = (o["contract_id"], o["assignment_id"])
            open_items.setdefault(key, []).append((o["kind"], o["item_id"]))
    out = []
    for r in rows:
        items = open_items.get((r["contract_id"], r["assignment_id"]), []) + open_items.get(
            (r["contract_id"], None), []
        )
        # Without a terms history (never: every contract has its signing), as last amended.
        t = terms.get(r["contract_id"]) or Terms(
            burden_pct=r["contract_burden_pct"],
            msp_fee_pct=r["msp_fee_pct"],
            markup_floor_pct=r["markup_floor_pct"],
            conversion_fee_pct=r["conversion_fee_pct"],
            conversion_fee_waived_after_hours=r["waived_after_hours"],
        )
        burden = r["own_burden_pct"] if r["own_burden_pct"] is not None else t.burden_pct
        facts = AssignmentFacts(
            contract_id=r["contract_id"],
            assignment_id=r["assignment_id"],
            staffer_id=r["staffer_id"],
            staffer_name=r["staffer_name"],
            job_title=r["job_title"],
            start_date=r["start_date"],
            expected_end_date=r["expected_end_date"],
            end_date=r["end_date"],
            end_reason=r["end_reason"],
            rates=margin.Rates(
                pay_rate=r["pay_rate"],
                bill_rate=r["bill_rate"],
                burden_pct=burden,
                msp_fee_pct=t.msp_fee_pct,
                hours_per_week=r["hours_per_week"],
                ot_pay_rate=r["ot_pay_rate"],
                ot_bill_rate=r["ot_bill_rate"],
                dt_pay_rate=r["dt_pay_rate"],
                dt_bill_rate=r["dt_bill_rate"],
                ot_bill_multiplier=t.ot_bill_multiplier,
                dt_bill_multiplier=t.dt_bill_multiplier,
                planned_ot_hours_per_week=r["planned_ot_hours_per_week"],
                ot_exempt=r["ot_exempt"],
            ),
            rates_effective=r["rates_effective"],
            conversion_fee_pct=t.conversion_fee_pct,
            conversion_fee_waived_after_hours=t.conversion_fee_waived_after_hours,
            contract_terminated_on=r["terminated_on"],
            stream_version=r["stream_version"],
            open_items=tuple(sorted(items)),
        )
        ids = {
            "client_id": r["client_id"],
            "client_name": r["client_name"],
            "account_manager_id": r["account_manager_id"],
        }
        out.append((assignment_margin(facts, as_of), ids))
    return out


@dataclass(frozen=True)
class Portfolio:
    """Every assignment a reader may see with its whole rate history, and its contract's terms
    history, read once: the portfolio's roll-up figures on any day (`on`) and its trend are
    computed from it, equal to those of `assignment_margins` for that day."""

    assignments: list[TrendAssignment]  # by contract, assignment: the order of the days' reads
    ids: list[dict[str, Any]]  # each one's client and account manager
    terms_history: dict[str, list[TermsRow]]
    current: dict[str, Terms]  # each contract's terms as last amended

    def on(self, day: date) -> list[RollUpFigures]:
        """Each assignment's roll-up figures on the day (its ids: `ids`)."""
        return portfolio_on(self.assignments, self.terms_history, self.current, day)


async def portfolio(pool: asyncpg.Pool, schema: str, where: str, *args: Any) -> Portfolio:
    """The portfolio of the contracts `where` picks (over `c`, the contracts; its arguments
    from $1): four plain reads (rate history, open items, terms history, assignments) that
    PostgreSQL answers without a join per assignment, in one snapshot of the read models (the
    projector may apply events meanwhile)."""
    async with (
        pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        return await _portfolio(conn, schema, where, *args)


async def _portfolio(conn: asyncpg.Connection, schema: str, where: str, *args: Any) -> Portfolio:
    s, scoped = schema, f"JOIN {schema}.contracts c USING (contract_id) WHERE {where}"
    rates: dict[tuple[str, str], list[RatePoint]] = {}
    for r in await conn.fetch(
        f"""SELECT h.contract_id, h.assignment_id, h.effective_date, h.stream_version,
                   h.pay_rate, h.bill_rate, h.ot_pay_rate, h.ot_bill_rate
            FROM {s}.rate_history h {scoped}""",
        *args,
    ):
        point = RatePoint(r[2], r[3], r[4], r[5], r[6], r[7])
        rates.setdefault((r[0], r[1]), []).append(point)
    at_risk: set[tuple[str, str | None]] = {
        (r[0], r[1])
        for r in await conn.fetch(
            f"SELECT o.contract_id, o.assignment_id FROM {s}.open_items o {scoped}", *args
        )
    }
    history: dict[str, list[TermsRow]] = {}
    for t in await conn.fetch(
        f"""SELECT {", ".join("t." + f for f in TERMS_FIELDS)} FROM {s}.terms_history t
            {scoped} ORDER BY t.contract_id, t.stream_version""",
        *args,
    ):
        history.setdefault(t["contract_id"], []).append(TermsRow(*t.values()))
    assignments, ids = [], []
    current: dict[str, Terms] = {}
    heads: dict[str, dict[str, Any]] = {}
    for r in await conn.fetch(
        f"""SELECT a.contract_id, a.assignment_id, a.start_date, a.end_date, c.terminated_on,
                   a.hours_per_week, a.burden_pct, a.expected_end_date,
                   c.client_id, c.client_name, c.account_manager_id,
                   a.planned_ot_hours_per_week, a.ot_exempt
            FROM {s}.assignments a {scoped} ORDER BY a.contract_id, a.assignment_id""",
        *args,
    ):
        cid, aid = r[0], r[1]
        head = heads.get(cid)
        if head is None:
            head = heads[cid] = {
                "client_id": r[8],
                "client_name": r[9],
                "account_manager_id": r[10],
            }
        assignments.append(
            TrendAssignment(
                cid,
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                tuple(rates.get((cid, aid), ())),
                r[7],
                (cid, aid) in at_risk or (cid, None) in at_risk,
                r[11],
                r[12],
            )
        )
        ids.append(head)
    # As the days' reads do for a contract without a terms history (never: its signing is one).
    missing = [cid for cid in heads if cid not in history]
    if missing:
        for c in await conn.fetch(
            f"""SELECT contract_id, burden_pct, msp_fee_pct, markup_floor_pct,
                       conversion_fee_pct, conversion_fee_waived_after_hours
                FROM {s}.contracts WHERE contract_id = ANY($1::text[])""",
            missing,
        ):
            current[c[0]] = Terms(c[1], c[2], c[3], c[4], c[5])
    return Portfolio(assignments, ids, history, current)
