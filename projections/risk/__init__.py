"""Contract-risk rules (DESIGN.md "Contract-risk rules"): pure functions of a contract's state,
folded from its events, and one event (or, for timer rules, the time)."""

from projections.risk.judge import judge, judge_timers, timer_clock
from projections.risk.rules import RULES, Rule, evaluate, evaluate_timers
from projections.risk.state import RiskState, evolve, fold, record_timer_alerts

__all__ = [
    "RULES",
    "RiskState",
    "Rule",
    "evaluate",
    "evaluate_timers",
    "evolve",
    "fold",
    "judge",
    "judge_timers",
    "record_timer_alerts",
    "timer_clock",
]
