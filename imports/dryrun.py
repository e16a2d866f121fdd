"""The dry run: what an import would do, judged by the preview's pure path, appending nothing.

It judges against what the log already holds of each contract when the caller passes that in
(`meets`, then `remember`, before the contract's first event): a file imported before is then
found already in the log, as the import will find it.

Each planned event goes through `writemodel.preview.Previewer` (the writer's `decide`,
the read model, the risk rules), exactly as `POST /v1/events/preview` judges a batch: the
counts per event type, every refusal, every alert the rules would raise, and at the end the
portfolio the import would leave (the roll-up the portfolio page shows), as of a date.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Final

from events.catalogue import Event
from events.messages import REFUSALS, Submission, Submitter
from imports.plan import Planned
from imports.problems import Problem
from projections.read_model import ReadModel, assignment_rates, terms_in_force
from projections.rollup import AssignmentFacts, assignment_margin, roll_up
from projections.rows import PRICING_TERMS, Terms
from writemodel.preview import Previewer

ALERTS_LISTED: Final = 500
"""Alerts listed one by one in a report (all are counted)."""


def stamped(
    planned: Planned, submitter: Submitter, now: datetime, submission_id: uuid.UUID
) -> Submission:
    """The submission of a planned event, stamped as the API stamps one (an exported event
    keeps the stamps it was logged with)."""
    event = planned.event
    if event.recorded_by is None:
        event = event.model_copy(update={"recorded_by": submitter.principal, "recorded_at": now})
    return Submission(
        submission_id=submission_id,
        submitter=submitter,
        expected_stream_version=planned.expected_stream_version,
        event=event,
    )


def refusal(planned: Planned, code: str | None, message: str) -> Problem:
    """The writer's refusal of a planned event, said at its line and column."""
    known = REFUSALS.get(code or "")
    column = planned.column_of(known.field if known else None)
    return Problem(planned.line, column, f"{planned.event.type} refused ({code}): {message}")


@dataclass(frozen=True)
class AlertLine:
    line: int
    rule: str
    severity: str
    contract_id: str
    assignment_id: str | None
    message: str


@dataclass(frozen=True)
class LossMaking:
    contract_id: str
    assignment_id: str
    staffer_id: str
    margin_per_hour: Decimal
    weekly_gross_profit: Decimal


@dataclass(frozen=True)
class Portfolio:
    as_of: date
    contracts: int
    active_assignments: int
    weekly_gross_profit: Decimal
    weekly_billing: Decimal
    margin_pct: Decimal | None
    markup_pct: Decimal | None
    remaining_gross_profit: Decimal
    loss_making: tuple[LossMaking, ...]


@dataclass
class DryRun:
    """Fed the planned events and problems of a file in order (`feed`), then `report`."""

    submitter: Submitter
    now: datetime
    previewer: Previewer = field(default_factory=Previewer)
    accepted: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    refused: list[Problem] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    alert_counts: Counter[str] = field(default_factory=Counter)
    alerts: list[AlertLine] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    """Contracts met so far (their past, if any, remembered before their first event)."""

    def meets(self, item: Planned | Problem) -> str | None:
        """The contract of `item` when this is its first event: the caller may `remember`
        what the log holds of it before feeding the item."""
        if isinstance(item, Problem) or item.event.contract_id in self.seen:
            return None
        self.seen.add(item.event.contract_id)
        return item.event.contract_id

    def remember(self, contract_id: str, past: Iterable[Event]) -> None:
        """What the log already holds of a contract: the dry run judges against it."""
        self.previewer.remember(contract_id, past)

    def feed(self, item: Planned | Problem) -> None:
        if isinstance(item, Problem):
            (self.errors if item.severity == "error" else self.warnings).append(item)
            return
        sid = uuid.uuid5(item.event.event_id, "dry-run")
        judged = self.previewer.judge(stamped(item, self.submitter, self.now, sid), self.now)
        verdict = judged.verdict
        if verdict.outcome == "accepted":
            self.accepted[item.event.type] += 1
        elif verdict.outcome == "duplicate":
            self.duplicates += 1
        else:
            self.refused.append(refusal(item, verdict.code, verdict.message))
        for a in judged.alerts:
            self.alert_counts[f"{a.rule} ({a.severity})"] += 1
            if len(self.alerts) < ALERTS_LISTED:
                self.alerts.append(
                    AlertLine(
                        item.line, a.rule, a.severity, a.contract_id, a.assignment_id, a.message
                    )
                )

    def portfolio(self, as_of: date) -> Portfolio:
        return portfolio_of(self.previewer.model, as_of)


def portfolio_of(model: ReadModel, as_of: date) -> Portfolio:
    """The roll-up of every assignment of the model as of `as_of`: the rates and the terms in
    force on that day, priced as the read model prices them (`assignment_rates`), as the
    portfolio page reads them from the projected tables."""
    margins = []
    for key, a in sorted(model.assignments.items()):
        contract = model.contracts[a.contract_id]
        history = sorted(
            model.rate_history.get(key, []), key=lambda r: (r.effective_date, r.stream_version)
        )
        in_force = [r for r in history if r.effective_date <= as_of] or history[:1]
        rate = in_force[-1]
        # Without a signing in its terms history (never: every stream opens with one), the
        # contract's terms as last amended.
        terms = terms_in_force(model.terms_history.get(a.contract_id, []), as_of) or Terms(
            **{name: getattr(contract, name) for name in PRICING_TERMS}
        )
        facts = AssignmentFacts(
            contract_id=a.contract_id,
            assignment_id=a.assignment_id,
            staffer_id=a.staffer_id,
            staffer_name=a.staffer_name,
            job_title=a.job_title,
            start_date=a.start_date,
            expected_end_date=a.expected_end_date,
            end_date=a.end_date,
            end_reason=a.end_reason,
            rates=assignment_rates(a, rate.pay_rate, rate.bill_rate, terms, rate.overtime()),
            rates_effective=rate.effective_date,
            conversion_fee_pct=terms.conversion_fee_pct,
            conversion_fee_waived_after_hours=terms.conversion_fee_waived_after_hours,
            contract_terminated_on=contract.terminated_on,
            stream_version=a.stream_version,
        )
        margins.append(assignment_margin(facts, as_of))
    total = roll_up(m.for_roll_up for m in margins)
    losing = tuple(
        LossMaking(
            m.facts.contract_id,
            m.facts.assignment_id,
            m.facts.staffer_id,
            m.figures.margin_per_hour,
            m.figures.weekly_gross_profit,
        )
        for m in margins
        if m.status == "active" and m.figures.margin_per_hour < 0
    )
    return Portfolio(
        as_of=as_of,
        contracts=len(model.contracts),
        active_assignments=total.active_assignments,
        weekly_gross_profit=total.weekly_gross_profit,
        weekly_billing=total.weekly_billing,
        margin_pct=total.margin_pct,
        markup_pct=total.markup_pct,
        remaining_gross_profit=total.remaining_gross_profit,
        loss_making=losing,
    )


__all__ = ["DryRun", "Portfolio", "portfolio_of", "refusal", "stamped"]
