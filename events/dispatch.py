"""Dispatch that cannot forget an event type.

Every dispatcher over event types (the writer's checks and fold, the risk fold, the read model)
is a `functools.singledispatch` registry whose base case refuses (`unhandled`) and which names
every type of the catalogue, a type with nothing to do by a handler saying so. Each module calls
`require_every_event_type` on its registry when it is imported: a new event type in the catalogue
fails every import (and so every test) until each dispatcher has decided what to do with it.
tests/unit/test_dispatch.py lists every event type against every dispatcher, the web app's
wording included.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from events.catalogue import EVENT_MODELS, EventBase


def unhandled(dispatcher: str, event: EventBase) -> NoReturn:
    """What a dispatcher's base case does: never pass an event silently."""
    raise TypeError(f"{dispatcher} has no handler for {type(event).__name__}")


def missing_event_types(handled: Iterable[Any]) -> list[str]:
    """The catalogue's event types not in `handled` (a registry's keys), by name."""
    keys = set(handled)
    return [model.__name__ for model in EVENT_MODELS if model not in keys]


def require_every_event_type(dispatcher: str, registry: Mapping[Any, Any]) -> None:
    """TypeError unless `registry` (a singledispatch's) has a handler of its own for every event
    type of the catalogue."""
    missing = missing_event_types(registry)
    if missing:
        raise TypeError(f"{dispatcher} handles no {', '.join(missing)}: add a handler for each")
