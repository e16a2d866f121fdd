"""What every HTTP answer gets, whatever route answers it: `X-Content-Type-Options: nosniff`,
`Cache-Control: no-store` on the /v1 answers and /metrics (they carry money or alerts), and a
body larger than the configured bound refused with 413 before it is read whole."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.http.asgi import HttpMiddleware
from services.api.http.errors import ApiError, error_body

NOSNIFF = (b"x-content-type-options", b"nosniff")
NO_STORE = (b"cache-control", b"no-store")


def _too_large(limit: int) -> ApiError:
    return ApiError.field(413, "(body)", f"must be at most {limit} bytes")


class Guards(HttpMiddleware):
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        super().__init__(app)
        self.max_body_bytes = max_body_bytes

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        private = scope["path"].startswith("/v1/") or scope["path"] == "/metrics"

        async def sent(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"x-content-type-options",)
                    and not (private and k.lower() == b"cache-control")
                ]
                headers.append(NOSNIFF)
                if private:
                    headers.append(NO_STORE)
                message = {**message, "headers": headers}
            await send(message)

        limit = self.max_body_bytes
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            # Refused before a byte of it is read.
            err = (
                _too_large(limit)
                if declared.isdigit()
                else ApiError.field(400, "Content-Length", "must be a number of bytes")
            )
            body = json.dumps(error_body(err.message, err.errors)).encode()
            await sent(
                {
                    "type": "http.response.start",
                    "status": err.status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await sent({"type": "http.response.body", "body": body})
            return

        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # a chunked body that turns out too large
                    raise _too_large(limit)
            return message

        await self.app(scope, counted, sent)
