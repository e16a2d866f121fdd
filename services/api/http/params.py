"""The query, path and header parameters the routes share, each validated to a clear 422."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, BeforeValidator

from events.fields import ID_PATTERN

_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
MAX_OFFSET = 1_000_000_000
_ID_WORDS = "1-64 of [A-Za-z0-9._:-], not . or .. alone"


def _iso_day(value: object) -> object:
    # pydantic's lax date would read `0` or `1700000000` as a unix time: only YYYY-MM-DD here.
    if isinstance(value, str) and not _DAY.match(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


def _nothing(value: date) -> date:
    return value


Day = Annotated[date, BeforeValidator(_iso_day), AfterValidator(_nothing)]

AsOf = Annotated[
    Day | None, Query(description="the day to compute for, YYYY-MM-DD; default today (UTC)")
]
Since = Annotated[Day | None, Query(description="changes made on or after this day, YYYY-MM-DD")]
Limit = Annotated[int, Query(ge=1, le=1000, description="at most this many items")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="skip this many items")]


def id_path(what: str) -> object:
    return Path(
        pattern=ID_PATTERN, description=f"the {what} id: 1-64 of [A-Za-z0-9._:-], not . or .. alone"
    )


def id_query(what: str) -> object:
    return Query(
        pattern=ID_PATTERN,
        description=f"only this {what}: 1-64 of [A-Za-z0-9._:-], not . or .. alone",
    )


ContractIdPath = Annotated[str, id_path("contract")]
AssignmentIdPath = Annotated[str, id_path("assignment")]
ClientIdPath = Annotated[str, id_path("client")]
AccountManagerIdPath = Annotated[str, id_path("account manager")]
AlertIdPath = Annotated[str, id_path("alert")]
ContractIdQuery = Annotated[str | None, id_query("contract")]
AssignmentIdQuery = Annotated[str | None, id_query("assignment")]
ClientIdQuery = Annotated[str | None, id_query("client")]
AccountManagerIdQuery = Annotated[str | None, id_query("account manager")]
