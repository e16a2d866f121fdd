"""What-if: what the writer would decide about submissions, and the margin impacts and alerts
they would cause, without appending anything (`POST /v1/events/preview`).

Pure, and a composition only: the writer's `decide` over the writer's state, the read model's
`apply` (margin impacts, priced by `projections.margin`), and the risk agent's `judge`, each
over the state folded from the contracts' accepted events by its own fold, exactly as the
writer, the projector and the risk agent fold them. Nothing here judges, prices or alerts by
itself, so a preview can never disagree with the real path.

Of what `judge` raises, the preview answers what `POST /v1/events` answers once the agent has
judged the event: the alerts of the event's own stream version. A timer alert that `judge`
finds due at the event's time belongs to the event its silence is counted from (an older
version), and no POST answers with it.

A batch is judged in order: each submission against the states after the previous previewed
ones that would have been accepted. The inputs are left as they were.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from events.alerts import Alert
from events.catalogue import Event
from events.messages import Submission, Verdict
from projections import risk
from projections.read_model import ImpactRow, ReadModel
from writemodel import state as writer_state
from writemodel.decide import decide


@dataclass(frozen=True)
class Preview:
    """One submission previewed."""

    verdict: Verdict
    """The writer's verdict, as `decide` gives it (`decided_at` is the `now` passed in)."""
    appended: Event | None
    """The event as it would be appended (with its `stream_version`), when accepted."""
    impacts: tuple[ImpactRow, ...]
    """The margin impacts it would record, by assignment id; none unless accepted."""
    alerts: tuple[Alert, ...]
    """The alerts the rules would raise on it; none unless accepted."""


class Previewer:
    """Submissions judged one after another over the contracts' `past` events, each against the
    states after the previous ones that would have been accepted: `preview` for a batch, and a
    dry run of an import, which streams a file's events through one previewer."""

    def __init__(self, past: Iterable[Event] = ()) -> None:
        log = list(past)
        self.writers = writer_state.fold(log)
        self.model = ReadModel()
        by_contract: dict[str, list[Event]] = {}
        for event in log:
            self.model.apply(event)
            by_contract.setdefault(event.contract_id, []).append(event)
        self.model.take_changes()
        self.risks = {cid: risk.fold(events) for cid, events in by_contract.items()}

    def remember(self, contract_id: str, events: Iterable[Event]) -> None:
        """Folds in the accepted events (in stream order) of a contract the previewer has not
        judged anything of yet: what the log already holds of it."""
        log = list(events)
        if not log:
            return
        if contract_id in self.writers:
            raise ValueError(f"contract {contract_id} is known to the previewer already")
        self.writers.update(writer_state.fold(log))
        for event in log:
            self.model.apply(event)
        self.model.take_changes()
        self.risks[contract_id] = risk.fold(log)

    def judge(self, submission: Submission, now: datetime) -> Preview:
        """`submission` previewed; when accepted, the states move past it."""
        contract_id = submission.event.contract_id
        decision = decide(self.writers.get(contract_id), submission, now)
        appended = decision.append
        if appended is None:
            return Preview(decision.verdict, None, (), ())
        self.model.apply(appended)
        impacts = sorted(self.model.take_changes().impacts, key=lambda i: i.assignment_id)
        judged, self.risks[contract_id] = risk.judge(self.risks.get(contract_id), appended)
        alerts = tuple(a for a in judged if a.stream_version == appended.stream_version)
        self.writers[contract_id] = writer_state.evolve(self.writers.get(contract_id), appended)
        return Preview(decision.verdict, appended, tuple(impacts), alerts)


def preview(
    past: Iterable[Event], submissions: Sequence[Submission], now: datetime
) -> list[Preview]:
    """Each of `submissions` (in order) judged over the contracts' `past` events: the accepted
    events of every contract the submissions name, each contract's in stream order. `now` is
    what the writer would stamp as `decided_at`; alerts carry event time, as on the real path.
    """
    previewer = Previewer(past)
    return [previewer.judge(submission, now) for submission in submissions]


__all__ = ["Preview", "Previewer", "preview"]
