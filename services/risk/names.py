"""The names the risk agent goes by in Kafka, importable without Faust (the API reads its
group's lag; the Kubernetes manifests declare its topics).

A generation is one table and its consumer group: `ledger risk rebuild` judges the log into a
new generation beside the live one and swaps it in (services/risk/rebuild.py); the generation in
force is recorded in PostgreSQL (`risk_generations`, services/risk/generations.py). Generation
0 keeps the names every deployment had before generations existed.
"""

from __future__ import annotations

from typing import Final

TABLE: Final = "risk-state"


def app_id(prefix: str, generation: int = 0) -> str:
    """The Faust app id: its consumer group, and the prefix of its changelog topic."""
    return f"{prefix}-risk" if generation == 0 else f"{prefix}-risk-g{generation}"


def changelog_topic(prefix: str, generation: int = 0) -> str:
    return f"{app_id(prefix, generation)}-{TABLE}-changelog"


def leader_topic(prefix: str, generation: int = 0) -> str:
    """The topic Faust's assignor elects the group's leader with (faust/assignor/
    leader_assignor.py: `<app id>-__assignor-__leader`, one partition)."""
    return f"{app_id(prefix, generation)}-__assignor-__leader"
