"""The event catalogue: one frozen model per event type of DESIGN.md, and their union.

Field names and type names are the public contract; add, never rename.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Final, Literal, TypedDict, get_args
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from events.fields import (
    Description,
    FeePct,
    Flag,
    Hours,
    HoursPerWeek,
    Id,
    MarkupPct,
    Months,
    Name,
    Note,
    Pct,
    Rate,
    Reason,
    SchemaVersion,
    StreamVersion,
    Weeks,
)

CURRENT_SCHEMA_VERSION: Final = 1

AssignmentEndReason = Literal[
    "completed",
    "ended_early_by_client",
    "staffer_left",
    "converted_to_client_hire",
    "moved_to_other_agency",
]
Party = Literal["client", "agency"]
NegotiationOutcome = Literal["rejected", "withdrawn", "expired"]
RaiseRequester = Literal["staffer", "client", "agency"]
BypassKind = Literal[
    "threatened_move_to_other_agency",
    "direct_hire_attempt",
    "payrolling_through_other_agency",
    "other",
]
ComplaintSubject = Literal["recruiter_conduct", "candidate_quality", "billing", "other"]
ContactChannel = Literal["call", "email", "meeting", "visit"]
ContactDirection = Literal["outbound", "inbound"]

STAMPED_FIELDS: Final = ("recorded_by", "recorded_at", "stream_version")
"""Set by the service when it appends an event; never trusted from a submitter."""


def _check_not_before(end: date | None, info: ValidationInfo, start_field: str) -> None:
    # A start that failed its own validation is absent from info.data: that error is reported
    # on its own and this comparison is skipped.
    start = info.data.get(start_field)
    if end is not None and isinstance(start, date) and end < start:
        raise PydanticCustomError(
            "end_before_start",
            "{end_field} {end} is before {start_field} {start}",
            {
                "end_field": info.field_name or "",
                "end": end.isoformat(),
                "start_field": start_field,
                "start": start.isoformat(),
            },
        )


def _type_is_required(schema: JsonDict) -> None:
    # `type` has a default so that Python code need not repeat the class name, but a submitter
    # must always send it: it is how the union tells events apart.
    required = schema.setdefault("required", [])
    if isinstance(required, list) and "type" not in required:
        required.insert(0, "type")


# Every date and date-time field of the catalogue.
_DATED: Final = (
    "occurred_at",
    "recorded_at",
    "start_date",
    "end_date",
    "expected_end_date",
    "effective_date",
)


class EventBase(BaseModel):
    """Fields common to every event."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_type_is_required)

    SCHEMA_VERSION: ClassVar[int] = CURRENT_SCHEMA_VERSION
    """The version this service reads; older raw events are upcast to it on read."""
    RELATIONSHIP_EVENT: ClassVar[bool] = False
    """Relationship events are still accepted after the contract is terminated."""

    event_id: UUID
    type: str
    schema_version: SchemaVersion = CURRENT_SCHEMA_VERSION
    contract_id: Id
    occurred_at: AwareDatetime
    # readOnly: JSON Schema's word for "the server sets it".
    recorded_by: Id | None = Field(default=None, json_schema_extra={"readOnly": True})
    recorded_at: AwareDatetime | None = Field(default=None, json_schema_extra={"readOnly": True})
    stream_version: StreamVersion | None = Field(default=None, json_schema_extra={"readOnly": True})

    @field_validator(*_DATED, mode="before", check_fields=False)
    @classmethod
    def _dates_are_written(cls, value: Any) -> Any:
        # pydantic's lax date and datetime would read a number as a unix time: 0 is no date.
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise PydanticCustomError("date_type", "must be a date (time) written in ISO 8601")
        return value

    @field_validator("schema_version")
    @classmethod
    def _is_current_version(cls, version: int) -> int:
        if version != cls.SCHEMA_VERSION:
            raise PydanticCustomError(
                "schema_version_not_current",
                "must be {current} once upcast; got {version}",
                {"current": cls.SCHEMA_VERSION, "version": version},
            )
        return version


# Contract ------------------------------------------------------------------------------------


# What an assignment is, as its events say: started and not yet ended, or ended.
AssignmentStatus = Literal["active", "ended"]


class ContractTerms(TypedDict):
    """A contract's terms as signed (every term; the MSP fee 0 when the contract has none):
    what the read model and the risk rules each fold from ContractSigned and ContractAmended."""

    client_name: str
    start_date: date
    end_date: date | None
    markup_floor_pct: Decimal
    burden_pct: Decimal
    msp_fee_pct: Decimal
    min_assignment_weeks: int | None
    conversion_fee_pct: Decimal
    conversion_fee_waived_after_hours: Decimal | None
    non_solicit_months: int


CONTRACT_TERMS: Final[tuple[str, ...]] = tuple(ContractTerms.__annotations__)


class ContractSigned(EventBase):
    type: Literal["ContractSigned"] = "ContractSigned"
    client_id: Id
    client_name: Name
    account_manager_id: Id
    start_date: date
    end_date: date | None = None
    markup_floor_pct: Pct
    burden_pct: Pct
    msp_fee_pct: FeePct | None = None
    min_assignment_weeks: Weeks | None = None
    conversion_fee_pct: Pct
    conversion_fee_waived_after_hours: Hours | None = None
    non_solicit_months: Months

    @field_validator("end_date")
    @classmethod
    def _end_not_before_start(cls, end: date | None, info: ValidationInfo) -> date | None:
        _check_not_before(end, info, "start_date")
        return end

    def terms(self) -> ContractTerms:
        """The contract's terms as signed; an absent MSP fee is 0."""
        return ContractTerms(
            client_name=self.client_name,
            start_date=self.start_date,
            end_date=self.end_date,
            markup_floor_pct=self.markup_floor_pct,
            burden_pct=self.burden_pct,
            msp_fee_pct=self.msp_fee_pct if self.msp_fee_pct is not None else Decimal(0),
            min_assignment_weeks=self.min_assignment_weeks,
            conversion_fee_pct=self.conversion_fee_pct,
            conversion_fee_waived_after_hours=self.conversion_fee_waived_after_hours,
            non_solicit_months=self.non_solicit_months,
        )


class ContractAmended(EventBase):
    """Any term of `ContractSigned` except the ids; at least one must be given."""

    type: Literal["ContractAmended"] = "ContractAmended"
    effective_date: date
    client_name: Name | None = None
    start_date: date | None = None
    end_date: date | None = None
    markup_floor_pct: Pct | None = None
    burden_pct: Pct | None = None
    msp_fee_pct: FeePct | None = None
    min_assignment_weeks: Weeks | None = None
    conversion_fee_pct: Pct | None = None
    conversion_fee_waived_after_hours: Hours | None = None
    non_solicit_months: Months | None = None

    TERMS: ClassVar[tuple[str, ...]] = CONTRACT_TERMS

    @field_validator("end_date")
    @classmethod
    def _end_not_before_start(cls, end: date | None, info: ValidationInfo) -> date | None:
        _check_not_before(end, info, "start_date")
        return end

    @model_validator(mode="after")
    def _amends_something(self) -> ContractAmended:
        if all(getattr(self, term) is None for term in self.TERMS):
            raise PydanticCustomError(
                "nothing_amended",
                "amends nothing: give at least one of {terms}",
                {"terms": ", ".join(self.TERMS)},
            )
        return self

    def amended_terms(self) -> dict[str, Any]:
        """The terms this amendment sets, by name (names of ContractTerms)."""
        return {term: getattr(self, term) for term in self.TERMS if getattr(self, term) is not None}


class AccountManagerChanged(EventBase):
    """The contract is handed over to another account manager (people leave agencies): from
    then on it is theirs to manage and to see, and no longer the previous one's."""

    type: Literal["AccountManagerChanged"] = "AccountManagerChanged"
    account_manager_id: Id
    effective_date: date
    reason: Reason


class ContractTerminated(EventBase):
    type: Literal["ContractTerminated"] = "ContractTerminated"
    effective_date: date
    reason: Reason


# Assignment ----------------------------------------------------------------------------------


class AssignmentStarted(EventBase):
    type: Literal["AssignmentStarted"] = "AssignmentStarted"
    assignment_id: Id
    staffer_id: Id
    staffer_name: Name | None = None
    job_title: Name
    pay_rate: Rate
    bill_rate: Rate
    hours_per_week: HoursPerWeek
    start_date: date
    expected_end_date: date
    burden_pct: Pct | None = None

    @field_validator("expected_end_date")
    @classmethod
    def _end_not_before_start(cls, end: date, info: ValidationInfo) -> date:
        _check_not_before(end, info, "start_date")
        return end


class RatesAdjusted(EventBase):
    type: Literal["RatesAdjusted"] = "RatesAdjusted"
    assignment_id: Id
    pay_rate: Rate
    bill_rate: Rate
    effective_date: date
    reason: Reason


class AssignmentEnded(EventBase):
    type: Literal["AssignmentEnded"] = "AssignmentEnded"
    assignment_id: Id
    end_date: date
    reason: AssignmentEndReason


# Markup negotiation --------------------------------------------------------------------------


class MarkupNegotiationOpened(EventBase):
    type: Literal["MarkupNegotiationOpened"] = "MarkupNegotiationOpened"
    negotiation_id: Id
    assignment_id: Id | None = None
    """Absent: the negotiation covers every active assignment of the contract."""
    initiated_by: Party
    reason: Reason


class MarkupProposed(EventBase):
    type: Literal["MarkupProposed"] = "MarkupProposed"
    negotiation_id: Id
    proposed_by: Party
    markup_pct: MarkupPct
    note: Note | None = None


class MarkupAgreed(EventBase):
    type: Literal["MarkupAgreed"] = "MarkupAgreed"
    negotiation_id: Id
    markup_pct: MarkupPct
    effective_date: date


class MarkupNegotiationClosed(EventBase):
    type: Literal["MarkupNegotiationClosed"] = "MarkupNegotiationClosed"
    negotiation_id: Id
    outcome: NegotiationOutcome
    note: Note | None = None


# Raise requests ------------------------------------------------------------------------------


class RaiseRequested(EventBase):
    type: Literal["RaiseRequested"] = "RaiseRequested"
    raise_request_id: Id
    assignment_id: Id
    requested_pay_rate: Rate
    requested_by: RaiseRequester
    client_max_bill_rate: Rate | None = None
    """The client's budget; at or below today's bill rate it asks the agency to fund the raise."""


class RaiseApproved(EventBase):
    type: Literal["RaiseApproved"] = "RaiseApproved"
    raise_request_id: Id
    new_pay_rate: Rate
    new_bill_rate: Rate
    effective_date: date


class RaiseDeclined(EventBase):
    type: Literal["RaiseDeclined"] = "RaiseDeclined"
    raise_request_id: Id
    reason: Reason


# Relationship --------------------------------------------------------------------------------


class BypassThreatReported(EventBase):
    RELATIONSHIP_EVENT: ClassVar[bool] = True

    type: Literal["BypassThreatReported"] = "BypassThreatReported"
    assignment_id: Id | None = None
    staffer_id: Id | None = None
    kind: BypassKind
    description: Description


class ClientComplaintLogged(EventBase):
    RELATIONSHIP_EVENT: ClassVar[bool] = True

    type: Literal["ClientComplaintLogged"] = "ClientComplaintLogged"
    about: ComplaintSubject
    legal_threat: Flag
    description: Description


class ClientContactLogged(EventBase):
    RELATIONSHIP_EVENT: ClassVar[bool] = True

    type: Literal["ClientContactLogged"] = "ClientContactLogged"
    channel: ContactChannel
    direction: ContactDirection
    responded: Flag
    note: Note | None = None


Event = Annotated[
    ContractSigned
    | ContractAmended
    | AccountManagerChanged
    | ContractTerminated
    | AssignmentStarted
    | RatesAdjusted
    | AssignmentEnded
    | MarkupNegotiationOpened
    | MarkupProposed
    | MarkupAgreed
    | MarkupNegotiationClosed
    | RaiseRequested
    | RaiseApproved
    | RaiseDeclined
    | BypassThreatReported
    | ClientComplaintLogged
    | ClientContactLogged,
    Field(discriminator="type"),
]
"""Any event of the catalogue, told apart by its `type`."""

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

EVENT_MODELS: Final[tuple[type[EventBase], ...]] = get_args(get_args(Event)[0])

EVENT_TYPES: Final[dict[str, type[EventBase]]] = {
    model.model_fields["type"].default: model for model in EVENT_MODELS
}

RELATIONSHIP_EVENT_TYPES: Final[frozenset[str]] = frozenset(
    name for name, model in EVENT_TYPES.items() if model.RELATIONSHIP_EVENT
)
