"""Upcasting: lifting a raw event written under an older schema version to the current one.

The log is never rewritten: an old event stays in Kafka as it was written and is upcast each
time it is read. An upcaster is a pure function `dict -> dict` from version n of one event
type to version n + 1; the registry stamps the new `schema_version` itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final

from events.catalogue import (
    DEFAULT_DT_BILL_MULTIPLIER,
    DEFAULT_OT_BILL_MULTIPLIER,
    EVENT_TYPES,
)
from events.errors import EventValidationError

RawEvent = dict[str, Any]
Upcaster = Callable[[RawEvent], RawEvent]

_FIRST_VERSION: Final = 1


class SchemaVersionError(EventValidationError):
    """The raw event's `schema_version` cannot be brought to the current version."""

    def __init__(self, reason: str) -> None:
        super().__init__([{"field": "schema_version", "reason": reason}])


class Upcasters:
    """Upcasters keyed by `(event type, version they lift from)`.

    `current_versions` maps each event type to the version this service validates; types
    missing from it are passed through untouched, for validation to refuse.
    """

    def __init__(self, current_versions: Mapping[str, int]) -> None:
        self._current = dict(current_versions)
        self._steps: dict[tuple[str, int], Upcaster] = {}

    def current_version(self, event_type: str) -> int | None:
        return self._current.get(event_type)

    def register(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Decorate a function lifting `event_type` from `from_version` to `from_version + 1`."""
        current = self._current.get(event_type)
        if current is None:
            raise ValueError(f"unknown event type {event_type!r}")
        if not _FIRST_VERSION <= from_version < current:
            raise ValueError(
                f"{event_type} is at version {current}: an upcaster must lift from a version "
                f"in [{_FIRST_VERSION}, {current - 1}], not {from_version}"
            )
        key = (event_type, from_version)
        if key in self._steps:
            raise ValueError(f"an upcaster for {event_type} v{from_version} is already registered")

        def decorate(step: Upcaster) -> Upcaster:
            self._steps[key] = step
            return step

        return decorate

    def upcast(self, raw: Mapping[str, Any]) -> RawEvent:
        """Return a copy of `raw` lifted to its type's current version; `raw` is not changed."""
        event = dict(raw)
        event_type = event.get("type")
        if not isinstance(event_type, str) or event_type not in self._current:
            return event
        current = self._current[event_type]
        version = event.get("schema_version", _FIRST_VERSION)
        if isinstance(version, bool) or not isinstance(version, int):
            raise SchemaVersionError(f"must be an integer, got {version!r}")
        if version > current:
            raise SchemaVersionError(
                f"{event_type} v{version} is newer than this service knows "
                f"(v{current}); upgrade the service before it reads this event"
            )
        if version < _FIRST_VERSION:
            raise SchemaVersionError(f"must be at least {_FIRST_VERSION}, got {version}")
        while version < current:
            step = self._steps.get((event_type, version))
            if step is None:
                raise SchemaVersionError(
                    f"no upcaster lifts {event_type} from v{version} to v{version + 1}"
                )
            lifted = step(dict(event))
            if not isinstance(lifted, dict):
                raise TypeError(f"the upcaster of {event_type} v{version} did not return a dict")
            version += 1
            event = {**lifted, "schema_version": version}
        return event


UPCASTERS: Final = Upcasters({name: model.SCHEMA_VERSION for name, model in EVENT_TYPES.items()})
"""The registry the serializer uses."""


# Version 2: overtime and double time (DESIGN "Overtime, hours worked and client health").
# A v1 event was written before OT existed: its contract bills OT and DT at the default
# multipliers, its assignment plans no OT and is not exempt, and its rates give no OT or DT
# rate (derived when read). Defaults are written out, so that a v1 event reads exactly as the
# v2 event of the same facts would.


@UPCASTERS.register("ContractSigned", from_version=1)
def _contract_signed_v1(raw: RawEvent) -> RawEvent:
    raw.setdefault("ot_bill_multiplier", DEFAULT_OT_BILL_MULTIPLIER)
    raw.setdefault("dt_bill_multiplier", DEFAULT_DT_BILL_MULTIPLIER)
    return raw


@UPCASTERS.register("AssignmentStarted", from_version=1)
def _assignment_started_v1(raw: RawEvent) -> RawEvent:
    raw.setdefault("planned_ot_hours_per_week", Decimal(0))
    raw.setdefault("ot_exempt", False)
    return raw


def _fields_added_none_set(raw: RawEvent) -> RawEvent:
    """v2 only added optional fields that a v1 event cannot have set: it reads as it was
    (a v1 event that does set one is refused by validation, as before)."""
    return raw


for _type in ("ContractAmended", "RatesAdjusted", "RaiseApproved", "MarkupAgreed"):
    UPCASTERS.register(_type, from_version=1)(_fields_added_none_set)
