"""How the API shows what it reads, and what the preview computes: one function per shape,
pure (rows or the core's values in, JSON-ready dicts out). Money is rounded to cents half-up,
percentages, weeks and hours to 2 places, as strings; what is stored stays exact. The reads
(`read/`), the preview (`results.preview_json`), the webhook deliverer and the alert router
share them, so a shape is written once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, date
from decimal import Decimal
from typing import Any

import asyncpg

from events.alerts import Alert
from projections import margin
from projections.actuals import RolledWeek, WeekFigures
from projections.read_model import ImpactRow
from projections.rollup import AssignmentMargin, RollUp, margin_status

MONEY = {
    "pay_rate",
    "bill_rate",
    "spread",
    "burdened_cost",
    "margin_per_hour",
    "margin_per_ot_hour",
    "margin_per_dt_hour",
    "weekly_gross_profit",
    "remaining_gross_profit",
    "conversion_fee_due",
    "weekly_billing",
    "at_risk_weekly_gross_profit",
}


def show(name: str, value: Any) -> Any:
    if isinstance(value, Decimal):
        if name in MONEY or name.endswith(tuple(MONEY)):
            return str(margin.round_money(value))
        return str(margin.round_pct(value))  # percentages, weeks, hours: 2 places
    if isinstance(value, date):
        return value.isoformat()
    return value


def assignment_json(
    m: AssignmentMargin, ids: dict[str, Any], floor: Decimal | None = None
) -> dict[str, Any]:
    """An assignment's margin; `floor`: its contract's markup floor on the day (its
    `margin_status` is amber below it)."""
    f, x = m.figures, m.facts
    out: dict[str, Any] = {
        "assignment_id": x.assignment_id,
        "contract_id": x.contract_id,
        **ids,
        "staffer_id": x.staffer_id,
        "staffer_name": x.staffer_name,
        "job_title": x.job_title,
        "status": m.status,
        "start_date": x.start_date,
        "expected_end_date": x.expected_end_date,
        "end_date": x.end_date,
        "end_reason": x.end_reason,
        "rates_effective_date": x.rates_effective,
    }
    for name in f.__dataclass_fields__:
        out[name] = getattr(f, name)
    out["open_negotiations"] = [i for k, i in x.open_items if k == "negotiation"]
    out["open_raise_requests"] = [i for k, i in x.open_items if k == "raise_request"]
    out["bypass_threats"] = [i for k, i in x.open_items if k == "bypass_threat"]
    out["at_risk"] = x.at_risk
    out["markup_floor_pct"] = floor
    out["margin_status"] = margin_status(f.margin_per_hour, f.markup_pct, floor)
    out["stream_version"] = x.stream_version
    return {k: show(k, v) for k, v in out.items()}


def rollup_json(r: RollUp) -> dict[str, Any]:
    return {k: show(k, getattr(r, k)) for k in r.__dataclass_fields__}


_IMPACT_HEAD = (
    "event_id",
    "assignment_id",
    "contract_id",
    "stream_version",
    "event_type",
    "basis",
    "counted_from",
    "occurred_at",
)
_IMPACT_TERMS = ("burden_pct", "msp_fee_pct", "hours_per_week", "start_date", "expected_end_date")
_IMPACT_FIGURES = tuple(f.name for f in dataclasses.fields(margin.ImpactFigures))
_IMPACT_FIELDS = tuple(f.name for f in dataclasses.fields(ImpactRow))


def stored_impact(r: Mapping[str, Any]) -> tuple[ImpactRow, dict[str, Any]]:
    """A row of `margin_impacts` (perhaps with columns joined to it): the impact it records,
    and the joined columns."""
    impact = ImpactRow(**{k: r[k] for k in _IMPACT_FIELDS})
    # keys(): an asyncpg Record iterates over its values.
    return impact, {k: r[k] for k in r.keys() if k not in _IMPACT_FIELDS}  # noqa: SIM118


def impact_json(i: ImpactRow, joined: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An impact with its figures (computed here from its facts): before, after and delta of
    each, then the terms they were computed with, then the rest of its facts and the columns a
    read `joined` to it (its client's id and name). `occurred_at` in UTC, as stored."""
    r = {k: getattr(i, k) for k in _IMPACT_FIELDS} | dict(joined or {})
    impact = i.impact
    out: dict[str, Any] = {k: r[k] for k in _IMPACT_HEAD}
    out["event_id"] = str(r["event_id"])
    out["occurred_at"] = r["occurred_at"].astimezone(UTC).isoformat()
    for name in _IMPACT_FIGURES:
        for side in ("before", "after", "delta"):
            out[f"{side}_{name}"] = getattr(getattr(impact, side), name)
    for k in (*_IMPACT_TERMS, *(k for k in r if k not in out and k not in _IMPACT_TERMS)):
        out[k] = r[k]
    return {k: v if k in ("event_id", "occurred_at") else show(k, v) for k, v in out.items()}


def alert_json(r: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    """An alert row as the API and the webhooks show it: exposure rounded to cents."""
    out: dict[str, Any] = {}
    for k in (
        "alert_id", "rule", "severity", "basis", "contract_id", "client_name", "assignment_id",
        "staffer_id", "message", "stream_version", "status", "acknowledged_by", "resolved_by",
    ):  # fmt: skip
        out[k] = r[k]
    out["exposure"] = None if r["exposure"] is None else str(margin.round_money(r["exposure"]))
    out["event_ids"] = [str(e) for e in r["event_ids"]]
    for k in ("raised_at", "acknowledged_at", "resolved_at"):
        out[k] = r[k].isoformat() if r[k] is not None else None
    for k in ("client_id", "account_manager_id"):  # when the contract was joined
        if k in r:
            out[k] = r[k]
    return out


def unstored_alert_json(alert: Alert) -> dict[str, Any]:
    """An alert not stored (a preview's) shown by `alert_json`, as a stored one would be: open,
    nobody has acknowledged or resolved it."""
    never = dict.fromkeys(("acknowledged_by", "acknowledged_at", "resolved_by", "resolved_at"))
    return alert_json(alert.model_dump() | never)


def week_json(w: WeekFigures | RolledWeek) -> dict[str, Any]:
    out: dict[str, Any] = {
        "week": w.week,
        "planned_hours": w.planned_hours,
        "planned_gross_profit": w.planned_gross_profit,
        "actual_hours": w.actual_hours,
        "actual_gross_profit": w.actual_gross_profit,
        "variance": w.variance,
    }
    if isinstance(w, WeekFigures):
        r = w.reported
        out |= {
            "regular_hours": None if r is None else r.regular_hours,
            "ot_hours": None if r is None else r.ot_hours,
            "dt_hours": None if r is None else r.dt_hours,
            "source": None if r is None else r.source,
            "corrected": r is not None and r.reports > 1,
        }
    else:
        out |= {"assignments": w.assignments, "assignments_reported": w.assignments_reported}
    return {k: _show(k, v) for k, v in out.items()}


def _show(name: str, value: Any) -> Any:
    money = ("gross_profit", "variance")
    if name.endswith(money) and value is not None:
        return str(margin.round_money(value))
    return show(name, value)


def totals_json(x: Any) -> dict[str, Any]:
    names = (
        "actual_hours_to_date",
        "planned_hours_to_date",
        "actual_gross_profit_to_date",
        "planned_gross_profit_to_date",
        "variance_to_date",
        "forecast_remaining_gross_profit",
    )
    return {n: _show(n.removesuffix("_to_date"), getattr(x, n)) for n in names}


def rate_json(r: Mapping[str, Any]) -> dict[str, Any]:
    """A row of `rate_history`: the pay and bill rates from a date, with their markup."""
    return {
        "contract_id": r["contract_id"],
        "assignment_id": r["assignment_id"],
        "effective_date": r["effective_date"].isoformat(),
        "stream_version": r["stream_version"],
        "event_id": str(r["event_id"]),
        "pay_rate": show("pay_rate", r["pay_rate"]),
        "bill_rate": show("bill_rate", r["bill_rate"]),
        "markup_pct": show(
            "markup_pct",
            margin.markup_pct(margin.Rates(r["pay_rate"], r["bill_rate"], Decimal(0))),
        ),
    }
