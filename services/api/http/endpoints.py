"""Endpoints made by a function, for a family of parallel routes built from a table
(services/api/routes/margins.py). FastAPI reads an endpoint's parameters from its signature, and
a path parameter must bear the name it has in the path, which a closure cannot vary: the maker
states the signature instead."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

Endpoint = Callable[..., Awaitable[Any]]


def param(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    """A parameter as a route's signature declares it: `name: annotation = default`."""
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


def endpoint(params: list[inspect.Parameter], answer: Endpoint) -> Endpoint:
    """`answer(**values)` as an endpoint that FastAPI calls with `params`, read and validated
    as from a route's own signature."""

    async def call(**values: Any) -> Any:
        return await answer(**values)

    call.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return call
