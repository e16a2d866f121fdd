# Long: every body the API answers, one model after another: all of the OpenAPI schemas.
"""Every body the API answers, as pydantic models: what /openapi.json documents.

Money is a string rounded to cents half-up, percentages (and weeks, hours) strings rounded to
2 places: the API never hands out a float. Stored values stay exact.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from events.alerts import (
    ALERT_STATUSES,
    RULE_NAMES,
    SEVERITIES,
    AlertStatus,
    Basis,
    RuleName,
    Severity,
)
from events.catalogue import Event
from services.alerting.config import ChannelKind

Money = Annotated[str, Field(description="money, rounded to cents half-up", examples=["37.50"])]
Pct = Annotated[str, Field(description="percent units, rounded to 2 places", examples=["25.00"])]
Quantity = Annotated[str, Field(description="a decimal rounded to 2 places", examples=["40.00"])]
# An overtime or double-time figure: null when the assignment is ot_exempt (it works neither).
OvertimeMoney = Annotated[Money | None, Field(default=None)]
OvertimePct = Annotated[Pct | None, Field(default=None)]
# ISO 8601 as stored, with its offset (`+00:00`): kept as the string the API has always shown.
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldError(_Model):
    field: str = Field(description="the field at fault, dotted; `(body)`, `(event)` or "
                       "`(request)` for the whole")  # fmt: skip
    reason: str = Field(description="why, in words")


class ErrorBody(_Model):
    """The one body of every 4xx and 5xx answer."""

    errors: list[FieldError] = Field(min_length=1)
    message: str


class ReadyCheck(_Model):
    ok: bool
    detail: str | None = None


class Health(_Model):
    status: Literal["ok"]


class Ready(_Model):
    status: Literal["ready"]
    checks: dict[str, ReadyCheck]


class NotReady(ErrorBody):
    status: Literal["not ready"]
    checks: dict[str, ReadyCheck]


# --- alerts -------------------------------------------------------------------------------


class Alert(_Model):
    alert_id: str
    rule: RuleName
    severity: Severity
    basis: Basis
    contract_id: str
    client_name: str
    assignment_id: str | None
    staffer_id: str | None
    exposure: Money | None
    message: str
    event_ids: list[str]
    raised_at: Timestamp
    stream_version: int | None
    status: AlertStatus
    acknowledged_by: str | None
    acknowledged_at: Timestamp | None
    resolved_by: str | None
    resolved_at: Timestamp | None
    client_id: str | None = Field(None, description="its contract's client (stored alerts)")
    account_manager_id: str | None = Field(
        None, description="its contract's account manager (stored alerts)"
    )


class AlertVocabulary(_Model):
    """The words of an alert and of its routing, as the API's own types list them: the web
    app builds its filters and forms from this instead of copying the lists."""

    rules: list[RuleName]
    severities: list[Severity]
    statuses: list[AlertStatus]
    channel_kinds: list[ChannelKind]


def alert_vocabulary() -> AlertVocabulary:
    return AlertVocabulary.model_validate(
        {
            "rules": RULE_NAMES,
            "severities": SEVERITIES,
            "statuses": ALERT_STATUSES,
            "channel_kinds": get_args(ChannelKind),
        }
    )


class SeverityTotal(_Model):
    count: int
    exposure: Money


class AlertList(_Model):
    alerts: list[Alert]
    totals: dict[Severity, SeverityTotal] = Field(
        description="every alert the filters match (not only this page), per severity"
    )
    limit: int
    offset: int


# --- margins ------------------------------------------------------------------------------


class _Figures(_Model):
    pay_rate: Money
    bill_rate: Money
    burden_pct: Pct
    msp_fee_pct: Pct
    hours_per_week: Quantity
    markup_pct: Pct
    spread: Money
    burdened_cost: Money
    margin_per_hour: Money
    margin_pct: Pct
    weekly_gross_profit: Money
    break_even_markup_pct: Pct
    remaining_weeks: Quantity
    remaining_gross_profit: Money
    hours_worked: Quantity
    conversion_fee_due: Money
    # Overtime and double time (DESIGN "Overtime, hours worked and client health"): each kind
    # of hour's rates, markup, burdened cost and margin; null when the assignment is ot_exempt.
    planned_ot_hours_per_week: Quantity = "0.00"
    ot_exempt: bool = False
    ot_pay_rate: OvertimeMoney
    ot_bill_rate: OvertimeMoney
    ot_markup_pct: OvertimePct
    ot_burdened_cost: OvertimeMoney
    margin_per_ot_hour: OvertimeMoney
    dt_pay_rate: OvertimeMoney
    dt_bill_rate: OvertimeMoney
    dt_markup_pct: OvertimePct
    dt_burdened_cost: OvertimeMoney
    margin_per_dt_hour: OvertimeMoney


class AssignmentMargin(_Figures):
    assignment_id: str
    contract_id: str
    client_id: str
    client_name: str
    account_manager_id: str
    staffer_id: str
    staffer_name: str | None
    job_title: str
    status: str
    start_date: date
    expected_end_date: date
    end_date: date | None
    end_reason: str | None
    rates_effective_date: date
    open_negotiations: list[str]
    open_raise_requests: list[str]
    bypass_threats: list[str]
    at_risk: bool
    markup_floor_pct: Pct | None = Field(
        description="its contract's markup floor on the day (null: none known)"
    )
    margin_status: Literal["red", "amber", "green"] = Field(
        description="red: every hour loses money; amber: markup below the floor; green"
    )
    stream_version: int


class AssignmentMarginAsOf(AssignmentMargin):
    as_of: date


class AssignmentMargins(_Model):
    """An assignment id used on several contracts: each of them."""

    as_of: date
    assignments: list[AssignmentMargin]


class _RollUp(_Model):
    active_assignments: int
    weekly_gross_profit: Money
    weekly_billing: Money
    markup_pct: Pct | None = Field(description="weighted by pay × hours")
    margin_pct: Pct | None
    remaining_gross_profit: Money
    at_risk_weekly_gross_profit: Money
    loss_making_assignments: int


class ContractMargin(_RollUp):
    as_of: date
    contract_id: str
    client_id: str
    client_name: str
    account_manager_id: str
    status: str
    markup_floor_pct: Pct
    min_assignment_weeks: int | None
    stream_version: int
    assignments: list[AssignmentMargin]


class ContractRollUp(_RollUp):
    contract_id: str
    client_id: str
    client_name: str
    account_manager_id: str


class GroupMargin(_RollUp):
    """A client's, an account manager's or the portfolio's roll-up, with its contracts."""

    as_of: date
    client_id: str | None = None
    account_manager_id: str | None = None
    contracts_count: int
    contracts: list[ContractRollUp]
    limit: int
    offset: int


class RankedGroup(_RollUp):
    client_id: str | None = None
    account_manager_id: str | None = None
    name: str
    contracts_count: int
    health_score: int | None = Field(
        default=None,
        description="a client's health score 0-100 as of the day (GET /v1/margins/clients/"
        "{id}/health); an account manager's: the mean of their clients' scores",
    )


class RankedGroups(_Model):
    """Every client (or account manager) with its roll-up, sorted by `sort`, one page."""

    as_of: date
    sort: str
    total: int = Field(description="how many groups in all, not only this page")
    limit: int
    offset: int
    rows: list[RankedGroup]


class TrendPoint(_Model):
    week_ending: date
    active_assignments: int
    weekly_gross_profit: Money


class PortfolioTrend(_Model):
    as_of: date
    weeks: int
    points: list[TrendPoint]


class RatePoint(_Model):
    contract_id: str
    assignment_id: str
    effective_date: date
    stream_version: int
    event_id: str
    pay_rate: Money
    bill_rate: Money
    markup_pct: Pct


class AssignmentRates(_Model):
    assignment_id: str
    rates: list[RatePoint]


class MarginImpact(_Model):
    event_id: str
    assignment_id: str
    contract_id: str
    stream_version: int
    event_type: str
    basis: Basis
    counted_from: date
    occurred_at: Timestamp
    before_pay_rate: Money
    after_pay_rate: Money
    delta_pay_rate: Money
    before_bill_rate: Money
    after_bill_rate: Money
    delta_bill_rate: Money
    before_markup_pct: Pct
    after_markup_pct: Pct
    delta_markup_pct: Pct
    before_margin_per_hour: Money
    after_margin_per_hour: Money
    delta_margin_per_hour: Money
    before_weekly_gross_profit: Money
    after_weekly_gross_profit: Money
    delta_weekly_gross_profit: Money
    before_remaining_gross_profit: Money
    after_remaining_gross_profit: Money
    delta_remaining_gross_profit: Money
    before_margin_per_ot_hour: OvertimeMoney
    after_margin_per_ot_hour: OvertimeMoney
    delta_margin_per_ot_hour: OvertimeMoney
    burden_pct: Pct
    msp_fee_pct: Pct
    hours_per_week: Quantity
    start_date: date
    expected_end_date: date
    planned_ot_hours_per_week: Quantity = "0.00"
    ot_exempt: bool = False
    before_ot_pay_rate: OvertimeMoney
    before_ot_bill_rate: OvertimeMoney
    after_ot_pay_rate: OvertimeMoney
    after_ot_bill_rate: OvertimeMoney
    client_id: str | None = None
    client_name: str | None = None


# --- hours actually worked (HoursReported) ------------------------------------------------


class _HoursTotals(_Model):
    actual_hours_to_date: Quantity = Field(description="of the weeks reported by as_of")
    planned_hours_to_date: Quantity = Field(description="of the same reported weeks")
    actual_gross_profit_to_date: Money
    planned_gross_profit_to_date: Money = Field(description="of the same reported weeks")
    variance_to_date: Money = Field(description="actual − planned, over the reported weeks")
    forecast_remaining_gross_profit: Money


class AssignmentWeek(_Model):
    week: date = Field(description="the Monday it starts")
    planned_hours: Quantity
    planned_gross_profit: Money
    actual_hours: Quantity | None = Field(description="null: not reported (yet)")
    actual_gross_profit: Money | None
    variance: Money | None
    regular_hours: Quantity | None
    ot_hours: Quantity | None
    dt_hours: Quantity | None
    source: Literal["timesheet", "estimate", "import"] | None
    corrected: bool = Field(description="reported more than once: the latest report counts")


class AssignmentHours(_HoursTotals):
    as_of: date
    assignment_id: str
    contract_id: str
    client_id: str
    client_name: str
    account_manager_id: str
    forecast_basis: Literal["run_rate", "plan"] = Field(
        description="run_rate: the mean of the last 4 reported weeks; plan: none reported"
    )
    forecast_weekly_gross_profit: Money
    weeks: list[AssignmentWeek]


class GroupWeek(_Model):
    week: date
    planned_hours: Quantity
    planned_gross_profit: Money
    actual_hours: Quantity | None = Field(description="of the assignments that reported it")
    actual_gross_profit: Money | None
    variance: Money | None = Field(description="against the plan of those that reported it")
    assignments: int
    assignments_reported: int


class GroupHours(_HoursTotals):
    as_of: date
    run_rate_assignments: int = Field(description="forecast at their run rate")
    plan_assignments: int = Field(description="forecast at their plan: none reported")
    weeks: list[GroupWeek]


# --- client health -------------------------------------------------------------------------


class HealthPart(_Model):
    name: str
    points: int = Field(description="taken off the 100")
    cap: int = Field(description="the most this part takes off")
    why: str


class HealthPoint(_Model):
    day: date
    score: int


class ClientHealth(_Model):
    as_of: date
    client_id: str
    client_name: str
    score: int = Field(description="0 to 100: 100 less the points of every part")
    parts: list[HealthPart]
    history: list[HealthPoint] = Field(description="the score on each of the last 26 weeks")


class MarginImpactList(_Model):
    margin_impacts: list[MarginImpact]
    limit: int
    offset: int


# --- contracts (the web app's overview) ----------------------------------------------------


class ActiveAssignment(_Model):
    assignment_id: str
    staffer_id: str
    staffer_name: str | None
    job_title: str
    pay_rate: Money
    bill_rate: Money
    markup_pct: Pct
    margin_per_hour: Money
    weekly_gross_profit: Money
    margin_status: Literal["red", "amber", "green"]


class OpenItem(_Model):
    id: str
    assignment_id: str | None


class ContractOverview(_Model):
    contract_id: str
    client_id: str
    client_name: str
    account_manager_id: str
    status: str
    start_date: date
    end_date: date | None
    min_assignment_weeks: int | None
    stream_version: int
    markup_floor_pct: Pct | None
    assignments: list[ActiveAssignment] = Field(description="its active assignments")
    open_negotiations: list[OpenItem]
    open_raise_requests: list[OpenItem]
    bypass_threats: list[OpenItem]
    open_alerts: dict[Severity, int] = Field(description="unresolved alerts, per severity")
    margin_status: Literal["red", "amber", "green"] = Field(
        description="red: an active assignment loses money per hour; amber: a markup below the "
        "contract's floor; green otherwise"
    )
    margin_status_text: str


class ContractOverviewAsOf(ContractOverview):
    as_of: date


class ContractOverviews(_Model):
    as_of: date
    total: int = Field(description="how many contracts match, not only this page")
    contracts: list[ContractOverview]
    limit: int
    offset: int


# --- events -------------------------------------------------------------------------------


class EventResult(_Model):
    """What POST /v1/events answers for one event, whatever the outcome; `errors` and
    `message` as in every error body (`errors` empty when the event was taken)."""

    status: Literal["accepted", "duplicate", "refused", "invalid", "pending"]
    http_status: int
    event_id: str | None
    contract_id: str | None = None
    type: str | None = None
    message: str
    errors: list[FieldError]
    code: str | None = Field(None, description="the refusal code (`duplicate_event` too)")
    stream_version: int | None = None
    index: int | None = Field(None, description="the event's place in the batch (invalid)")
    location: str | None = Field(None, description="where to poll for the verdict (pending)")
    margin_impacts: list[MarginImpact] | None = Field(
        None, description="accepted: the margin impacts it caused; null when not projected yet"
    )
    alerts: list[Alert] | None = Field(
        None, description="accepted: the alerts it raised; null when not judged yet"
    )


class BatchResult(_Model):
    """The answer to `{"events": [...]}`: one result per event, in order; `errors` collects
    theirs (fields prefixed `events.<i>.`)."""

    results: list[EventResult]
    errors: list[FieldError]
    message: str


class PreviewResult(EventResult):
    """What POST /v1/events would answer for one event; nothing is appended. An invalid
    event's result has no `preview`."""

    # Left out when None: an invalid event's result is exactly as POST answers it.
    preview: bool | None = Field(
        None, description="true: a preview, nothing was appended", exclude_if=lambda v: v is None
    )


class PreviewBatch(_Model):
    preview: Literal[True]
    results: list[PreviewResult]
    errors: list[FieldError]
    message: str


class EventBatch(_Model):
    events: list[
        Annotated[dict[str, Any], Field(json_schema_extra={"$ref": "#/components/schemas/Event"})]
    ] = Field(min_length=1, max_length=500)


class AuditLog(_Model):
    """A page of a contract's accepted events, by stream version."""

    contract_id: str
    stream_version: int = Field(description="the contract's latest version in the audit index")
    events: list[Event]
    next_after_version: int | None = Field(
        default=None,
        description="more events follow: ask again with this as `after_version`; absent on "
        "the last page",
    )
    up_to_date: bool = Field(
        description="true: every event accepted before this request is included; false: the "
        "projector had not applied them all within the wait (LEDGER_VERDICT_TIMEOUT_S), and "
        "the latest may be missing"
    )


# The documented answers of each status code: every error in the one error body.
def errors(*codes: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    what = {
        400: "malformed request (Content-Length)",
        401: "no token, or a token unknown, revoked or expired",
        403: "the role or the account manager may not do this",
        404: "not known (yet)",
        409: "a conflict with the current state",
        413: "the body is larger than LEDGER_MAX_BODY_BYTES",
        415: "the body is not application/json",
        422: "a field is invalid: each is named with the reason",
        429: "this token asked for more than the API serves one token: retry after Retry-After",
    }
    out: dict[int | str, dict[str, Any]] = {
        c: {"model": ErrorBody, "description": descriptions.get(f"e{c}", what[c])} for c in codes
    }
    if 429 in out:
        out[429]["headers"] = {
            "Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}
        }
    # Every /v1 operation needs PostgreSQL or Kafka: while one is down it answers 503.
    out[503] = {
        "model": ErrorBody,
        "description": "PostgreSQL or Kafka is unavailable: retry after Retry-After seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
    }
    return out
