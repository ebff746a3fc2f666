"""Pure ASGI middleware: request ids with a catch-all 500, and the request body size limit (413).

Both are plain ASGI (not ``BaseHTTPMiddleware``) so streaming responses and client disconnects pass through.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.rest.errors import error_body, request_id_of

logger = logging.getLogger("newsqa.rest")

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class RequestContextMiddleware:
    """Gives every HTTP request an id and turns any unhandled exception into a JSON 500.

    The id is the client's ``X-Request-ID`` when it is 1..64 characters of ``[A-Za-z0-9._-]``, else a new uuid4
    hex; it is stored in ``scope["state"]["request_id"]`` and sent back in the ``X-Request-ID`` header. An
    exception escaping the app is logged (with traceback) as ``unhandled error request_id=<id>``; the client gets
    ``{"error": {"code": "internal_error", ...}, "request_id": <id>}`` and never the traceback.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _VALID_ID.match(incoming) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception(
                "unhandled error request_id=%s method=%s path=%s",
                request_id,
                scope.get("method"),
                scope.get("path"),
            )
            if response_started:
                return  # the status line is gone; the connection ends with an incomplete body
            body = error_body(
                500,
                "internal_error",
                f"internal server error; quote request id {request_id} when reporting it",
                request_id=request_id,
            )
            await JSONResponse(body, status_code=500)(scope, receive, send_with_id)


class BodySizeLimitMiddleware:
    """Rejects request bodies over ``max_bytes`` with a JSON 413 before the app sees them.

    A declared ``Content-Length`` over the limit is refused at once; a chunked body is counted while it is read.
    Up to ``drain_bytes`` of a rejected body are read and discarded so the client can read the 413 instead of a
    connection reset. Accepted bodies (at most ``max_bytes``) are buffered and replayed to the app.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, drain_bytes: int = 4 * 1024 * 1024,
                 path_limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.drain_bytes = max(drain_bytes, max_bytes)
        #: Exact paths with their own limit (the admin upload takes whole page files), each its own limiter.
        self._by_path = {path: BodySizeLimitMiddleware(app, limit, drain_bytes)
                         for path, limit in (path_limits or {}).items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        own = self._by_path.get(scope.get("path", ""))
        if own is not None:
            await own(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        declared_size: int | None = None
        if declared is not None:
            try:
                declared_size = int(declared)
            except ValueError:
                declared_size = None
        if declared_size is not None and declared_size > self.max_bytes:
            await self._drain(receive, 0, declared_size)
            await self._reject(scope, receive, send)
            return

        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # client went away before sending its body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                if message.get("more_body", False):
                    await self._drain(receive, size, None)
                await self._reject(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)

        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _drain(self, receive: Receive, already: int, declared: int | None) -> None:
        """Read and drop the rest of a rejected body, at most ``drain_bytes`` in total."""
        if declared is not None and declared > self.drain_bytes:
            return
        read = already
        while read <= self.drain_bytes:
            message = await receive()
            if message["type"] != "http.request":
                return
            read += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        body: dict[str, Any] = error_body(
            413,
            "body_too_large",
            f"body: request body is larger than {self.max_bytes} bytes",
            param="body",
            request_id=request_id_of(scope),
        )
        await JSONResponse(body, status_code=413, headers={"Connection": "close"})(scope, receive, send)
