"""How alerts word money, percentages, durations and names: one sentence a person can act on."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, localcontext
from typing import Final

from events.catalogue import BypassKind, RaiseRequester
from projections import margin
from projections.risk.rules.constants import DIVIDE, SEVEN
from projections.risk.state import AssignmentState


def money(x: Decimal) -> str:
    """Cents, half-up, with thousands separators: 1,080.00."""
    return f"{margin.round_money(x):,}"


def pct(x: Decimal) -> str:
    return f"{margin.round_pct(x):,}%"


def fmt_weeks(days: int) -> str:
    """A number of days as weeks for a message: "30 weeks", "1 week", "30.4 weeks"."""
    if days % 7 == 0:
        n = days // 7
        return f"{n} week" if n == 1 else f"{n} weeks"
    with localcontext(DIVIDE):
        weeks = Decimal(days) / SEVEN
    return f"{weeks.quantize(Decimal('0.1'))} weeks"


def fmt_count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def fmt_names(assignments: Sequence[AssignmentState]) -> str:
    if len(assignments) == 1:
        return assignments[0].who
    return f"{len(assignments)} staffers ({', '.join(a.who for a in assignments)})"


THREAT_WORDS: Final[dict[BypassKind, str]] = {
    "threatened_move_to_other_agency": "threatens to move {who} to another agency",
    "direct_hire_attempt": "is trying to hire {who} directly",
    "payrolling_through_other_agency": "wants to payroll {who} through another agency",
    "other": "is trying to bypass the agency over {who}",
}


END_WORDS: Final[dict[str, str]] = {
    "ended_early_by_client": "was ended early by the client",
    "moved_to_other_agency": "moved to another agency",
    "converted_to_client_hire": "was hired directly by the client",
}


COMPLAINT_WORDS: Final[dict[str, str]] = {
    "recruiter_conduct": "recruiter conduct",
    "candidate_quality": "candidate quality",
    "billing": "billing",
    "other": "the service",
}


def raise_asked(by: RaiseRequester, client_name: str, who: str, pay: Decimal, terms: str) -> str:
    """Who asks for a raise, to what pay, on what terms ("within a bill rate of 37.50")."""
    return {
        "client": f"{client_name} wants {who} raised to {money(pay)} {terms}",
        "staffer": f"{who} at {client_name} wants a raise to {money(pay)} {terms}",
        "agency": f"A raise for {who} at {client_name} to {money(pay)} {terms}",
    }[by]
