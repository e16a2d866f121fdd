"""The contract-risk alert: the one schema of the alerts topic (DESIGN.md "Contract-risk rules").

An alert is produced by the pure rules in `projections.risk.rules`, appended to the alerts
topic (JSON, key `contract_id`), stored for the API and pushed to webhooks; everything that
reads or writes one imports `Alert` from here.

Alert ids are deterministic: the sha256 of rule, subject (contract, and assignment when the
alert is about one) and trigger (the ids of the events that made the rule fire). The same
event, redelivered or replayed, always yields the same id, so consumers keep one alert per id
and a replay never raises a second one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from decimal import Decimal
from typing import Annotated, Final, Literal, get_args
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from events.fields import FLOAT_REFUSED, Id, Name, StreamVersion
from events.serialization import JsonInput, decode_json, encode_json

RuleName = Literal[
    "LOSS_POSITION",
    "BELOW_FLOOR",
    "RAISE_ABSORBED",
    "BYPASS_THREAT",
    "COMMITMENT_SHORTFALL",
    "MARGIN_EROSION",
    "RELATIONSHIP_STRAIN",
    "RELATIONSHIP_NEGLECT",
    "OT_MARGIN_LEAK",
    "HOURS_SHORTFALL",
    "CLIENT_HEALTH_FALLING",
]
RULE_NAMES: Final[tuple[str, ...]] = get_args(RuleName)

Severity = Literal["critical", "high", "medium", "low"]
SEVERITIES: Final[tuple[str, ...]] = get_args(Severity)

Basis = Literal["applied", "proposed"]
"""`proposed`: a what-if on a proposal or request not yet agreed; `applied`: a fact."""

AlertStatus = Literal["open", "acknowledged", "resolved"]
ALERT_STATUSES: Final[tuple[str, ...]] = get_args(AlertStatus)

ALERT_ID_HEX_CHARS: Final = 32
"""128 bits of sha256: collisions are out of reach for any number of alerts this will see."""

MESSAGE_MAX_CHARS: Final = 2000


def _refuse_float(value: object) -> object:
    # Same policy as the event fields: money never passes through a float.
    if isinstance(value, bool):
        raise PydanticCustomError("decimal_bool", "exposure must be a decimal, not a boolean")
    if isinstance(value, float):
        raise PydanticCustomError("decimal_float", FLOAT_REFUSED)
    return value


Money = Annotated[Decimal, Field(allow_inf_nan=False), BeforeValidator(_refuse_float)]
"""An exact amount of money (unrounded), written in JSON as a string."""


def alert_subject(contract_id: str, assignment_id: str | None = None) -> str:
    """What an alert is about: `contract_id`, or `contract_id/assignment_id`."""
    return contract_id if assignment_id is None else f"{contract_id}/{assignment_id}"


def alert_id(
    rule: str, contract_id: str, assignment_id: str | None, trigger: Iterable[UUID | str]
) -> str:
    """The deterministic id of the alert `rule` raises about a subject because of `trigger`
    (the triggering event ids, in the order given): a hex sha256 prefix of
    `"{rule}|{subject}|{trigger ids joined by ','}"`."""
    ids = ",".join(str(t) for t in trigger)
    key = f"{rule}|{alert_subject(contract_id, assignment_id)}|{ids}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:ALERT_ID_HEX_CHARS]


class Alert(BaseModel):
    """One contract-risk alert, as the alerts topic, the API and the webhooks carry it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alert_id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
    rule: RuleName
    severity: Severity
    basis: Basis
    contract_id: Id
    client_name: Name
    assignment_id: Id | None = None
    staffer_id: Id | None = None
    exposure: Money | None
    """Money at stake, exact (round it for display only); None for RELATIONSHIP_NEGLECT."""
    message: Annotated[str, Field(min_length=1, max_length=MESSAGE_MAX_CHARS)]
    """One sentence a person can act on: the client, the staffer or assignment, the figures
    rounded to cents, and what is at stake."""
    event_ids: Annotated[tuple[UUID, ...], Field(min_length=1)]
    """The triggering events (for a timer rule: the event the silence is counted from)."""
    raised_at: AwareDatetime
    """Event time: the triggering event's `occurred_at` for an event rule, so that a replay
    raises identical alerts; the evaluation time passed in for a timer rule."""
    status: AlertStatus = "open"
    stream_version: StreamVersion | None = None
    """The contract stream version of the triggering event."""

    @property
    def subject(self) -> str:
        return alert_subject(self.contract_id, self.assignment_id)

    def with_status(self, status: AlertStatus) -> Alert:
        """A copy of this alert in `status` (acknowledging or resolving never changes its id)."""
        return self.model_copy(update={"status": status})


def encode_alert(alert: Alert) -> bytes:
    """The alert as compact JSON (exposure as an exact decimal string)."""
    return encode_json(alert)


def decode_alert(data: JsonInput) -> Alert:
    """Read an alert back from JSON; pydantic.ValidationError (a ValueError) if it is not one."""
    return Alert.model_validate(decode_json(data))
