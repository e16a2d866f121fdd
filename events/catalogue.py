# Long: a model per event type, with its field rules: the public contract in one file.
"""The event catalogue: one frozen model per event type of DESIGN.md, and their union.

Field names and type names are the public contract; add, never rename.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Final, Literal, TypedDict, cast, get_args
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
    Multiplier,
    Name,
    Note,
    Pct,
    Rate,
    Reason,
    SchemaVersion,
    StreamVersion,
    WeekHours,
    Weeks,
)

CURRENT_SCHEMA_VERSION: Final = 1
"""The version an event type starts at. A type whose fields grew carries its own
`SCHEMA_VERSION` (`V2`), and `events.upcasting` lifts its older raw events on read."""
V2: Final = 2

# The contract's bill multipliers when it names none, equal to the pay multipliers of overtime
# (1.5) and double time (2): DESIGN "Overtime, hours worked and client health". The same values
# as projections.margin's, which the core's tests hold equal.
DEFAULT_OT_BILL_MULTIPLIER: Final = Decimal("1.5")
DEFAULT_DT_BILL_MULTIPLIER: Final = Decimal(2)

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
HoursSource = Literal["timesheet", "estimate", "import"]
HOURS_IN_A_WEEK: Final = Decimal(168)

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
    "week",
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
    ot_bill_multiplier: Decimal
    dt_bill_multiplier: Decimal


CONTRACT_TERMS: Final[tuple[str, ...]] = tuple(ContractTerms.__annotations__)


class ContractSigned(EventBase):
    """v2 added `ot_bill_multiplier` and `dt_bill_multiplier` (v1: 1.5 and 2)."""

    SCHEMA_VERSION: ClassVar[int] = V2
    schema_version: SchemaVersion = V2
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
    ot_bill_multiplier: Multiplier = DEFAULT_OT_BILL_MULTIPLIER
    """An OT hour's bill rate, where the assignment gives none: this × the bill rate."""
    dt_bill_multiplier: Multiplier = DEFAULT_DT_BILL_MULTIPLIER
    """A DT hour's bill rate, where the assignment gives none: this × the bill rate."""

    @field_validator("end_date")
    @classmethod
    def _end_not_before_start(cls, end: date | None, info: ValidationInfo) -> date | None:
        _check_not_before(end, info, "start_date")
        return end

    def terms(self) -> ContractTerms:
        """The contract's terms as signed; an absent MSP fee is 0."""
        terms = {name: getattr(self, name) for name in CONTRACT_TERMS}
        if self.msp_fee_pct is None:
            terms["msp_fee_pct"] = Decimal(0)
        return cast(ContractTerms, terms)


class ContractAmended(EventBase):
    """Any term of `ContractSigned` except the ids; at least one must be given. v2 added the
    two bill multipliers."""

    SCHEMA_VERSION: ClassVar[int] = V2
    schema_version: SchemaVersion = V2
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
    ot_bill_multiplier: Multiplier | None = None
    dt_bill_multiplier: Multiplier | None = None

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


OVERTIME_RATES: Final = ("ot_pay_rate", "ot_bill_rate", "dt_pay_rate", "dt_bill_rate")
"""The OT and DT rates of an assignment, as AssignmentStarted and RatesAdjusted name them
(RaiseApproved: each with the prefix `new_`)."""


def _check_exempt(exempt: bool, planned_ot: Decimal, rates: dict[str, Decimal | None]) -> None:
    if not exempt:
        return
    given = [name for name, rate in rates.items() if rate is not None]
    if planned_ot:
        given.insert(0, "planned_ot_hours_per_week")
    if given:
        raise PydanticCustomError(
            "ot_exempt",
            "an ot_exempt assignment has no overtime or double time; leave out {fields}",
            {"fields": ", ".join(given)},
        )


class AssignmentTerms(TypedDict):
    """An assignment as started, but for its id, job title and OT and DT rates
    (`overtime_rates`): what the read model and the risk state each fold from AssignmentStarted."""

    staffer_id: str
    staffer_name: str | None
    pay_rate: Decimal
    bill_rate: Decimal
    burden_pct: Decimal | None
    hours_per_week: Decimal
    start_date: date
    expected_end_date: date
    planned_ot_hours_per_week: Decimal
    ot_exempt: bool


ASSIGNMENT_TERMS: Final[tuple[str, ...]] = tuple(AssignmentTerms.__annotations__)


class AssignmentStarted(EventBase):
    """v2 added the OT and DT rates (absent: derived from pay and bill, DESIGN "Overtime"),
    `planned_ot_hours_per_week` (v1: 0) and `ot_exempt` (v1: false). hours_per_week +
    planned_ot_hours_per_week is at most 168, and an ot_exempt assignment gives no OT or DT
    rate and plans no OT (each refused with 422 otherwise)."""

    SCHEMA_VERSION: ClassVar[int] = V2
    schema_version: SchemaVersion = V2
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
    ot_pay_rate: Rate | None = None
    """Absent: 1.5 × pay_rate."""
    ot_bill_rate: Rate | None = None
    """Absent: the contract's ot_bill_multiplier × bill_rate."""
    dt_pay_rate: Rate | None = None
    """Absent: 2 × pay_rate."""
    dt_bill_rate: Rate | None = None
    """Absent: the contract's dt_bill_multiplier × bill_rate."""
    planned_ot_hours_per_week: WeekHours = Decimal(0)
    ot_exempt: Flag = False

    @field_validator("expected_end_date")
    @classmethod
    def _end_not_before_start(cls, end: date, info: ValidationInfo) -> date:
        _check_not_before(end, info, "start_date")
        return end

    @field_validator("planned_ot_hours_per_week")
    @classmethod
    def _a_week_has_168_hours(cls, ot: Decimal, info: ValidationInfo) -> Decimal:
        regular = info.data.get("hours_per_week")
        if isinstance(regular, Decimal) and regular + ot > 168:
            raise PydanticCustomError(
                "week_too_long",
                "hours_per_week {regular} + planned_ot_hours_per_week {ot} is more than the "
                "168 hours of a week",
                {"regular": str(regular), "ot": str(ot)},
            )
        return ot

    @model_validator(mode="after")
    def _exempt_has_no_overtime(self) -> AssignmentStarted:
        _check_exempt(self.ot_exempt, self.planned_ot_hours_per_week, self.overtime_rates())
        return self

    def overtime_rates(self) -> dict[str, Decimal | None]:
        """The OT and DT rates as given (None: derived)."""
        return {name: getattr(self, name) for name in OVERTIME_RATES}

    def terms(self) -> AssignmentTerms:
        """The assignment as started (AssignmentTerms)."""
        return cast(AssignmentTerms, {name: getattr(self, name) for name in ASSIGNMENT_TERMS})


class RatesAdjusted(EventBase):
    """v2 added the OT and DT rates (absent: derived from the new pay and bill)."""

    SCHEMA_VERSION: ClassVar[int] = V2
    schema_version: SchemaVersion = V2
    type: Literal["RatesAdjusted"] = "RatesAdjusted"
    assignment_id: Id
    pay_rate: Rate
    bill_rate: Rate
    effective_date: date
    reason: Reason
    ot_pay_rate: Rate | None = None
    ot_bill_rate: Rate | None = None
    dt_pay_rate: Rate | None = None
    dt_bill_rate: Rate | None = None

    def overtime_rates(self) -> dict[str, Decimal | None]:
        """The OT and DT rates as given (None: derived)."""
        return {name: getattr(self, name) for name in OVERTIME_RATES}


class AssignmentEnded(EventBase):
    type: Literal["AssignmentEnded"] = "AssignmentEnded"
    assignment_id: Id
    end_date: date
    reason: AssignmentEndReason


class HoursReported(EventBase):
    """The hours an assignment actually worked in one week (DESIGN "Overtime, hours worked and
    client health"). A later report for the same week supersedes the earlier: a correction.
    `week` must be a Monday, and regular_hours + ot_hours + dt_hours at most 168 (each refused
    with 422 otherwise)."""

    type: Literal["HoursReported"] = "HoursReported"
    assignment_id: Id
    week: date
    """The Monday the week starts."""
    regular_hours: WeekHours
    ot_hours: WeekHours = Decimal(0)
    dt_hours: WeekHours = Decimal(0)
    source: HoursSource

    @field_validator("week")
    @classmethod
    def _a_monday(cls, week: date) -> date:
        if week.weekday() != 0:
            raise PydanticCustomError(
                "week_not_monday",
                "must be the Monday the week starts; {week} is a {day}",
                {"week": week.isoformat(), "day": week.strftime("%A")},
            )
        return week

    @field_validator("dt_hours")
    @classmethod
    def _a_week_has_168_hours(cls, dt: Decimal, info: ValidationInfo) -> Decimal:
        regular, ot = info.data.get("regular_hours"), info.data.get("ot_hours")
        if isinstance(regular, Decimal) and isinstance(ot, Decimal):
            total = regular + ot + dt
            if total > HOURS_IN_A_WEEK:
                raise PydanticCustomError(
                    "week_too_long",
                    "regular_hours + ot_hours + dt_hours is {total}, more than the 168 hours "
                    "of a week",
                    {"total": str(total)},
                )
        return dt


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
    """v2 added `ot_markup_pct`: the negotiation may agree the OT markup too."""

    SCHEMA_VERSION: ClassVar[int] = V2
    schema_version: SchemaVersion = V2
    type: Literal["MarkupAgreed"] = "MarkupAgreed"
    negotiation_id: Id
    markup_pct: MarkupPct
    effective_date: date
    ot_markup_pct: MarkupPct | None = None
    """The OT bill rate becomes the OT pay × (1 + ot_markup_pct/100), rounded to cents; absent:
    derived from the new bill rate by the contract's multiplier."""


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
    """v2 added the new OT and DT rates (absent: derived from the new pay and bill)."""

    SCHEMA_VERSION: ClassVar[int] = V2
    schema_version: SchemaVersion = V2
    type: Literal["RaiseApproved"] = "RaiseApproved"
    raise_request_id: Id
    new_pay_rate: Rate
    new_bill_rate: Rate
    effective_date: date
    new_ot_pay_rate: Rate | None = None
    new_ot_bill_rate: Rate | None = None
    new_dt_pay_rate: Rate | None = None
    new_dt_bill_rate: Rate | None = None

    def overtime_rates(self) -> dict[str, Decimal | None]:
        """The new OT and DT rates as given (None: derived), by their names without `new_`."""
        return {name: getattr(self, f"new_{name}") for name in OVERTIME_RATES}


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
    | HoursReported
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
