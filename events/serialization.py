"""The one serializer every producer and consumer of events uses.

JSON is parsed with `parse_float=Decimal`, so a number such as 37.50 arrives as
`Decimal("37.50")` and no float ever touches money; decimals are written as strings exactly as
stored.
"""

from __future__ import annotations

import json
import re
from binascii import unhexlify
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, NamedTuple, NoReturn

from pydantic import ValidationError
from pydantic_core import to_json

from events.catalogue import (
    EVENT_ADAPTER,
    EVENT_TYPES,
    OVERTIME_RATES,
    STAMPED_FIELDS,
    Event,
    EventBase,
    RatesAdjusted,
)
from events.errors import WHOLE_EVENT, EventValidationError, FieldError
from events.fields import ID_PATTERN
from events.upcasting import UPCASTERS, Upcasters

EXPECTED_STREAM_VERSION: Final = "expected_stream_version"

MAX_AHEAD: Final = timedelta(hours=24)
"""How far `occurred_at` may be ahead of the service's clock (DESIGN): further is a typo, and
the rules' time must never run ahead for one contract because of another's."""
OCCURRED_IN_FUTURE: Final = "occurred_in_future"

JsonInput = bytes | bytearray | memoryview | str


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number")


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # With duplicates, which value counts depends on the parser: two readers could disagree
    # about what the event says.
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def encode_json(obj: Any) -> bytes:
    """Compact JSON; Decimals as strings, datetimes and dates ISO 8601, UUIDs as strings."""
    return to_json(obj)


def decode_json(data: JsonInput) -> Any:
    """Parse JSON with every non-integer number as a Decimal; NaN, Infinity and repeated keys
    are refused (ValueError)."""
    return json.loads(
        bytes(data) if isinstance(data, bytearray | memoryview) else data,
        parse_float=Decimal,
        parse_constant=_refuse_constant,
        object_pairs_hook=_refuse_duplicate_keys,
    )


_VALIDATE_JSON: Final = EVENT_ADAPTER.validator.validate_json


def encode_event(event: EventBase) -> bytes:
    """The event as compact JSON, without the fields that are None."""
    return event.__pydantic_serializer__.to_json(event, exclude_none=True)


def decode_event(data: JsonInput | Mapping[str, Any], *, upcasters: Upcasters = UPCASTERS) -> Event:
    """Read an event from JSON (or an already-parsed object), upcast it and validate it.

    Raises EventValidationError naming each refused field.
    """
    if isinstance(data, bytes | bytearray | memoryview | str):
        # Events read back from the log are nearly always of the current schema: parsing and
        # validating them in one pass is ~3x faster, which a replay of years of history needs.
        # An older schema_version fails this (the models accept only the current one) and so
        # does anything odd: both take the careful path below, which upcasts and explains.
        # The adapter's own validator is called directly: the same validation, without
        # TypeAdapter.validate_json's Python wrapper (~10 % of the time of a replay's decoding).
        try:
            event: Event = _VALIDATE_JSON(
                bytes(data) if isinstance(data, bytearray | memoryview) else data
            )
            return event
        except ValidationError:
            pass
    return _validate(upcasters.upcast(json_object(data)))


class EventHead(NamedTuple):
    """What `read_head` reads of a logged event's bytes without decoding the rest."""

    event_id: bytes
    """The 16 bytes of its `event_id`."""
    type: str
    contract_id: str
    stream_version: int
    content: bytes
    """The record without the fields the service stamped: the same bytes as
    `to_json(event, exclude_none=True, exclude=STAMPED_FIELDS)`, what its content hash hashes."""


# The fields every event starts with, in the order `encode_event` writes them (EventBase's
# field order; a subclass's own fields follow, its `type` and `schema_version` stay in place),
# the stamped ones (recorded_by, recorded_at, stream_version) together after occurred_at. Ids
# as the catalogue's `Id` allows them, the event id as a UUID is written (lower-case, hyphens).
_ID: Final = ID_PATTERN.removeprefix("^").removesuffix("$").encode()
_HEAD: Final = re.compile(
    rb'\{"event_id":"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"'
    rb',"type":"([A-Za-z]+","schema_version":[1-9][0-9]*),"contract_id":"(' + _ID + rb')"'
    rb',"occurred_at":"[^"\\]*"()'  # () marks where the stamped fields start
    rb'(?:,"recorded_by":"' + _ID + rb'")?(?:,"recorded_at":"[^"\\]*")?'
    rb',"stream_version":([1-9][0-9]*)[,}]'
)
_CURRENT: Final = {
    f'{name}","schema_version":{model.SCHEMA_VERSION}'.encode(): name
    for name, model in EVENT_TYPES.items()
}
"""Each type with its current schema version, as the head reads them."""


def _current_head(data: bytes) -> tuple[re.Match[bytes], str] | None:
    """`_HEAD`'s match of an event of its type's current schema version, and the type."""
    head = _HEAD.match(data)
    if head is None:
        return None
    name = _CURRENT.get(head.group(2))
    return None if name is None else (head, name)


_TYPE_AT: Final = len(b'{"event_id":"') + 36 + len(b'","type":"')
"""Where the type's name starts in an event as `encode_event` writes it."""


class StreamHead(NamedTuple):
    """What `read_stream_head` reads of a logged event's bytes."""

    type: str
    contract_id: str
    stream_version: int


def head_types(names: Iterable[str]) -> tuple[bytes, ...]:
    """The `types` argument of `read_stream_head` for these type names."""
    return tuple(f'{name}"'.encode() for name in sorted(names))


def read_stream_head(data: bytes, types: tuple[bytes, ...]) -> StreamHead | None:
    """The type, contract and stream version of an event of the log of one of `types`
    (`head_types`), read as `read_head` reads them: from its bytes alone, and only when they
    start as `encode_event` writes an event of the type's current schema version; else None
    (another type, an older schema version to upcast, bytes written otherwise: `decode_event`
    reads those).

    Asked of every event of a replay, so any other type is told apart by a comparison of a
    few bytes at the place the type's name takes in an event as `encode_event` writes it.
    """
    if not data.startswith(types, _TYPE_AT):
        return None
    matched = _current_head(data)
    if matched is None:
        return None
    head, name = matched
    return StreamHead(name, head.group(3).decode(), int(head.group(5)))


class RatesChange(NamedTuple):
    """What `read_rates_adjusted` reads of a RatesAdjusted's bytes: every field the read model
    applies, typed as the decoded event's (`overtime_rates` alike), the id as its text. Not its
    reason, nor who recorded it when: the read model has no use for them."""

    event_id: str
    contract_id: str
    occurred_at: datetime
    stream_version: int
    assignment_id: str
    pay_rate: Decimal
    bill_rate: Decimal
    effective_date: date
    ot_pay_rate: Decimal | None
    ot_bill_rate: Decimal | None
    dt_pay_rate: Decimal | None
    dt_bill_rate: Decimal | None
    type: str = "RatesAdjusted"

    def overtime_rates(self) -> dict[str, Decimal | None]:
        """The OT and DT rates as given (None: derived), as `RatesAdjusted.overtime_rates`."""
        return {
            "ot_pay_rate": self.ot_pay_rate,
            "ot_bill_rate": self.ot_bill_rate,
            "dt_pay_rate": self.dt_pay_rate,
            "dt_bill_rate": self.dt_bill_rate,
        }


# A time as `encode_event` writes an aware datetime (whole seconds, or microseconds), a date,
# a decimal (as `str(Decimal)` writes a finite one), a JSON text (any escapes).
_DATE: Final = rb"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_TIME: Final = _DATE + rb"T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{6})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
_DECIMAL: Final = rb"-?[0-9]+(?:\.[0-9]+)?(?:E[+-][0-9]+)?"
# An id's characters (the writer validated the rest of `Id`: nothing to escape in JSON).
_ID_TEXT: Final = rb"[A-Za-z0-9._:-]+"
_TEXT: Final = rb'[^"\\]*(?:\\.[^"\\]*)*'  # runs between escapes: no step per character
_RATES_AT: Final = b'","type":"RatesAdjusted","schema_version":%d,' % RatesAdjusted.SCHEMA_VERSION
_ID_END: Final = len(b'{"event_id":"') + 36
"""Where an event as `encode_event` writes it has the event id's closing quote."""
_RATES_ADJUSTED: Final = re.compile(
    b"".join(
        (
            rb'\{"event_id":"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})',
            _RATES_AT,
            rb'"contract_id":"(%b)","occurred_at":"(%b)"' % (_ID_TEXT, _TIME),
            rb'(?:,"recorded_by":"%b")?(?:,"recorded_at":"%b")?' % (_ID_TEXT, _TIME),
            rb',"stream_version":([1-9][0-9]*),"assignment_id":"(%b)"' % _ID_TEXT,
            rb',"pay_rate":"(%b)","bill_rate":"(%b)"' % (_DECIMAL, _DECIMAL),
            rb',"effective_date":"(%b)","reason":"%b"' % (_DATE, _TEXT),
            *(rb'(?:,"%b":"(%b)")?' % (name.encode(), _DECIMAL) for name in OVERTIME_RATES),
            rb"\}",
        )
    )
)


def read_rates_adjusted(data: bytes) -> RatesChange | None:
    """The fields of a RatesAdjusted of the log that the read model applies, read from its
    bytes when they are of the type's current schema version as `encode_event` writes it (its
    fields in their order, nothing else), typed as `decode_event` types them; else None
    (another type, an older schema version to upcast, bytes written otherwise).

    Only for bytes the writer validated before appending them (the events of the log): they
    are not validated again (their reason is not read), only typed. RatesAdjusted is the most
    frequent event that changes margins: decoding it whole was two fifths of what a catch-up
    still decoded, at about twice the cost of this.
    """
    if not data.startswith(_RATES_AT, _ID_END):  # any other type: a few bytes compared
        return None
    m = _RATES_ADJUSTED.fullmatch(data)
    if m is None:
        return None
    (event_id, contract_id, occurred, version, assignment_id, pay, bill, effective,
     ot_pay, ot_bill, dt_pay, dt_bill) = m.groups()  # fmt: skip
    try:
        return RatesChange(
            event_id.decode(),
            contract_id.decode(),
            datetime.fromisoformat(occurred.decode()),
            int(version),
            assignment_id.decode(),
            Decimal(pay.decode()),
            Decimal(bill.decode()),
            date.fromisoformat(effective.decode()),
            None if ot_pay is None else Decimal(ot_pay.decode()),
            None if ot_bill is None else Decimal(ot_bill.decode()),
            None if dt_pay is None else Decimal(dt_pay.decode()),
            None if dt_bill is None else Decimal(dt_bill.decode()),
        )
    except ValueError:  # no such day or time (never written by the writer): decoding says why
        return None


_ID_FIRST: Final = b'{"event_id":"'


def event_id_text(data: bytes) -> str | None:
    """`str(event.event_id)` of the event `data` holds, read at its place when `encode_event`
    wrote the bytes (the id first, as a lower-case hyphenated UUID); else None. Only for bytes
    `decode_event` read: a valid id of 36 characters between quotes, without escapes, is the
    hyphenated form, which `str` writes in lower case."""
    if data.startswith(_ID_FIRST) and data[49:50] == b'"':
        text = data[13:49].decode("latin-1")
        # An id of digits alone has no case: not read here.
        if text.isascii() and text.islower() and "\\" not in text:
            return text
    return None


def read_head(data: bytes) -> EventHead | None:
    """The head of an event of the log, read from its bytes alone, when they start as
    `encode_event` writes an event of its type's current schema version; else None (an older
    schema version to upcast, or bytes written otherwise: `decode_event` reads those).

    Only the head is read: the rest is neither parsed nor validated. For a replay of a log
    that the writer alone wrote (every event validated before it was appended, then encoded by
    `encode_event`), the bytes ARE the canonical encoding of the event: the content hash is
    taken from them, without decoding and encoding again (what a writer's first fold of
    millions of events spends most of its time on otherwise). A content hash kept in the
    writer's state topic already relies on `encode_event` writing the same bytes for the same
    event from one release to the next.
    """
    matched = _current_head(data)
    if matched is None:
        return None
    head, name = matched
    event_id, _, cid, _, version = head.groups()
    return EventHead(
        unhexlify(event_id.replace(b"-", b"")),
        name,
        cid.decode(),
        int(version),
        # Without what lies between occurred_at and the comma or brace after stream_version.
        data[: head.start(4)] + data[head.end() - 1 :],
    )


def parse_submission(
    data: JsonInput | Mapping[str, Any],
    *,
    now: datetime | None = None,
    upcasters: Upcasters = UPCASTERS,
) -> tuple[Event, int | None]:
    """Read what a submitter sent: the event, and the `expected_stream_version` if given.

    The fields the service stamps are refused; with `now` (the service's clock), so is an
    `occurred_at` more than MAX_AHEAD after it. Every problem found is reported at once.
    """
    raw = json_object(data)
    errors: list[FieldError] = []

    expected = raw.pop(EXPECTED_STREAM_VERSION, None)
    if expected is not None and (
        isinstance(expected, bool) or not isinstance(expected, int) or expected < 0
    ):
        errors.append(FieldError(field=EXPECTED_STREAM_VERSION, reason="must be an integer >= 0"))
    for field in STAMPED_FIELDS:
        if field in raw:
            del raw[field]
            errors.append(FieldError(field=field, reason="set by the service; do not send it"))

    try:
        event = _validate(upcasters.upcast(raw))
    except EventValidationError as exc:
        raise EventValidationError(errors + exc.errors) from exc
    if errors:
        raise EventValidationError(errors)
    if now is not None and event.occurred_at > now + MAX_AHEAD:
        ahead = event.occurred_at - now
        raise EventValidationError(
            [
                FieldError(
                    field="occurred_at",
                    reason=f"{OCCURRED_IN_FUTURE}: {event.occurred_at.isoformat()} is "
                    f"{_days_hours(ahead)} ahead of the service's clock ({now.isoformat()}); "
                    f"at most {MAX_AHEAD.total_seconds() / 3600:.0f} hours ahead is accepted",
                )
            ],
            code=OCCURRED_IN_FUTURE,
        )
    return event, expected


def _days_hours(span: timedelta) -> str:
    hours = int(span.total_seconds() // 3600)
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} hours" if days else f"{hours} hours"


def json_object(data: JsonInput | Mapping[str, Any]) -> dict[str, Any]:
    """`data` as a JSON object (a dict), else an EventValidationError about the whole of it."""
    if isinstance(data, Mapping):
        return dict(data)
    try:
        obj = decode_json(data)
    except (ValueError, RecursionError) as exc:
        raise EventValidationError.single(WHOLE_EVENT, f"not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise EventValidationError.single(WHOLE_EVENT, "must be a JSON object")
    return obj


def _validate(raw: dict[str, Any]) -> Event:
    try:
        return EVENT_ADAPTER.validate_python(raw)
    except ValidationError as exc:
        raise EventValidationError.from_pydantic(exc, known_types=EVENT_TYPES) from exc
