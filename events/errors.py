"""The one error the event catalogue raises for bad input, shaped for a 422 answer."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Final, TypedDict

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from events.fields import BLANK_REFUSED, ID_PATTERN, ID_REFUSED, NOT_BLANK_PATTERN

WHOLE_EVENT: Final = "(event)"
"""The `field` of an error about the event as a whole rather than one of its fields."""

_PYDANTIC_SUBJECT = re.compile(
    r"^(?:Input|Decimal input|String|Value|Date|Datetime|Time|Timestamp|UUID input) should\b"
)


class FieldError(TypedDict):
    field: str
    reason: str


class EventValidationError(ValueError):
    """An event (or submission) refused for its shape; `errors` names each field and why."""

    errors: list[FieldError]
    code: str
    """What an answer calls the refusal: `invalid_event`, or a more precise code when every
    error is of one kind (`occurred_in_future`)."""

    def __init__(self, errors: Iterable[FieldError], code: str = "invalid_event") -> None:
        self.errors = list(errors)
        self.code = code
        # The list is the only constructor argument, so the exception pickles and copies.
        super().__init__(self.errors)

    def __str__(self) -> str:
        return "; ".join(f"{error['field']}: {error['reason']}" for error in self.errors)

    @classmethod
    def single(cls, field: str, reason: str) -> EventValidationError:
        return cls([FieldError(field=field, reason=reason)])

    @classmethod
    def from_pydantic(
        cls, exc: ValidationError, *, known_types: Collection[str] = ()
    ) -> EventValidationError:
        """Translate pydantic's errors; `known_types` are the tags of the event union.

        Validating through the discriminated union puts the event type in front of every
        location (`("ContractSigned", "pay_rate")`); the submitter never wrote that segment,
        so it is dropped.
        """
        return cls(_field_error(detail, known_types) for detail in exc.errors(include_url=False))


def _field_error(detail: ErrorDetails, known_types: Collection[str]) -> FieldError:
    kind = detail["type"]
    loc = detail["loc"]
    event_type = ""
    if loc and isinstance(loc[0], str) and loc[0] in known_types:
        event_type, loc = loc[0], loc[1:]
    field = ".".join(str(part) for part in loc) or WHOLE_EVENT
    known = ", ".join(sorted(known_types))

    if kind == "union_tag_invalid":
        tag = detail.get("ctx", {}).get("tag", "")
        return FieldError(field="type", reason=f"unknown event type {tag!r}; known types: {known}")
    if kind == "union_tag_not_found":
        return FieldError(field="type", reason=f"required; known types: {known}")
    if kind == "missing":
        return FieldError(field=field, reason="required")
    if kind == "extra_forbidden":
        owner = event_type or "this event"
        return FieldError(field=field, reason=f"unknown field: {owner} has no field {field!r}")
    if kind == "string_pattern_mismatch":
        pattern = detail.get("ctx", {}).get("pattern")
        if pattern == ID_PATTERN:
            return FieldError(field=field, reason=ID_REFUSED)
        if pattern == NOT_BLANK_PATTERN:
            return FieldError(field=field, reason=BLANK_REFUSED)
    if kind == "model_attributes_type" and field == WHOLE_EVENT:
        return FieldError(field=field, reason="must be a JSON object")
    return FieldError(field=field, reason=_human(detail["msg"]))


def _human(message: str) -> str:
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return _PYDANTIC_SUBJECT.sub("must", message, count=1)
