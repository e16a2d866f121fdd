"""Reusable field types for the event catalogue: ids, money, percentages, hours and text.

Money and percentages are `Decimal` end to end. The serializer parses JSON with
`parse_float=Decimal`, so a Python `float` reaching a model means some producer decoded JSON
the lossy way; it is refused rather than silently rounded into the money path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Final

from annotated_types import GroupedMetadata
from pydantic import BeforeValidator, Field, StringConstraints
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

# 1–64 of [A-Za-z0-9._:-], but not `.` or `..` alone: a URL path cannot reach those (they are
# its dot-segments). Without look-ahead, which pydantic-core's regex engine lacks.
ID_PATTERN: Final = (
    r"^(?:[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,63}"
    r"|\.[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,62}"
    r"|\.\.[A-Za-z0-9._:-]{1,62})$"
)

REASON_MAX_CHARS: Final = 1000
NOTE_MAX_CHARS: Final = 1000
DESCRIPTION_MAX_CHARS: Final = 4000
NAME_MAX_CHARS: Final = 200

NOT_BLANK_PATTERN: Final = r"[^\s\x1c-\x1f]"
"""Some character that is not whitespace (as `str.isspace` counts it): checked by pydantic-core,
with no Python call per field; `events.errors` words its refusal as BLANK_REFUSED."""
BLANK_REFUSED: Final = "must not be empty or only whitespace"

FLOAT_REFUSED: Final = 'send decimals as strings like "37.50", not floats'


def _refuse_float(value: object) -> object:
    # bool is an int subclass: True would otherwise become Decimal(1).
    if isinstance(value, bool):
        raise PydanticCustomError(
            "decimal_bool", 'send decimals as strings like "37.50", not booleans'
        )
    if isinstance(value, float):
        raise PydanticCustomError("decimal_float", FLOAT_REFUSED)
    return value


_NO_FLOAT = BeforeValidator(_refuse_float)

ID_REFUSED: Final = (
    "must be 1 to 64 characters, each a letter, a digit or one of . _ : - (not . or .. alone)"
)

# The pattern alone bounds the length too, so that every refusal of an id is one error that
# `events.errors` words as ID_REFUSED; checked by pydantic-core, with no Python call per id.
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
"""An identifier chosen by the submitter: 1–64 characters of `[A-Za-z0-9._:-]`, not `.`/`..`."""


@dataclass(frozen=True, slots=True)
class _DecimalMetadata(GroupedMetadata):
    """What every decimal type of the catalogue says after `Decimal` in its `Annotated`: its
    constraints, then the refusal of floats (in that order: pydantic keeps the constraints in
    the JSON Schema only when they come before a validator)."""

    field: FieldInfo

    def __iter__(self) -> Iterator[object]:
        yield self.field
        yield _NO_FLOAT


def _decimal(places: int, description: str, **bounds: Any) -> Any:
    """A decimal's constraints (pydantic's `Field`): the `bounds` given (gt, ge, le,
    max_digits), at most `places` decimal places, finite; and floats refused."""
    return _DecimalMetadata(
        Field(
            **bounds,
            decimal_places=places,
            # Documents the places for JSON Schema readers (the web form's `step`); a number.
            json_schema_extra={"multipleOf": float(f"1e-{places}")},
            allow_inf_nan=False,
            description=description,
        )
    )


Rate = Annotated[
    Decimal,
    _decimal(
        4,
        'Money per hour, > 0, at most 4 decimal places, as a string like "37.50".',
        gt=0,
        max_digits=14,
    ),
]

# Places not in DESIGN: they bound the size of what is stored without hurting any real
# percentage.
Pct = Annotated[
    Decimal,
    _decimal(
        10, 'Percent units ("25" means 25 %), in [-100, 1000], as a string.', ge=-100, le=1000
    ),
]

# A fee of 100 % or more of the bill rate leaves no bill rate that breaks even.
FeePct = Annotated[Pct, Field(lt=100)]
# A markup of -100 % bills the client nothing: margin % is undefined.
MarkupPct = Annotated[Pct, Field(gt=-100)]

HoursPerWeek = Annotated[
    Decimal, _decimal(4, 'Hours a week, in (0, 168], as a string like "40".', gt=0, le=168)
]

Hours = Annotated[
    Decimal, _decimal(4, 'A number of hours, >= 0, as a string like "2080".', ge=0, max_digits=14)
]

Multiplier = Annotated[
    Decimal, _decimal(4, 'A multiplier of a rate, in (0, 10], as a string like "1.5".', gt=0, le=10)
]

WeekHours = Annotated[
    Decimal,
    _decimal(
        2,
        'Hours in one week, in [0, 168], at most 2 decimals, as a string like "40".',
        ge=0,
        le=168,
    ),
]

Name = Annotated[str, StringConstraints(max_length=NAME_MAX_CHARS, pattern=NOT_BLANK_PATTERN)]
Reason = Annotated[str, StringConstraints(max_length=REASON_MAX_CHARS, pattern=NOT_BLANK_PATTERN)]
Note = Annotated[str, StringConstraints(max_length=NOTE_MAX_CHARS, pattern=NOT_BLANK_PATTERN)]
Description = Annotated[
    str, StringConstraints(max_length=DESCRIPTION_MAX_CHARS, pattern=NOT_BLANK_PATTERN)
]

# Strict: a JSON `true` is the only yes; "no" or 0 silently turning into False would misfile a
# legal threat.
Flag = Annotated[bool, Field(strict=True)]

# Strict: counts are JSON integers; a string or a bool is a producer bug, not a count.
Weeks = Annotated[int, Field(strict=True, ge=1, le=520)]
Months = Annotated[int, Field(strict=True, ge=0, le=120)]
StreamVersion = Annotated[int, Field(strict=True, ge=1)]
SchemaVersion = Annotated[int, Field(strict=True, ge=1)]
