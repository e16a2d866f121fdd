"""The messages of the submissions and verdicts topics, and the refusal codes of DESIGN.md.

A `Submission` is what the API hands the single writer of a contract: the event it has shaped
and stamped, who sent it, and the `expected_stream_version` if one was given. A `Verdict` is
the writer's answer, correlated by `submission_id`. Both are JSON on the wire, read with the
same Decimal-exact parser as events, and the event inside a submission goes through the same
upcasters as an event read from the log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from events.catalogue import Event
from events.errors import WHOLE_EVENT, EventValidationError, FieldError
from events.fields import Id
from events.serialization import JsonInput, decode_event, json_object

Role = Literal["account_manager", "finance", "admin"]
Outcome = Literal["accepted", "duplicate", "refused"]

_EVENT: Final = "event"

HTTP_ACCEPTED: Final = 201
HTTP_DUPLICATE: Final = 200
DUPLICATE_EVENT: Final = "duplicate_event"


@dataclass(frozen=True)
class Refusal:
    code: str
    http_status: int
    summary: str
    """When the code applies, in DESIGN's words."""
    field: str | None = None
    """The submitted field the refusal is about, if any: a form shows the reason beside it."""


def _refusals(*refusals: Refusal) -> Mapping[str, Refusal]:
    return MappingProxyType({refusal.code: refusal for refusal in refusals})


REFUSALS: Final[Mapping[str, Refusal]] = _refusals(
    Refusal(
        "unknown_contract",
        404,
        "any event but ContractSigned for a contract never signed",
        "contract_id",
    ),
    Refusal("contract_exists", 409, "ContractSigned for an existing contract", "contract_id"),
    Refusal(
        "contract_terminated",
        409,
        "anything but relationship events after ContractTerminated",
        "contract_id",
    ),
    Refusal(
        "unknown_assignment",
        404,
        "the assignment was never started on the contract",
        "assignment_id",
    ),
    Refusal(
        "assignment_exists",
        409,
        "AssignmentStarted for an assignment already started",
        "assignment_id",
    ),
    Refusal("assignment_ended", 409, "the assignment has already ended", "assignment_id"),
    Refusal(
        "unknown_negotiation",
        404,
        "the negotiation was never opened on the contract",
        "negotiation_id",
    ),
    Refusal(
        "negotiation_closed",
        409,
        "the negotiation has ended: MarkupAgreed and MarkupNegotiationClosed both end it",
        "negotiation_id",
    ),
    Refusal(
        "unknown_raise_request",
        404,
        "the raise request was never made on the contract",
        "raise_request_id",
    ),
    Refusal(
        "raise_request_decided",
        409,
        "the raise request is decided: RaiseApproved and RaiseDeclined both decide it",
        "raise_request_id",
    ),
    Refusal(
        "version_conflict",
        409,
        "the submitter sent expected_stream_version and the stream has moved on",
    ),
    Refusal(
        DUPLICATE_EVENT,
        HTTP_DUPLICATE,
        "same event_id, same content: the original result is returned, nothing is appended",
    ),
    Refusal("event_id_reused", 409, "same event_id, different content", "event_id"),
    Refusal(
        "forbidden_contract",
        403,
        "an account manager submits for a contract they do not manage",
        "contract_id",
    ),
    # Not in DESIGN's table: without them a reused id would silently reopen a closed
    # negotiation or request, rewriting what finance already read.
    Refusal(
        "negotiation_exists",
        409,
        "MarkupNegotiationOpened for a negotiation already opened",
        "negotiation_id",
    ),
    Refusal(
        "raise_request_exists",
        409,
        "RaiseRequested for a raise request already made",
        "raise_request_id",
    ),
    # HoursReported (DESIGN "Overtime, hours worked and client health").
    Refusal(
        "ot_exempt",
        409,
        "HoursReported with OT or DT hours for an ot_exempt assignment",
        "ot_hours",
    ),
    Refusal(
        "week_outside_term",
        409,
        "HoursReported for a week outside the assignment's term (its start to its expected "
        "end, or its end once ended)",
        "week",
    ),
)


class Submitter(BaseModel):
    """Who sent a submission, as the API authenticated them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    principal: Id
    """What the API stamps as the event's `recorded_by`."""
    account_manager_id: Id | None = Field(default=None, validate_default=True)
    """The account manager this principal acts as; given exactly when `role` is one."""

    @field_validator("account_manager_id")
    @classmethod
    def _given_iff_account_manager(cls, value: str | None, info: ValidationInfo) -> str | None:
        role = info.data.get("role")
        if role == "account_manager" and value is None:
            raise PydanticCustomError(
                "account_manager_id_missing", "required when role is account_manager"
            )
        if role is not None and role != "account_manager" and value is not None:
            raise PydanticCustomError(
                "account_manager_id_unexpected",
                "only an account_manager has an account_manager_id, not a {role}",
                {"role": role},
            )
        return value


class Submission(BaseModel):
    """One event on its way to the writer; `submission_id` is one per HTTP attempt."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    submission_id: UUID
    submitter: Submitter
    expected_stream_version: Annotated[int, Field(strict=True, ge=0)] | None = None
    event: Event
    """Already stamped by the API with `recorded_by` and `recorded_at`; the writer stamps
    `stream_version`."""

    @field_validator("event")
    @classmethod
    def _stream_version_is_the_writers(cls, event: Event) -> Event:
        if event.stream_version is not None:
            raise PydanticCustomError(
                "stream_version_preset",
                "its stream_version is set by the writer when it appends the event; leave it out",
            )
        return event


class Verdict(BaseModel):
    """The writer's answer to one submission."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    submission_id: UUID
    event_id: UUID
    contract_id: Id
    event_type: str
    outcome: Outcome
    code: str | None
    """None when accepted, `duplicate_event` for a duplicate, else a refusal code."""
    http_status: Annotated[int, Field(strict=True, ge=100, le=599)]
    message: Annotated[str, Field(min_length=1)]
    """One sentence a person can act on, naming the ids involved."""
    stream_version: Annotated[int, Field(strict=True, ge=1)] | None
    """The appended version; for a duplicate, the original's; None when refused."""
    decided_at: AwareDatetime

    @model_validator(mode="after")
    def _outcome_code_and_status_agree(self) -> Verdict:
        # The API turns a verdict straight into an HTTP answer: an incoherent one would tell a
        # submitter their event was kept when it was not, or the reverse.
        want_status: int | None
        if self.outcome == "accepted":
            want_code, want_status, in_log = None, HTTP_ACCEPTED, True
        elif self.outcome == "duplicate":
            want_code, want_status, in_log = DUPLICATE_EVENT, HTTP_DUPLICATE, True
        else:
            if self.code is None or self.code == DUPLICATE_EVENT:
                raise PydanticCustomError(
                    "verdict_code",
                    "a refusal needs a refusal code, not {code!r}",
                    {"code": self.code},
                )
            known = REFUSALS.get(self.code)
            # Codes beyond REFUSALS stay possible (additive), but must still be errors.
            want_code, in_log = self.code, False
            want_status = known.http_status if known else None
        if self.code != want_code:
            raise PydanticCustomError(
                "verdict_code",
                "code {code!r} does not go with outcome {outcome}",
                {"code": self.code, "outcome": self.outcome},
            )
        if want_status is not None and self.http_status != want_status:
            raise PydanticCustomError(
                "verdict_status",
                "http_status {got} does not go with {what}; expected {want}",
                {"got": self.http_status, "what": self.code or self.outcome, "want": want_status},
            )
        if want_status is None and self.http_status < 400:
            raise PydanticCustomError(
                "verdict_status",
                "a refusal needs an error status, not {got}",
                {"got": self.http_status},
            )
        if (self.stream_version is not None) != in_log:
            raise PydanticCustomError(
                "verdict_stream_version",
                "stream_version is given exactly when the event is in the log: "
                "accepted or duplicate, never refused",
            )
        return self


def encode_submission(submission: Submission) -> bytes:
    """Compact JSON; the event inside is written as `encode_event` writes it."""
    return submission.__pydantic_serializer__.to_json(submission, exclude_none=True)


def decode_submission(data: JsonInput) -> Submission:
    """Read a submission; raises EventValidationError naming every refused field.

    The event inside is upcast and validated exactly as `decode_event` does, and its errors are
    reported under `event.` (`event.pay_rate`, not pydantic's `event.AssignmentStarted.pay_rate`).
    """
    envelope = json_object(data)
    errors: list[FieldError] = []
    if _EVENT in envelope:
        try:
            envelope[_EVENT] = decode_event(_event_object(envelope[_EVENT]))
        except EventValidationError as exc:
            errors.extend(_under(_EVENT, error) for error in exc.errors)
    try:
        submission = Submission.model_validate(envelope)
    except ValidationError as exc:
        # The raw event left in the envelope would be reported a second time, less clearly.
        event_refused = bool(errors)
        errors.extend(
            error
            for error in _shape_errors(exc, "submission")
            if not (event_refused and _is_under(_EVENT, error))
        )
        raise EventValidationError(errors) from exc
    if errors:
        raise EventValidationError(errors)
    return submission


def encode_verdict(verdict: Verdict) -> bytes:
    """Compact JSON, with `code` and `stream_version` written even when null."""
    return verdict.__pydantic_serializer__.to_json(verdict)


def decode_verdict(data: JsonInput) -> Verdict:
    """Read a verdict; raises EventValidationError naming every refused field."""
    try:
        return Verdict.model_validate(json_object(data))
    except ValidationError as exc:
        raise EventValidationError(_shape_errors(exc, "verdict")) from exc


def _shape_errors(exc: ValidationError, what: str) -> list[FieldError]:
    # events.errors words an unknown field for an event; these envelopes are not events.
    return [
        FieldError(
            field=error["field"],
            reason=error["reason"].replace("this event has", f"a {what} has", 1),
        )
        for error in EventValidationError.from_pydantic(exc).errors
    ]


def _event_object(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise EventValidationError.single(WHOLE_EVENT, "must be a JSON object")
    return value


def _is_under(prefix: str, error: FieldError) -> bool:
    return error["field"] == prefix or error["field"].startswith(f"{prefix}.")


def _under(prefix: str, error: FieldError) -> FieldError:
    field = prefix if error["field"] == WHOLE_EVENT else f"{prefix}.{error['field']}"
    return FieldError(field=field, reason=error["reason"])


__all__ = [
    "DUPLICATE_EVENT",
    "HTTP_ACCEPTED",
    "HTTP_DUPLICATE",
    "REFUSALS",
    "Outcome",
    "Refusal",
    "Role",
    "Submission",
    "Submitter",
    "Verdict",
    "decode_submission",
    "decode_verdict",
    "encode_submission",
    "encode_verdict",
]
