"""The writer's checks: one submission against its contract's state, answered with a verdict.

Pure: the state and the clock come in, a `Decision` goes out; appending the event and
publishing the verdict are the caller's job.

Idempotency is per contract stream: an `event_id` is remembered in the state of the contract
it was accepted on, because a writer owns partitions of contracts, not the world. The same
`event_id` sent for another contract is judged on its own there. Older ids of a long stream are
in sealed chunks the state only references (`ids.py`): the caller passes the bytes of those it
fetched (`SeenIds.wanted` says which), and `decide` raises `ChunksNeeded` rather than guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import singledispatch
from typing import Final

from events import catalogue as ev
from events.catalogue import RELATIONSHIP_EVENT_TYPES
from events.dispatch import require_every_event_type, unhandled
from events.messages import (
    DUPLICATE_EVENT,
    HTTP_ACCEPTED,
    REFUSALS,
    Outcome,
    Submission,
    Submitter,
    Verdict,
)
from writemodel.ids import EMPTY
from writemodel.state import ContractState, content_hash

_RELATIONSHIP_EVENTS: Final = ", ".join(sorted(RELATIONSHIP_EVENT_TYPES))


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    append: ev.Event | None
    """The submitted event stamped with its `stream_version`, when accepted; else None."""


@dataclass(frozen=True)
class _Refused:
    code: str
    message: str


def decide(
    state: ContractState | None,
    submission: Submission,
    now: datetime,
    fetched: Mapping[int, bytes] = EMPTY,
) -> Decision:
    """Accept, recognise as a duplicate, or refuse `submission` given its contract's `state`
    (None: never signed). `now` is the verdict's `decided_at`; `fetched`, the bytes of the
    state's written id chunks the caller read, by offset.

    Checks run in a fixed order and the first that applies answers: the contract exists and
    the submitter may write to it, the event is not a redelivery, the stream is where the
    submitter expected it, and the event makes sense in the contract's current state.
    """
    event = submission.event
    submitter = submission.submitter

    refused = _forbidden_role(submitter, event)
    if refused is None and state is None:
        refused = _against_new_contract(submission)
    if refused is not None:
        return _refuse(submission, refused, now)
    if state is None:
        return _accept(submission, 1, now)

    refused = _forbidden_contract(state, submitter)
    if refused is not None:
        return _refuse(submission, refused, now)

    seen = state.seen.lookup(event.event_id, fetched)
    if seen is not None:
        if seen.content_hash == content_hash(event):
            return _duplicate(submission, seen.stream_version, now)
        return _refuse(
            submission,
            _Refused(
                "event_id_reused",
                f"Event id {event.event_id} was already used on contract {state.contract_id} "
                f"for a different event (stream version {seen.stream_version}); give this "
                f"{event.type} a new event_id.",
            ),
            now,
        )

    expected = submission.expected_stream_version
    if expected is not None and expected != state.version:
        return _refuse(
            submission, _version_conflict(state.contract_id, state.version, expected), now
        )

    refused = _against_state(state, event)
    if refused is not None:
        return _refuse(submission, refused, now)
    return _accept(submission, state.version + 1, now)


# Who may write -------------------------------------------------------------------------------


def _forbidden_role(submitter: Submitter, event: ev.EventBase) -> _Refused | None:
    # Checked before the contract is even looked up: finance reads and never writes, and that
    # includes signing a contract that does not exist yet.
    if submitter.role == "finance":
        return _Refused(
            "forbidden_contract",
            f"Finance principal {submitter.principal} may read contract {event.contract_id} but "
            f"not submit {event.type} to it; ask its account manager or an admin.",
        )
    return None


def _against_new_contract(submission: Submission) -> _Refused | None:
    event = submission.event
    submitter = submission.submitter
    if not isinstance(event, ev.ContractSigned):
        return _Refused(
            "unknown_contract",
            f"Contract {event.contract_id} has never been signed; submit ContractSigned for it "
            f"before {event.type}.",
        )
    if _another_managers(submitter, event.account_manager_id):
        return _Refused(
            "forbidden_contract",
            f"Account manager {submitter.account_manager_id} may sign contract "
            f"{event.contract_id} only in their own name, not for {event.account_manager_id}; "
            "ask that account manager or an admin to sign it.",
        )
    # A stream that does not exist yet is at version 0: expecting 0 means "only if new".
    expected = submission.expected_stream_version
    if expected is not None and expected != 0:
        return _version_conflict(event.contract_id, 0, expected)
    return None


def _another_managers(submitter: Submitter, account_manager_id: str) -> bool:
    """An account manager acting on what another account manager manages (finance is refused
    before, admins may act on anything)."""
    return (
        submitter.role == "account_manager" and submitter.account_manager_id != account_manager_id
    )


def _forbidden_contract(state: ContractState, submitter: Submitter) -> _Refused | None:
    if _another_managers(submitter, state.account_manager_id):
        # Who does manage it is not said: the submitter has no right to know.
        return _Refused(
            "forbidden_contract",
            f"Account manager {submitter.account_manager_id} does not manage contract "
            f"{state.contract_id}; only its own account manager or an admin may submit to it.",
        )
    return None


def _version_conflict(contract_id: str, version: int, expected: int) -> _Refused:
    return _Refused(
        "version_conflict",
        f"Contract {contract_id} is at stream version {version}, not the expected {expected}; "
        "reload it and resubmit if the change still applies.",
    )


# What the contract's state allows ------------------------------------------------------------


def _against_state(state: ContractState, event: ev.Event) -> _Refused | None:
    if isinstance(event, ev.ContractSigned):
        return _Refused(
            "contract_exists",
            f"Contract {state.contract_id} is already signed (stream version {state.version}); "
            "change its terms with ContractAmended, or sign a new contract under a new "
            "contract_id.",
        )
    if state.terminated and event.type not in RELATIONSHIP_EVENT_TYPES:
        return _Refused(
            "contract_terminated",
            f"Contract {state.contract_id} is terminated and takes only relationship events "
            f"({_RELATIONSHIP_EVENTS}), not {event.type}.",
        )
    return _check(event, state)


@singledispatch
def _check(event: ev.EventBase, state: ContractState) -> _Refused | None:
    """By event class, like `state._apply`: every type has its own (events.dispatch)."""
    unhandled("the writer's checks", event)


@_check.register
def _no_more_checks(
    event: ev.ContractSigned  # refused before, when the contract exists
    | ev.ContractAmended
    | ev.ContractTerminated
    | ev.ClientComplaintLogged
    | ev.ClientContactLogged,
    state: ContractState,
) -> _Refused | None:
    """Nothing to check beyond what every event goes through."""
    return None


@_check.register
def _assignment_started(event: ev.AssignmentStarted, state: ContractState) -> _Refused | None:
    if event.assignment_id in state.assignments:
        return _exists("assignment", event.assignment_id, state)
    return None


@_check.register
def _account_manager_changed(
    event: ev.AccountManagerChanged, state: ContractState
) -> _Refused | None:
    # Who may hand a contract over is checked before: its current account manager or an admin
    # (`_forbidden_contract`). Any account manager id may receive it: the new manager may not
    # have signed in yet.
    return None


# What a contract names by ids its events choose: (how a message names one, what to do instead).
_NAMED: Final = {
    "assignment": ("Assignment", "give the new assignment"),
    "negotiation": ("Negotiation", "open the new negotiation under"),
    "raise_request": ("Raise request", "file the new request under"),
}


def _exists(kind: str, taken: str, state: ContractState) -> _Refused:
    """The refusal of a new `kind` under an id (`taken`) the contract already has."""
    what, advice = _NAMED[kind]
    return _Refused(
        f"{kind}_exists",
        f"{what} {taken} already exists on contract {state.contract_id}; {advice} its own "
        f"{kind}_id.",
    )


# How a negotiation and a raise request start and end, for refusing an event that follows one up
# when it was never started or is over: (started, how to start it, its last status, instead).
_FOLLOWED: Final = {
    "negotiation": (
        "opened",
        "open it with MarkupNegotiationOpened",
        "closed",
        "open a new negotiation to reopen the question",
    ),
    "raise_request": (
        "made",
        "record it with RaiseRequested",
        "decided",
        "file a new RaiseRequested to revisit it",
    ),
}


def _not_open(
    kind: str, item_id: str, unknown: bool, state: ContractState, event_type: str
) -> _Refused:
    """The refusal of an `event_type` following up the `kind` `item_id`: never started on the
    contract (`unknown`), or already over."""
    what, _ = _NAMED[kind]
    started, start, over, instead = _FOLLOWED[kind]
    if unknown:
        return _Refused(
            f"unknown_{kind}",
            f"{what} {item_id} was never {started} on contract {state.contract_id}; {start} "
            f"before {event_type}.",
        )
    return _Refused(
        f"{kind}_{over}",
        f"{what} {item_id} on contract {state.contract_id} is already {over}, so it takes no "
        f"{event_type}; {instead}.",
    )


def _live_assignment(state: ContractState, assignment_id: str, event_type: str) -> _Refused | None:
    status = state.assignments.get(assignment_id)
    if status is None:
        return _Refused(
            "unknown_assignment",
            f"Assignment {assignment_id} is not on contract {state.contract_id}; start it with "
            f"AssignmentStarted before {event_type}.",
        )
    if status == "ended":
        return _Refused(
            "assignment_ended",
            f"Assignment {assignment_id} on contract {state.contract_id} has ended, so it takes "
            f"no {event_type}; start a new assignment if the staffer is placed again.",
        )
    return None


@_check.register
def _on_live_assignment(
    event: ev.RatesAdjusted | ev.AssignmentEnded, state: ContractState
) -> _Refused | None:
    return _live_assignment(state, event.assignment_id, event.type)


@_check.register
def _negotiation_opened(event: ev.MarkupNegotiationOpened, state: ContractState) -> _Refused | None:
    if event.negotiation_id in state.negotiations:
        return _exists("negotiation", event.negotiation_id, state)
    if event.assignment_id is not None:
        return _live_assignment(state, event.assignment_id, event.type)
    return None


@_check.register
def _in_open_negotiation(
    event: ev.MarkupProposed | ev.MarkupAgreed | ev.MarkupNegotiationClosed, state: ContractState
) -> _Refused | None:
    negotiation = state.negotiations.get(event.negotiation_id)
    if negotiation is None or negotiation.status == "closed":
        return _not_open(
            "negotiation", event.negotiation_id, negotiation is None, state, event.type
        )
    # Closing stays possible: it is how the negotiation of an ended assignment is put away.
    assignment_id = negotiation.assignment_id
    if (
        not isinstance(event, ev.MarkupNegotiationClosed)
        and assignment_id is not None
        and state.assignments.get(assignment_id) == "ended"
    ):
        return _Refused(
            "assignment_ended",
            f"Negotiation {event.negotiation_id} on contract {state.contract_id} is about "
            f"assignment {assignment_id}, which has ended, so there is no markup left to "
            f"negotiate and it takes no {event.type}; close the negotiation with "
            "MarkupNegotiationClosed.",
        )
    return None


@_check.register
def _raise_requested(event: ev.RaiseRequested, state: ContractState) -> _Refused | None:
    if event.raise_request_id in state.raise_requests:
        return _exists("raise_request", event.raise_request_id, state)
    return _live_assignment(state, event.assignment_id, event.type)


@_check.register
def _raise_decision(
    event: ev.RaiseApproved | ev.RaiseDeclined, state: ContractState
) -> _Refused | None:
    request = state.raise_requests.get(event.raise_request_id)
    if request is None or request.status == "decided":
        return _not_open(
            "raise_request", event.raise_request_id, request is None, state, event.type
        )
    # Declining still closes the request of an ended assignment; approving would change the
    # rates of an assignment that no longer runs.
    if isinstance(event, ev.RaiseApproved):
        return _live_assignment(state, request.assignment_id, event.type)
    return None


@_check.register
def _bypass_threat(event: ev.BypassThreatReported, state: ContractState) -> _Refused | None:
    # An ended assignment is fine: a move after the end is exactly what a bypass is.
    if event.assignment_id is not None and event.assignment_id not in state.assignments:
        return _Refused(
            "unknown_assignment",
            f"Assignment {event.assignment_id} is not on contract {state.contract_id}; "
            "report the threat without an assignment_id, or start the assignment first.",
        )
    return None


@_check.register
def _hours_reported(event: ev.HoursReported, state: ContractState) -> _Refused | None:
    # An ended assignment still takes the hours of its weeks: timesheets come in late.
    if event.assignment_id not in state.assignments:
        return _Refused(
            "unknown_assignment",
            f"Assignment {event.assignment_id} is not on contract {state.contract_id}; start it "
            f"with AssignmentStarted before {event.type}.",
        )
    term = state.assignment_terms.get(event.assignment_id)
    if term is None:  # never: every assignment's start records its term
        return None
    if term.ot_exempt and (event.ot_hours or event.dt_hours):
        return _Refused(
            "ot_exempt",
            f"Assignment {event.assignment_id} on contract {state.contract_id} is exempt from "
            f"overtime, so it works no OT or DT hours (ot_hours {event.ot_hours}, dt_hours "
            f"{event.dt_hours}); report them as regular_hours, or correct the assignment.",
        )
    if event.week + _WEEK < term.start_date or event.week > term.end_date:
        return _Refused(
            "week_outside_term",
            f"The week of {event.week.isoformat()} is outside the term of assignment "
            f"{event.assignment_id} on contract {state.contract_id} "
            f"({term.start_date.isoformat()} to {term.end_date.isoformat()}); report hours for "
            "a week it was on.",
        )
    return None


_WEEK: Final = timedelta(days=6)  # a week's Monday to its Sunday


require_every_event_type("the writer's checks", _check.registry)


# Verdicts ------------------------------------------------------------------------------------


def _verdict(
    submission: Submission,
    now: datetime,
    *,
    outcome: Outcome,
    code: str | None,
    http_status: int,
    message: str,
    stream_version: int | None,
) -> Verdict:
    event = submission.event
    return Verdict(
        submission_id=submission.submission_id,
        event_id=event.event_id,
        contract_id=event.contract_id,
        event_type=event.type,
        outcome=outcome,
        code=code,
        http_status=http_status,
        message=message,
        stream_version=stream_version,
        decided_at=now,
    )


def _accept(submission: Submission, version: int, now: datetime) -> Decision:
    event = submission.event
    verdict = _verdict(
        submission,
        now,
        outcome="accepted",
        code=None,
        http_status=HTTP_ACCEPTED,
        message=(
            f"{event.type} {event.event_id} was accepted on contract {event.contract_id} as "
            f"stream version {version}."
        ),
        stream_version=version,
    )
    return Decision(verdict, event.model_copy(update={"stream_version": version}))


def _duplicate(submission: Submission, version: int, now: datetime) -> Decision:
    event = submission.event
    duplicate = REFUSALS[DUPLICATE_EVENT]
    verdict = _verdict(
        submission,
        now,
        outcome="duplicate",
        code=duplicate.code,
        http_status=duplicate.http_status,
        message=(
            f"{event.type} {event.event_id} was already accepted on contract "
            f"{event.contract_id} as stream version {version}; nothing was appended again."
        ),
        stream_version=version,
    )
    return Decision(verdict, None)


def _refuse(submission: Submission, refused: _Refused, now: datetime) -> Decision:
    verdict = _verdict(
        submission,
        now,
        outcome="refused",
        code=refused.code,
        http_status=REFUSALS[refused.code].http_status,
        message=refused.message,
        stream_version=None,
    )
    return Decision(verdict, None)


__all__ = ["Decision", "decide"]
