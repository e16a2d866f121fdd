"""503 Service Unavailable, with a Retry-After and the one error body, whenever PostgreSQL or
Kafka cannot be reached: a dependency that is away is the service's temporary state, not a bug
(500), and a client that retries the same request later gets its answer."""

from __future__ import annotations

import traceback
from typing import Final

import asyncpg
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

RETRY_AFTER_S: Final = 5

# What a dependency that is away (or restarting) raises through asyncpg and aiokafka.
POSTGRES_ERRORS: Final = (
    asyncpg.PostgresConnectionError,  # the connection is gone or cannot be made
    asyncpg.CannotConnectNowError,  # the server is starting or shutting down
    asyncpg.InterfaceError,  # "connection is closed", "pool is closing"
    asyncpg.exceptions.InternalClientError,  # a connection broken in the middle of a query
)
KAFKA_ERRORS: Final = (KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError)


class Unavailable(Exception):
    """A dependency cannot be reached now: answered 503 with `Retry-After`."""

    def __init__(self, dependency: str, reason: str) -> None:
        super().__init__(f"{dependency}: {reason}")
        self.dependency = dependency
        self.reason = reason


def response(dependency: str, reason: str) -> JSONResponse:
    return JSONResponse(
        {
            "errors": [{"field": dependency, "reason": reason}],
            "message": f"The service is unavailable: {dependency} cannot be reached now; "
            f"retry in {RETRY_AFTER_S} s.",
        },
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def _dependency_of(exc: BaseException) -> str | None:
    """'postgresql' or 'kafka' when the exception came out of their client library."""
    if isinstance(exc, POSTGRES_ERRORS):
        return "postgresql"
    if isinstance(exc, KAFKA_ERRORS):
        return "kafka"
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        module = frame.f_globals.get("__name__", "")
        if module.startswith("asyncpg"):
            return "postgresql"
        if module.startswith("aiokafka"):
            return "kafka"
    return None


async def _handler(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, Unavailable):
        return response(exc.dependency, exc.reason)
    dependency = _dependency_of(exc)
    if dependency is None:
        raise exc  # not a dependency away: a bug, answered 500 as any other
    detail = str(exc) or type(exc).__name__
    return response(dependency, f"unreachable ({type(exc).__name__}: {detail})"[:500])


def install(app: FastAPI) -> None:
    """Answers 503 for Unavailable and for the errors of an unreachable PostgreSQL or Kafka."""
    for cls in (Unavailable, *POSTGRES_ERRORS, *KAFKA_ERRORS, OSError):
        app.add_exception_handler(cls, _handler)
