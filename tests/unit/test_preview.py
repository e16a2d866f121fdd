"""The what-if preview (writemodel.preview): the writer's verdict for every refusal code,
DESIGN's worked example with its margin impact and alerts, a batch judged in order, and a log
left as it was.

The contract is the worked example's unless a case says otherwise: burden 20 %, floor 15 %, no
MSP fee; A-1 at P 30.00 / B 37.50, 40 h a week, 2026-01-05 to 2027-07-26.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from events import Event, encode_event
from events.messages import REFUSALS, Submission, Submitter
from events.serialization import parse_submission
from projections import risk
from projections.read_model import ReadModel
from services.api.results import preview_json
from simulation.examples import CONTRACT_ID, OMIT, example
from writemodel.decide import decide
from writemodel.preview import Preview, preview
from writemodel.state import fold

D = Decimal
NOW = datetime(2026, 12, 28, 9, 30, tzinfo=UTC)
OWNER = Submitter(role="account_manager", principal="am.jones", account_manager_id="am.jones")
OTHER_AM = Submitter(role="account_manager", principal="am.smith", account_manager_id="am.smith")

SIGNED: dict[str, Any] = {
    "client_name": "Zones Inc", "start_date": "2026-01-05", "end_date": "2027-12-31",
    "markup_floor_pct": "15", "burden_pct": "20", "msp_fee_pct": OMIT,
    "conversion_fee_pct": "20", "conversion_fee_waived_after_hours": OMIT,
    "occurred_at": "2026-01-02T09:00:00+00:00",
}  # fmt: skip
STARTED: dict[str, Any] = {
    "pay_rate": "30.00", "bill_rate": "37.50", "hours_per_week": "40", "burden_pct": OMIT,
    "start_date": "2026-01-05", "expected_end_date": "2027-07-26",
    "occurred_at": "2026-01-05T08:00:00+00:00",
}  # fmt: skip
# DESIGN's worked example: the client asks for a raise to 32.00 at the same bill rate.
ASKED: dict[str, Any] = {
    "requested_pay_rate": "32.00", "client_max_bill_rate": "37.50", "requested_by": "client",
    "occurred_at": "2026-12-28T09:00:00+00:00",
}  # fmt: skip


@dataclass
class Log:
    """One contract's accepted events as the events topic holds them: stamped 1, 2, 3 …"""

    events: list[Event] = field(default_factory=list)

    def add(self, type_name: str, **fields: Any) -> Log:
        defaults = {"ContractSigned": SIGNED, "AssignmentStarted": STARTED}.get(type_name, {})
        event, _ = parse_submission(example(type_name, **(defaults | fields)))
        stamped = event.model_copy(
            update={"stream_version": len(self.events) + 1, "recorded_by": "am.jones"}
        )
        self.events.append(stamped)
        return self

    def snapshot(self) -> list[bytes]:
        return [encode_event(e) for e in self.events]


def submission(
    type_name: str,
    *,
    submitter: Submitter = OWNER,
    expected: int | None = None,
    **fields: Any,
) -> Submission:
    """What the route builds from the body: the event stamped by the API, no stream_version."""
    defaults = {"ContractSigned": SIGNED, "AssignmentStarted": STARTED}.get(type_name, {})
    event, _ = parse_submission(example(type_name, **(defaults | fields)))
    stamped = event.model_copy(update={"recorded_by": submitter.principal, "recorded_at": NOW})
    return Submission(
        submission_id=uuid.uuid4(),
        submitter=submitter,
        expected_stream_version=expected,
        event=stamped,
    )


def signed() -> Log:
    return Log().add("ContractSigned")


def placed() -> Log:
    return signed().add("AssignmentStarted")


def exempt() -> Log:
    return signed().add("AssignmentStarted", ot_exempt=True)


def after(*type_names: str) -> Callable[[], Log]:
    """Builds the placed contract's log with these events after it."""

    def build() -> Log:
        log = placed()
        for name in type_names:
            log.add(name)
        return log

    return build


def previewed(log: Log, *subs: Submission) -> list[Preview]:
    """Preview `subs` over `log`, checking that the log is left exactly as it was."""
    before = log.snapshot()
    out = preview(log.events, subs, NOW)
    assert log.snapshot() == before
    return out


# Every refusal code ------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    code: str
    log: Any  # builds the contract's log beforehand
    type_name: str
    fields: dict[str, Any] = field(default_factory=dict)
    submitter: Submitter = OWNER
    expected: int | None = None
    note: str = ""  # which case of the code, when it has more than one

    @property
    def name(self) -> str:
        return f"{self.code} {self.note}".strip()


CASES = [
    Case("unknown_contract", Log, "AssignmentStarted"),
    Case("contract_exists", signed, "ContractSigned"),
    Case("contract_terminated", after("ContractTerminated"), "RatesAdjusted"),
    Case("unknown_assignment", placed, "RatesAdjusted", {"assignment_id": "A-9"}),
    Case("assignment_exists", placed, "AssignmentStarted"),
    Case("assignment_ended", after("AssignmentEnded"), "RatesAdjusted"),
    Case(
        "assignment_ended",
        after("MarkupNegotiationOpened", "AssignmentEnded"),
        "MarkupProposed",
        note="in a negotiation",
    ),
    Case("unknown_negotiation", placed, "MarkupProposed"),
    Case("negotiation_exists", after("MarkupNegotiationOpened"), "MarkupNegotiationOpened"),
    Case(
        "negotiation_closed",
        after("MarkupNegotiationOpened", "MarkupNegotiationClosed"),
        "MarkupAgreed",
    ),
    Case("unknown_raise_request", placed, "RaiseApproved"),
    Case("raise_request_exists", after("RaiseRequested"), "RaiseRequested"),
    Case("raise_request_decided", after("RaiseRequested", "RaiseDeclined"), "RaiseApproved"),
    Case("version_conflict", placed, "ClientContactLogged", expected=1),
    Case("forbidden_contract", placed, "ClientContactLogged", submitter=OTHER_AM),
    Case("ot_exempt", exempt, "HoursReported", {"week": "2026-01-12", "ot_hours": "3"}),
    Case("week_outside_term", placed, "HoursReported", {"week": "2025-12-29"}),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_a_refusal_is_previewed_as_the_writer_gives_it_and_causes_nothing(case: Case) -> None:
    log = case.log()
    sub = submission(
        case.type_name, submitter=case.submitter, expected=case.expected, **case.fields
    )
    [p] = previewed(log, sub)
    v = p.verdict
    assert (v.outcome, v.code, v.http_status) == (
        "refused",
        case.code,
        REFUSALS[case.code].http_status,
    )
    assert v.message.endswith(".") and len(v.message) > 30
    assert v.stream_version is None
    assert (p.appended, p.impacts, p.alerts) == (None, (), ())
    # The very verdict the writer gives over the same state.
    state = fold(log.events).get(CONTRACT_ID)
    assert v == decide(state, sub, NOW).verdict


def test_a_redelivered_event_previews_as_a_duplicate_of_its_version() -> None:
    log = placed()
    again = submission("RaiseRequested", **ASKED)
    log.events.append(again.event.model_copy(update={"stream_version": 3}))
    [p] = previewed(log, again.model_copy(update={"submission_id": uuid.uuid4()}))
    assert (p.verdict.outcome, p.verdict.code, p.verdict.http_status) == (
        "duplicate", "duplicate_event", 200
    )  # fmt: skip
    assert p.verdict.stream_version == 3
    assert (p.appended, p.impacts, p.alerts) == (None, (), ())


def test_an_event_id_reused_for_other_content_previews_as_refused() -> None:
    log = placed()
    original = log.events[-1]
    reused = submission("ClientContactLogged", event_id=str(original.event_id))
    [p] = previewed(log, reused)
    assert (p.verdict.outcome, p.verdict.code, p.verdict.http_status) == (
        "refused", "event_id_reused", 409
    )  # fmt: skip
    assert (p.appended, p.impacts, p.alerts) == (None, (), ())


def test_every_refusal_code_is_previewed() -> None:
    covered = {c.code for c in CASES} | {"duplicate_event", "event_id_reused"}
    assert covered == set(REFUSALS)


# Accepted: DESIGN's worked example ---------------------------------------------------------


def test_designs_worked_example_previews_its_impact_and_both_alerts() -> None:
    log = placed()
    [p] = previewed(log, submission("RaiseRequested", **ASKED))
    assert (p.verdict.outcome, p.verdict.http_status, p.verdict.stream_version) == (
        "accepted", 201, 3
    )  # fmt: skip
    assert p.appended is not None and p.appended.stream_version == 3

    [impact] = p.impacts
    # before: margin 37.50 − 36.00 = 1.50/h, 60.00 a week; after: 37.50 − 38.40 = −0.90/h,
    # −36.00 a week: −96.00 a week; 2026-12-28 → 2027-07-26 is 30 weeks: −2,880.00.
    assert (impact.assignment_id, impact.basis, str(impact.counted_from)) == (
        "A-1", "proposed", "2026-12-28"
    )  # fmt: skip
    assert impact.impact.delta.weekly_gross_profit == D("-96.00")
    assert impact.impact.delta.remaining_gross_profit == D("-2880.00")
    assert impact.impact.after.margin_per_hour == D("-0.90")

    by_rule = {a.rule: a for a in p.alerts}
    assert sorted(by_rule) == ["LOSS_POSITION", "RAISE_ABSORBED"]  # 17.19 % is above the floor
    # LOSS_POSITION: −(−36.00 × 30) = 1,080.00; RAISE_ABSORBED: 2.00 × 1.25 = 2.50/h × 40 × 30
    assert {r: (a.severity, a.basis, a.exposure) for r, a in by_rule.items()} == {
        "LOSS_POSITION": ("high", "proposed", D("1080")),
        "RAISE_ABSORBED": ("high", "proposed", D("3000")),
    }
    assert all(a.status == "open" and a.event_ids == (p.appended.event_id,) for a in p.alerts)

    # What the projector and the risk agent will record once the event is appended.
    model = ReadModel()
    for e in [*log.events, p.appended]:
        model.apply(e)
    assert [i for i in model.take_changes().impacts if i.stream_version == 3] == list(p.impacts)
    # What the risk agent's `judge` raises on it: the alerts of version 3, and the timer's (no
    # contact logged since the signing), stored under version 1, which no POST answers with.
    raised, _ = risk.judge(risk.fold(log.events), p.appended)
    assert [a for a in raised if a.stream_version == 3] == list(p.alerts)
    assert [(a.rule, a.stream_version) for a in raised if a not in p.alerts] == [
        ("RELATIONSHIP_NEGLECT", 1)
    ]


def test_the_previewed_answer_has_posts_shape() -> None:
    [p] = previewed(placed(), submission("RaiseRequested", **ASKED))
    body = preview_json(p)
    assert {k: body[k] for k in ("preview", "status", "http_status", "type", "stream_version")} == {
        "preview": True, "status": "accepted", "http_status": 201, "type": "RaiseRequested",
        "stream_version": 3,
    }  # fmt: skip
    assert "code" not in body and body["contract_id"] == CONTRACT_ID
    [impact] = body["margin_impacts"]
    assert (impact["delta_weekly_gross_profit"], impact["after_markup_pct"]) == ("-96.00", "17.19")
    assert (impact["basis"], impact["counted_from"], impact["stream_version"]) == (
        "proposed", "2026-12-28", 3
    )  # fmt: skip
    assert {(a["rule"], a["exposure"], a["status"]) for a in body["alerts"]} == {
        ("LOSS_POSITION", "1080.00", "open"),
        ("RAISE_ABSORBED", "3000.00", "open"),
    }
    assert all(a["acknowledged_by"] is None for a in body["alerts"])


def test_previewing_remembers_nothing() -> None:
    log = placed()
    sub = submission("RaiseRequested", **ASKED)
    first = previewed(log, sub)
    again = previewed(log, sub)
    # Not a duplicate the second time: nothing was appended or remembered.
    assert first == again and again[0].verdict.outcome == "accepted"


# A batch is judged in order ----------------------------------------------------------------


def test_a_batch_is_judged_against_the_state_after_the_previous_previewed_events() -> None:
    log = placed()
    opened = submission("MarkupNegotiationOpened", negotiation_id="N-2")
    proposed = submission(
        "MarkupProposed",
        negotiation_id="N-2",
        markup_pct="10",
        proposed_by="client",
        occurred_at="2026-12-28T10:00:00+00:00",
    )
    twice = submission("MarkupNegotiationOpened", negotiation_id="N-2")
    p_open, p_prop, p_twice = previewed(log, opened, proposed, twice)
    assert [p.verdict.stream_version for p in (p_open, p_prop)] == [3, 4]
    assert (p_twice.verdict.code, p_twice.verdict.http_status) == ("negotiation_exists", 409)
    # 10 % on P 30: B 33.00, margin −3.00/h; a proposal counts from its day (30 weeks left).
    [impact] = p_prop.impacts
    assert impact.impact.delta.weekly_gross_profit == D("-180.00")  # 60.00 → −120.00
    assert sorted(a.rule for a in p_prop.alerts) == ["BELOW_FLOOR", "LOSS_POSITION"]


def test_a_new_contract_can_be_signed_and_staffed_in_one_batch() -> None:
    sign, start = submission("ContractSigned"), submission("AssignmentStarted")
    p_sign, p_start = previewed(Log(), sign, start)
    assert [p.verdict.stream_version for p in (p_sign, p_start)] == [1, 2]
    assert p_start.impacts == ()  # a start records its rates, not an impact
