"""One error body for every 4xx and 5xx, whatever raised it:
`{"errors": [{"field": ..., "reason": ...}], "message": ...}`.

Our routes raise `ApiError`; FastAPI's request validation, Starlette's 404 and 405 and any
`HTTPException` are translated here, and an unexpected exception answers 500 in the same shape.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from events.errors import FieldError

log = logging.getLogger("ledger.api")

WHOLE_REQUEST = "(request)"
"""The `field` of an error about the request as a whole rather than one of its parts."""

_REASONS = {
    401: "a valid bearer token is required",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    413: "too large",
    415: "unsupported media type",
    422: "invalid",
    500: "internal error",
    503: "unavailable",
}


class ApiError(Exception):
    """An answer other than success, with the fields at fault and why."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: Iterable[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = list(errors) if errors is not None else []
        self.headers = headers

    @classmethod
    def field(
        cls, status: int, field: str, reason: str, headers: dict[str, str] | None = None
    ) -> ApiError:
        return cls(status, f"{field}: {reason}", [FieldError(field=field, reason=reason)], headers)


def error_body(message: str, errors: Sequence[FieldError] | None = None) -> dict[str, Any]:
    errs = list(errors) if errors else [FieldError(field=WHOLE_REQUEST, reason=message)]
    return {"errors": errs, "message": message}


def error_response(
    status: int,
    message: str,
    errors: Sequence[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(message, errors), status_code=status, headers=headers)


def _location(loc: Sequence[Any]) -> str:
    # ("query", "limit") -> "limit"; ("header", "Last-Event-ID") -> "Last-Event-ID"
    parts = [str(p) for p in loc[1:]] if len(loc) > 1 else [str(p) for p in loc]
    return ".".join(parts) or WHOLE_REQUEST


def _reason(e: dict[str, Any]) -> str:
    msg = str(e.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")


class AllowedMethods:
    """Every method some operation answers at a path, as /openapi.json documents them
    (Starlette's 405 lists only the first matching route's); the table read once, when first
    asked (the app's routes are all in by then)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.table: list[tuple[re.Pattern[str], list[str]]] | None = None

    def __call__(self, path: str) -> list[str]:
        if self.table is None:
            self.table = [
                (compile_path(template)[0], sorted(m.upper() for m in ops))
                for template, ops in self.app.openapi()["paths"].items()
            ]
        return sorted({m for regex, methods in self.table if regex.match(path) for m in methods})


def install(app: FastAPI) -> None:
    allowed_methods = AllowedMethods(app)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.errors, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            FieldError(field=_location(e.get("loc", ())), reason=_reason(e)) for e in exc.errors()
        ]
        message = "; ".join(f"{e['field']}: {e['reason']}" for e in errors) or "invalid request"
        return error_response(422, message, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request.url.path))
            message = f"{request.method} is not allowed here; allowed: {headers['Allow']}"
        elif exc.status_code == 404 and exc.detail == "Not Found":
            message = f"{request.url.path} is not a resource of this API"
        elif isinstance(exc.detail, str):
            message = exc.detail
        else:
            message = _REASONS.get(exc.status_code, "error")
        return error_response(exc.status_code, message, None, headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error answering %s %s", request.method, request.url.path)
        # Answered by Starlette's outermost middleware, outside services/api/http/guards.py.
        return error_response(
            500,
            "internal error: the request could not be answered",
            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
        )
