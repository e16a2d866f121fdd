"""The names the risk agent goes by in Kafka, importable without Faust (the API reads its
group's lag; the Kubernetes manifests declare its topics)."""

from __future__ import annotations

from typing import Final

TABLE: Final = "risk-state"


def app_id(prefix: str) -> str:
    """The Faust app id: its consumer group, and the prefix of its changelog topic."""
    return f"{prefix}-risk"


def changelog_topic(prefix: str) -> str:
    return f"{app_id(prefix)}-{TABLE}-changelog"


def leader_topic(prefix: str) -> str:
    """The topic Faust's assignor elects the group's leader with (faust/assignor/
    leader_assignor.py: `<app id>-__assignor-__leader`, one partition)."""
    return f"{app_id(prefix)}-__assignor-__leader"
