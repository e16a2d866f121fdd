# Long: a test per refusal of the writer's decide, over shared submissions.
"""The writer's checks: what it accepts, what it refuses and why, and that redelivery is safe."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings, target
from hypothesis import strategies as st

from events import RELATIONSHIP_EVENT_TYPES, Event
from events.messages import REFUSALS, Submission, Submitter
from simulation import examples
from simulation.examples import CONTRACT_ID, EVENT_TYPE_NAMES, OMIT, example
from writemodel.decide import Decision, decide
from writemodel.state import ContractState, evolve, fold

NOW = datetime(2024, 3, 1, 9, 0, 2, tzinfo=UTC)
OWNER = Submitter(role="account_manager", principal="u.jones", account_manager_id="am.jones")
OTHER_AM = Submitter(role="account_manager", principal="u.smith", account_manager_id="am.smith")
ADMIN = Submitter(role="admin", principal="u.root")
FINANCE = Submitter(role="finance", principal="u.kim")


def submission(
    type_name: str, *, submitter: Submitter = OWNER, recorded_at: datetime = NOW, **fields: Any
) -> Submission:
    """Stamped by the contract's owner at NOW unless told otherwise."""
    return examples.submission(type_name, submitter=submitter, recorded_at=recorded_at, **fields)


def redelivered(original: Submission, **stamps: Any) -> Submission:
    """The same event sent again: a new HTTP attempt, stamped anew by the API."""
    event = original.event.model_copy(update={"recorded_at": NOW + timedelta(minutes=5), **stamps})
    return original.model_copy(update={"submission_id": uuid.uuid4(), "event": event})


@dataclass
class Writer:
    """The pure core driven as the writer process drives it, one contract at a time."""

    states: dict[str, ContractState] = field(default_factory=dict)
    log: list[Event] = field(default_factory=list)

    def submit(self, sub: Submission) -> Decision:
        contract_id = sub.event.contract_id
        decision = decide(self.states.get(contract_id), sub, NOW)
        if decision.append is not None:
            self.states[contract_id] = evolve(self.states.get(contract_id), decision.append)
            self.log.append(decision.append)
        return decision

    def accept(self, type_name: str, **fields: Any) -> Submission:
        sub = submission(type_name, submitter=ADMIN, **fields)
        verdict = self.submit(sub).verdict
        assert verdict.outcome == "accepted", verdict.message
        return sub

    @property
    def state(self) -> ContractState:
        return self.states[CONTRACT_ID]


def signed() -> Writer:
    writer = Writer()
    writer.accept("ContractSigned")
    return writer


def with_assignment(status: str = "active") -> Writer:
    writer = signed()
    writer.accept("AssignmentStarted", assignment_id="A-1")
    if status == "ended":
        writer.accept("AssignmentEnded", assignment_id="A-1")
    return writer


def exempt_assignment() -> Writer:
    writer = signed()
    writer.accept("AssignmentStarted", assignment_id="A-1", ot_exempt=True)
    return writer


def ended_on(end: str) -> Writer:
    writer = with_assignment()
    writer.accept("AssignmentEnded", assignment_id="A-1", end_date=end)
    return writer


# What opens an item of each kind on A-1, and what puts it away.
ITEMS: dict[str, tuple[tuple[str, dict[str, str]], tuple[str, dict[str, str]]]] = {
    "negotiation": (
        ("MarkupNegotiationOpened", {"negotiation_id": "N-1", "assignment_id": "A-1"}),
        ("MarkupNegotiationClosed", {"negotiation_id": "N-1"}),
    ),
    "raise_request": (
        ("RaiseRequested", {"raise_request_id": "R-1", "assignment_id": "A-1"}),
        ("RaiseDeclined", {"raise_request_id": "R-1"}),
    ),
}


def with_item(kind: str, put_away: bool, assignment: str) -> Writer:
    """A-1 started, an item of `kind` opened on it (then put away), A-1 then `assignment`."""
    writer = with_assignment()
    (opener, opened), (closer, closed) = ITEMS[kind]
    writer.accept(opener, **opened)
    if put_away:
        writer.accept(closer, **closed)
    if assignment == "ended":
        writer.accept("AssignmentEnded", assignment_id="A-1")
    return writer


def with_negotiation(status: str = "open", assignment: str = "active") -> Writer:
    return with_item("negotiation", status == "closed", assignment)


def with_raise_request(status: str = "open", assignment: str = "active") -> Writer:
    return with_item("raise_request", status == "decided", assignment)


def terminated() -> Writer:
    writer = with_assignment()
    writer.accept("ContractTerminated")
    return writer


# Refusals ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    writer: Any  # a function building the writer's state beforehand
    type_name: str
    fields: dict[str, Any]
    code: str
    offending_id: str
    submitter: Submitter = OWNER
    expected: int | None = None


CASES = [
    Case("never signed", Writer, "AssignmentStarted", {}, "unknown_contract", CONTRACT_ID),
    Case("signed twice", signed, "ContractSigned", {}, "contract_exists", CONTRACT_ID),
    Case("after termination", terminated, "RatesAdjusted", {}, "contract_terminated", CONTRACT_ID),
    *(
        Case(
            f"{type_name} on an unknown assignment",
            with_assignment,
            type_name,
            {"assignment_id": "A-9"},
            "unknown_assignment",
            "A-9",
        )
        for type_name in (
            "RatesAdjusted",
            "AssignmentEnded",
            "RaiseRequested",
            "MarkupNegotiationOpened",
            "BypassThreatReported",
        )
    ),
    Case("started twice", with_assignment, "AssignmentStarted", {}, "assignment_exists", "A-1"),
    Case(
        "restarted after its end",
        lambda: with_assignment("ended"),
        "AssignmentStarted",
        {},
        "assignment_exists",
        "A-1",
    ),
    *(
        Case(
            f"{type_name} on an ended assignment",
            lambda: with_assignment("ended"),
            type_name,
            {"assignment_id": "A-1"},
            "assignment_ended",
            "A-1",
        )
        for type_name in (
            "RatesAdjusted",
            "AssignmentEnded",
            "RaiseRequested",
            "MarkupNegotiationOpened",
        )
    ),
    Case(
        "approving a raise of an ended assignment",
        lambda: with_raise_request(assignment="ended"),
        "RaiseApproved",
        {"raise_request_id": "R-1"},
        "assignment_ended",
        "A-1",
    ),
    *(
        Case(
            f"{type_name} in the negotiation of an ended assignment",
            lambda: with_negotiation(assignment="ended"),
            type_name,
            {"negotiation_id": "N-1"},
            "assignment_ended",
            "A-1",
        )
        for type_name in ("MarkupProposed", "MarkupAgreed")
    ),
    *(
        Case(
            f"{type_name} in an unknown negotiation",
            with_negotiation,
            type_name,
            {"negotiation_id": "N-9"},
            "unknown_negotiation",
            "N-9",
        )
        for type_name in ("MarkupProposed", "MarkupAgreed", "MarkupNegotiationClosed")
    ),
    *(
        Case(
            f"{type_name} in a closed negotiation",
            lambda: with_negotiation("closed"),
            type_name,
            {"negotiation_id": "N-1"},
            "negotiation_closed",
            "N-1",
        )
        for type_name in ("MarkupProposed", "MarkupAgreed", "MarkupNegotiationClosed")
    ),
    Case(
        "a negotiation opened twice",
        with_negotiation,
        "MarkupNegotiationOpened",
        {"negotiation_id": "N-1"},
        "negotiation_exists",
        "N-1",
    ),
    *(
        Case(
            f"{type_name} of an unknown raise request",
            with_raise_request,
            type_name,
            {"raise_request_id": "R-9"},
            "unknown_raise_request",
            "R-9",
        )
        for type_name in ("RaiseApproved", "RaiseDeclined")
    ),
    *(
        Case(
            f"{type_name} of a decided raise request",
            lambda: with_raise_request("decided"),
            type_name,
            {"raise_request_id": "R-1"},
            "raise_request_decided",
            "R-1",
        )
        for type_name in ("RaiseApproved", "RaiseDeclined")
    ),
    Case(
        "OT hours on an ot_exempt assignment",
        exempt_assignment,
        "HoursReported",
        {"ot_hours": "4"},
        "ot_exempt",
        "A-1",
    ),
    Case(
        "DT hours on an ot_exempt assignment",
        exempt_assignment,
        "HoursReported",
        {"ot_hours": "0", "dt_hours": "2"},
        "ot_exempt",
        "A-1",
    ),
    Case(
        "hours for a week before the term",
        with_assignment,
        "HoursReported",
        {"week": "2024-02-26"},  # A-1 starts on 2024-03-04
        "week_outside_term",
        "2024-02-26",
    ),
    Case(
        "hours for a week after the expected end",
        with_assignment,
        "HoursReported",
        {"week": "2024-12-23"},  # A-1 is expected to end on 2024-12-20
        "week_outside_term",
        "2024-12-23",
    ),
    Case(
        "hours for a week after the assignment ended",
        lambda: ended_on("2024-06-30"),
        "HoursReported",
        {"week": "2024-07-01"},
        "week_outside_term",
        "2024-07-01",
    ),
    Case(
        "hours of an assignment never started",
        signed,
        "HoursReported",
        {},
        "unknown_assignment",
        "A-1",
    ),
    Case(
        "a raise request made twice",
        with_raise_request,
        "RaiseRequested",
        {"raise_request_id": "R-1"},
        "raise_request_exists",
        "R-1",
    ),
    Case(
        "a stale expected version",
        with_assignment,
        "ClientContactLogged",
        {},
        "version_conflict",
        CONTRACT_ID,
        expected=1,
    ),
    Case(
        "an expected version for a contract not yet signed",
        Writer,
        "ContractSigned",
        {},
        "version_conflict",
        CONTRACT_ID,
        expected=1,
    ),
    Case(
        "another account manager's contract",
        signed,
        "ClientContactLogged",
        {},
        "forbidden_contract",
        CONTRACT_ID,
        submitter=OTHER_AM,
    ),
    Case(
        "signing in another account manager's name",
        Writer,
        "ContractSigned",
        {"account_manager_id": "am.jones"},
        "forbidden_contract",
        "am.jones",
        submitter=OTHER_AM,
    ),
    Case(
        "finance writing",
        signed,
        "ClientContactLogged",
        {},
        "forbidden_contract",
        CONTRACT_ID,
        submitter=FINANCE,
    ),
    Case(
        "finance signing",
        Writer,
        "ContractSigned",
        {},
        "forbidden_contract",
        CONTRACT_ID,
        submitter=FINANCE,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_a_refused_submission_says_why_with_its_status_and_appends_nothing(case: Case) -> None:
    writer = case.writer()
    before = dict(writer.states)
    sub = submission(
        case.type_name, submitter=case.submitter, expected=case.expected, **case.fields
    )
    decision = writer.submit(sub)
    verdict = decision.verdict
    assert (verdict.outcome, verdict.code) == ("refused", case.code), verdict.message
    assert verdict.http_status == REFUSALS[case.code].http_status
    assert case.offending_id in verdict.message
    assert verdict.message.endswith(".") and "\n" not in verdict.message
    assert verdict.stream_version is None
    assert decision.append is None
    assert writer.states == before
    assert (verdict.submission_id, verdict.event_id) == (sub.submission_id, sub.event.event_id)
    assert (verdict.contract_id, verdict.event_type) == (CONTRACT_ID, case.type_name)
    assert verdict.decided_at == NOW


def test_every_refusal_code_is_produced_by_decide() -> None:
    produced = {case.code for case in CASES} | {"duplicate_event", "event_id_reused"}
    assert produced == set(REFUSALS)


def test_a_version_conflict_names_both_versions() -> None:
    writer = with_assignment()
    message = writer.submit(submission("ClientContactLogged", expected=7)).verdict.message
    assert "version 2" in message and "7" in message


# Acceptance ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("writer", "fields"),
    [
        (with_assignment, {"week": "2024-03-04"}),  # its first week
        (with_assignment, {"week": "2024-12-16"}),  # the week of its expected end (a Friday)
        (lambda: ended_on("2024-06-30"), {"week": "2024-06-24"}),  # late, after its end
        (exempt_assignment, {"ot_hours": "0", "dt_hours": "0", "regular_hours": "45"}),
    ],
)
def test_hours_of_a_week_in_the_term_are_accepted(writer: Any, fields: dict[str, Any]) -> None:
    w = writer()
    sub = submission("HoursReported", submitter=OWNER, **fields)
    assert w.submit(sub).verdict.outcome == "accepted"
    # A correction of the same week is accepted too: the later report supersedes the earlier.
    again = submission("HoursReported", submitter=OWNER, **(fields | {"regular_hours": "20"}))
    assert w.submit(again).verdict.outcome == "accepted"


def test_accepted_events_are_numbered_1_to_n_and_stamped_with_their_version() -> None:
    writer = Writer()
    types = [
        "ContractSigned",
        "AssignmentStarted",
        "MarkupNegotiationOpened",
        "MarkupProposed",
        "MarkupAgreed",
        "RaiseRequested",
        "RaiseApproved",
        "ClientContactLogged",
    ]
    for version, type_name in enumerate(types, start=1):
        sub = submission(type_name, expected=version - 1)
        decision = writer.submit(sub)
        verdict = decision.verdict
        assert (verdict.outcome, verdict.code, verdict.http_status) == ("accepted", None, 201)
        assert verdict.stream_version == version
        assert decision.append == sub.event.model_copy(update={"stream_version": version})
        assert str(sub.event.event_id) in verdict.message
    assert [event.stream_version for event in writer.log] == list(range(1, len(types) + 1))
    assert writer.state.version == len(types)


def test_the_appended_event_keeps_what_the_api_stamped() -> None:
    decision = Writer().submit(submission("ContractSigned"))
    assert decision.append is not None
    assert (decision.append.recorded_by, decision.append.recorded_at) == ("u.jones", NOW)


@pytest.mark.parametrize("submitter", [OWNER, ADMIN], ids=["owner", "admin"])
def test_the_contracts_account_manager_and_an_admin_may_write(submitter: Submitter) -> None:
    writer = signed()
    verdict = writer.submit(submission("ClientContactLogged", submitter=submitter)).verdict
    assert verdict.outcome == "accepted"


def test_an_expected_version_of_zero_signs_only_a_new_contract() -> None:
    writer = Writer()
    assert writer.submit(submission("ContractSigned", expected=0)).verdict.outcome == "accepted"
    assert writer.submit(submission("ContractSigned", expected=0)).verdict.code == (
        "version_conflict"
    )


# Redelivery ----------------------------------------------------------------------------------


def answered(writer: Writer, sub: Submission, outcome: str, code: str, status: int) -> Decision:
    """`sub` submitted, its verdict checked: outcome, code and HTTP status."""
    decision = writer.submit(sub)
    verdict = decision.verdict
    assert (verdict.outcome, verdict.code, verdict.http_status) == (outcome, code, status)
    return decision


def test_a_redelivered_event_returns_the_original_version_and_appends_nothing() -> None:
    writer = with_assignment()
    original = submission("RatesAdjusted", assignment_id="A-1")
    first = writer.submit(original).verdict
    writer.accept("ClientContactLogged")
    again = redelivered(original, recorded_by="u.other")

    decision = answered(writer, again, "duplicate", "duplicate_event", 200)
    verdict = decision.verdict
    assert verdict.stream_version == first.stream_version == 3
    assert verdict.submission_id == again.submission_id
    assert decision.append is None
    assert writer.state.version == 4
    assert str(original.event.event_id) in verdict.message


def test_a_redelivered_contract_signed_is_a_duplicate_not_a_conflict() -> None:
    writer = Writer()
    original = submission("ContractSigned", expected=0)
    writer.submit(original)
    writer.accept("ClientContactLogged")
    verdict = writer.submit(redelivered(original)).verdict
    assert (verdict.outcome, verdict.stream_version) == ("duplicate", 1)


def test_a_redelivery_after_termination_is_still_a_duplicate() -> None:
    writer = with_assignment()
    original = submission("RatesAdjusted", assignment_id="A-1")
    writer.submit(original)
    writer.accept("ContractTerminated")
    assert writer.submit(redelivered(original)).verdict.outcome == "duplicate"


def test_an_event_id_reused_for_other_content_is_refused() -> None:
    writer = with_assignment()
    original = submission("RatesAdjusted", assignment_id="A-1", pay_rate="31.00")
    writer.submit(original)
    reuse = submission(
        "RatesAdjusted",
        assignment_id="A-1",
        pay_rate="31.50",
        event_id=str(original.event.event_id),
    )
    decision = answered(writer, reuse, "refused", "event_id_reused", 409)
    verdict = decision.verdict
    assert str(original.event.event_id) in verdict.message
    assert decision.append is None
    assert writer.state.version == 3


def test_event_ids_are_remembered_per_contract_stream() -> None:
    writer = signed()
    writer.accept("ContractSigned", contract_id="C-2")
    contact = writer.accept("ClientContactLogged")
    elsewhere = submission(
        "ClientContactLogged",
        submitter=ADMIN,
        contract_id="C-2",
        event_id=str(contact.event.event_id),
    )
    assert writer.submit(elsewhere).verdict.outcome == "accepted"


# Order of the checks -------------------------------------------------------------------------


def test_an_unknown_contract_is_404_even_for_another_account_manager() -> None:
    verdict = Writer().submit(submission("ClientContactLogged", submitter=OTHER_AM)).verdict
    assert verdict.code == "unknown_contract"


def test_another_account_manager_replaying_an_event_is_forbidden_not_told_it_exists() -> None:
    writer = signed()
    contact = writer.accept("ClientContactLogged")
    sneaky = redelivered(contact).model_copy(update={"submitter": OTHER_AM})
    assert writer.submit(sneaky).verdict.code == "forbidden_contract"


def test_a_redelivery_with_a_stale_expected_version_is_a_duplicate() -> None:
    writer = signed()
    original = submission("ClientContactLogged", expected=1)
    writer.submit(original)
    writer.accept("ClientContactLogged")
    assert writer.submit(redelivered(original)).verdict.outcome == "duplicate"


def test_a_version_conflict_is_found_before_the_event_is_judged() -> None:
    writer = with_assignment()
    sub = submission("AssignmentStarted", expected=0)
    assert writer.submit(sub).verdict.code == "version_conflict"


def test_signing_a_terminated_contract_again_is_contract_exists() -> None:
    assert terminated().submit(submission("ContractSigned")).verdict.code == "contract_exists"


# After termination ---------------------------------------------------------------------------


@pytest.mark.parametrize("type_name", sorted(RELATIONSHIP_EVENT_TYPES))
def test_relationship_events_are_accepted_after_termination(type_name: str) -> None:
    writer = terminated()
    assert writer.submit(submission(type_name)).verdict.outcome == "accepted"


@pytest.mark.parametrize(
    "type_name",
    sorted(set(EVENT_TYPE_NAMES) - RELATIONSHIP_EVENT_TYPES - {"ContractSigned"}),
)
def test_other_events_are_refused_after_termination(type_name: str) -> None:
    writer = terminated()
    verdict = writer.submit(submission(type_name)).verdict
    assert (verdict.code, verdict.http_status) == ("contract_terminated", 409)
    assert type_name in verdict.message


# What each event needs -----------------------------------------------------------------------


def test_a_bypass_threat_about_an_ended_assignment_is_accepted() -> None:
    writer = with_assignment("ended")
    sub = submission("BypassThreatReported", assignment_id="A-1")
    assert writer.submit(sub).verdict.outcome == "accepted"


def test_a_bypass_threat_about_no_assignment_is_accepted() -> None:
    writer = signed()
    sub = submission("BypassThreatReported", assignment_id=OMIT)
    assert writer.submit(sub).verdict.outcome == "accepted"


def test_a_negotiation_over_the_whole_contract_needs_no_assignment() -> None:
    writer = signed()
    sub = submission("MarkupNegotiationOpened", assignment_id=OMIT)
    assert writer.submit(sub).verdict.outcome == "accepted"


def test_the_negotiation_of_an_ended_assignment_says_why_and_can_still_be_closed() -> None:
    writer = with_negotiation(assignment="ended")
    refused = writer.submit(submission("MarkupProposed", negotiation_id="N-1")).verdict
    assert refused.code == "assignment_ended" and refused.http_status == 409
    assert "N-1" in refused.message and "has ended" in refused.message
    assert "MarkupNegotiationClosed" in refused.message
    closed = writer.submit(submission("MarkupNegotiationClosed", negotiation_id="N-1")).verdict
    assert closed.outcome == "accepted", closed.message


def test_a_contract_wide_negotiation_goes_on_when_one_assignment_ends() -> None:
    writer = with_assignment()
    writer.accept("AssignmentStarted", assignment_id="A-2")
    writer.accept("MarkupNegotiationOpened", negotiation_id="N-1", assignment_id=OMIT)
    writer.accept("AssignmentEnded", assignment_id="A-1")
    for type_name in ("MarkupProposed", "MarkupAgreed"):
        verdict = writer.submit(submission(type_name, negotiation_id="N-1")).verdict
        assert verdict.outcome == "accepted", verdict.message


def test_a_raise_request_of_an_ended_assignment_can_still_be_declined() -> None:
    writer = with_raise_request(assignment="ended")
    sub = submission("RaiseDeclined", raise_request_id="R-1")
    assert writer.submit(sub).verdict.outcome == "accepted"


@pytest.mark.parametrize("ending", ["MarkupAgreed", "MarkupNegotiationClosed"])
def test_a_negotiation_ends_with_agreement_or_closing(ending: str) -> None:
    writer = with_negotiation()
    assert writer.submit(submission("MarkupProposed")).verdict.outcome == "accepted"
    assert writer.submit(submission(ending)).verdict.outcome == "accepted"
    assert writer.submit(submission("MarkupProposed")).verdict.code == "negotiation_closed"


@pytest.mark.parametrize("decision", ["RaiseApproved", "RaiseDeclined"])
def test_a_raise_request_is_decided_once(decision: str) -> None:
    writer = with_raise_request()
    assert writer.submit(submission(decision)).verdict.outcome == "accepted"
    assert writer.submit(submission("RaiseApproved")).verdict.code == "raise_request_decided"


# Any sequence --------------------------------------------------------------------------------

CONTRACTS = ("C-1", "C-2")
ASSIGNMENTS = ("A-1", "A-2", "A-3")
NEGOTIATIONS = ("N-1", "N-2")
RAISE_REQUESTS = ("R-1", "R-2")
SUBMITTERS = (ADMIN, OWNER, OWNER, OWNER, OTHER_AM, FINANCE)
# Events that open something are drawn more often, so that what needs them is often accepted.
TYPE_WEIGHTS = {"ContractSigned": 3, "AssignmentStarted": 3, "MarkupNegotiationOpened": 2}
WEIGHTED_TYPES = tuple(name for name in EVENT_TYPE_NAMES for _ in range(TYPE_WEIGHTS.get(name, 1)))
EXPECTED_VERSIONS = (None,) * 12 + tuple(range(7))


@st.composite
def fresh_submission(draw: st.DrawFn, number: int) -> Submission:
    type_name = draw(st.sampled_from(WEIGHTED_TYPES))
    fields: dict[str, Any] = {
        "event_id": str(uuid.UUID(int=number)),
        "contract_id": draw(st.sampled_from(CONTRACTS)),
    }
    template = example(type_name)
    for name, pool in (
        ("assignment_id", ASSIGNMENTS),
        ("negotiation_id", NEGOTIATIONS),
        ("raise_request_id", RAISE_REQUESTS),
    ):
        if name in template:
            fields[name] = draw(st.sampled_from(pool))
    if type_name in {"MarkupNegotiationOpened", "BypassThreatReported"} and draw(st.booleans()):
        fields["assignment_id"] = OMIT
    expected = draw(st.sampled_from(EXPECTED_VERSIONS))
    return submission(
        type_name, submitter=draw(st.sampled_from(SUBMITTERS)), expected=expected, **fields
    )


@st.composite
def scripts(draw: st.DrawFn) -> list[Submission]:
    subs: list[Submission] = []
    for number in range(1, draw(st.integers(min_value=1, max_value=60)) + 1):
        kind = draw(st.sampled_from(["fresh"] * 6 + ["redeliver", "reuse"]))
        if kind == "fresh" or not subs:
            subs.append(draw(fresh_submission(number)))
            continue
        earlier = subs[draw(st.integers(min_value=0, max_value=len(subs) - 1))]
        if kind == "redeliver":
            subs.append(redelivered(earlier))
        else:
            other = earlier.event.model_copy(
                update={"occurred_at": earlier.event.occurred_at + timedelta(seconds=1)}
            )
            subs.append(earlier.model_copy(update={"submission_id": uuid.uuid4(), "event": other}))
    return subs


def _still_manages(writer: Writer, sub: Submission) -> bool:
    """Whether the submitter may still write to the contract: an admin, or its account manager
    as of now (AccountManagerChanged hands a contract over)."""
    state = writer.states.get(sub.event.contract_id)
    who = sub.submitter
    return (
        state is None or who.role != "account_manager"
        or who.account_manager_id == state.account_manager_id
    )  # fmt: skip


def _said(event: Event) -> Event:
    return event.model_copy(update={"recorded_by": None, "recorded_at": None})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scripts())
def test_any_sequence_folds_to_the_same_state_and_replays_as_duplicates(
    subs: list[Submission],
) -> None:
    writer = Writer()
    accepted: dict[tuple[str, uuid.UUID], tuple[Submission, int]] = {}
    for sub in subs:
        key = (sub.event.contract_id, sub.event.event_id)
        decision = writer.submit(sub)
        verdict = decision.verdict
        original = accepted.get(key)
        if original is not None and _still_manages(writer, sub):
            # The same submitter sent it before and was let in: only the content can differ.
            said_again = _said(sub.event) == _said(original[0].event)
            assert verdict.code == ("duplicate_event" if said_again else "event_id_reused")
        if verdict.outcome == "accepted":
            assert original is None
            assert decision.append is not None
            assert verdict.stream_version == writer.states[sub.event.contract_id].version
            accepted[key] = (sub, verdict.stream_version)
        elif verdict.outcome == "duplicate":
            assert original is not None
            assert verdict.stream_version == original[1]
            assert decision.append is None
        else:
            assert verdict.code is not None
            assert verdict.http_status == REFUSALS[verdict.code].http_status
            assert decision.append is None

    # --hypothesis-show-statistics: about half the scripts get 10 or more events accepted.
    event(f"{len(writer.log) // 5 * 5}+ accepted")
    target(len(writer.log), label="accepted events")
    assert fold(writer.log) == writer.states
    for contract_id, state in writer.states.items():
        versions = [e.stream_version for e in writer.log if e.contract_id == contract_id]
        assert versions == list(range(1, state.version + 1))

    before = dict(writer.states)
    for sub, version in accepted.values():
        again = writer.submit(redelivered(sub))
        if _still_manages(writer, sub):
            assert (again.verdict.outcome, again.verdict.stream_version) == ("duplicate", version)
        else:  # handed over since: the previous manager is now another manager
            assert again.verdict.code == "forbidden_contract"
        assert again.append is None
    assert writer.states == before
