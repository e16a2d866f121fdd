"""Reusable field types for the event catalogue: ids, money, percentages, hours and text.

Money and percentages are `Decimal` end to end. The serializer parses JSON with
`parse_float=Decimal`, so a Python `float` reaching a model means some producer decoded JSON
the lossy way; it is refused rather than silently rounded into the money path.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Final

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

ID_PATTERN: Final = r"^[A-Za-z0-9._:-]{1,64}$"
_ID_RE: Final = re.compile(ID_PATTERN)

REASON_MAX_CHARS: Final = 1000
NOTE_MAX_CHARS: Final = 1000
DESCRIPTION_MAX_CHARS: Final = 4000
NAME_MAX_CHARS: Final = 200

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


def _check_id(value: object) -> object:
    # Checked before pydantic's own pattern so the refusal says what an id may hold; the
    # StringConstraints below stay for the JSON schema.
    if isinstance(value, str) and not _ID_RE.fullmatch(value):
        raise PydanticCustomError(
            "id_format", "must be 1 to 64 characters, each a letter, a digit or one of . _ : -"
        )
    return value


def _refuse_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank_text", "must not be empty or only whitespace")
    return value


_NO_FLOAT = BeforeValidator(_refuse_float)

Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=ID_PATTERN),
    BeforeValidator(_check_id),
]
"""An identifier chosen by the submitter: 1–64 characters of `[A-Za-z0-9._:-]`."""

Rate = Annotated[
    Decimal,
    Field(
        gt=0,
        decimal_places=4,
        max_digits=14,
        allow_inf_nan=False,
        description='Money per hour, > 0, at most 4 decimal places, as a string like "37.50".',
    ),
    _NO_FLOAT,
]

Pct = Annotated[
    Decimal,
    Field(
        ge=-100,
        le=1000,
        # Not in DESIGN; bounds the size of what is stored without hurting any real percentage.
        decimal_places=10,
        allow_inf_nan=False,
        description='Percent units ("25" means 25 %), in [-100, 1000], as a string.',
    ),
    _NO_FLOAT,
]

# A fee of 100 % or more of the bill rate leaves no bill rate that breaks even.
FeePct = Annotated[Pct, Field(lt=100)]
# A markup of -100 % bills the client nothing: margin % is undefined.
MarkupPct = Annotated[Pct, Field(gt=-100)]

HoursPerWeek = Annotated[
    Decimal,
    Field(
        gt=0,
        le=168,
        decimal_places=4,
        allow_inf_nan=False,
        description='Hours a week, in (0, 168], as a string like "40".',
    ),
    _NO_FLOAT,
]

Hours = Annotated[
    Decimal,
    Field(
        ge=0,
        decimal_places=4,
        max_digits=14,
        allow_inf_nan=False,
        description='A number of hours, >= 0, as a string like "2080".',
    ),
    _NO_FLOAT,
]

Name = Annotated[str, StringConstraints(max_length=NAME_MAX_CHARS), AfterValidator(_refuse_blank)]
Reason = Annotated[
    str, StringConstraints(max_length=REASON_MAX_CHARS), AfterValidator(_refuse_blank)
]
Note = Annotated[str, StringConstraints(max_length=NOTE_MAX_CHARS), AfterValidator(_refuse_blank)]
Description = Annotated[
    str, StringConstraints(max_length=DESCRIPTION_MAX_CHARS), AfterValidator(_refuse_blank)
]

# Strict: a JSON `true` is the only yes; "no" or 0 silently turning into False would misfile a
# legal threat.
Flag = Annotated[bool, Field(strict=True)]

# Strict: counts are JSON integers; a string or a bool is a producer bug, not a count.
Weeks = Annotated[int, Field(strict=True, ge=1, le=520)]
Months = Annotated[int, Field(strict=True, ge=0, le=120)]
StreamVersion = Annotated[int, Field(strict=True, ge=1)]
SchemaVersion = Annotated[int, Field(strict=True, ge=1)]
