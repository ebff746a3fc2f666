"""JSON error bodies and the exception handlers that produce them.

Every error response of the API has one shape, compatible with the OpenAI error object so that OpenAI clients
show the message::

    {"error": {"code": "validation_error", "type": "invalid_request_error",
               "message": "question: must not be empty or whitespace", "param": "question",
               "fields": [{"field": "question", "message": "must not be empty or whitespace"}]},
     "request_id": "5f0c..."}

No body ever carries a stack trace or an exception's internals: unexpected errors become a 500 whose body only
holds the request id, and the traceback goes to the log under that same id.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.errors import (
    DiskReserveError,
    EmbeddingModelError,
    EmptyStoreError,
    IngestLockedError,
    InputError,
    ModelMismatchError,
    NewsQAError,
    StoreFormatError,
    StoreUnavailableError,
)

logger = logging.getLogger("newsqa.rest")

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    500: "server_error",
    503: "service_unavailable",
}


class ApiError(Exception):
    """An error the API answers with a JSON body: HTTP ``status``, machine ``code``, human ``message``.

    ``param`` names the offending field (or None); ``headers`` are added to the response.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.headers = dict(headers or {})


def request_id_of(scope_or_request: Request | Mapping[str, Any]) -> str | None:
    """The request id set by :class:`bot.rest.middleware.RequestContextMiddleware`, or None outside a request."""
    scope = scope_or_request.scope if isinstance(scope_or_request, Request) else scope_or_request
    state = scope.get("state") or {}
    value = state.get("request_id") if isinstance(state, Mapping) else None
    return str(value) if value else None


def error_body(
    status: int,
    code: str,
    message: str,
    *,
    param: str | None = None,
    fields: Sequence[Mapping[str, str]] | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The JSON error object (see the module docstring); ``fields`` lists ``{"field", "message"}`` pairs."""
    error: dict[str, Any] = {
        "code": code,
        "type": _TYPES.get(status, "invalid_request_error" if status < 500 else "server_error"),
        "message": message,
        "param": param,
    }
    if fields:
        error["fields"] = [dict(f) for f in fields]
    return {"error": error, "request_id": request_id}


def error_response(
    request: Request | Mapping[str, Any],
    status: int,
    code: str,
    message: str,
    *,
    param: str | None = None,
    fields: Sequence[Mapping[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A :class:`JSONResponse` with :func:`error_body`, carrying the current request id."""
    body = error_body(status, code, message, param=param, fields=fields, request_id=request_id_of(request))
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def field_name(loc: Sequence[str | int]) -> str:
    """``("body", "messages", 0, "content")`` -> ``"messages[0].content"``; a bare ``("body",)`` -> ``"body"``."""
    parts = list(loc)
    if len(parts) > 1 and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name or "body"


def _clean_message(msg: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return msg


def service_error_status(err: NewsQAError) -> tuple[int, str]:
    """HTTP status and error code for a core error (the message is ``str(err)``, safe to show)."""
    if isinstance(err, InputError):
        return 422, "invalid_input"
    if isinstance(err, IngestLockedError):
        return 409, "ingest_running"
    if isinstance(err, StoreFormatError):
        return 503, "store_format"
    if isinstance(err, ModelMismatchError):
        return 503, "model_mismatch"
    if isinstance(err, DiskReserveError):
        return 507, "disk_reserve"
    if isinstance(err, StoreUnavailableError):
        return 503, "store_unavailable"
    if isinstance(err, EmptyStoreError):
        return 503, "store_empty"
    if isinstance(err, EmbeddingModelError):
        return 503, "embedding_model_unavailable"
    return 500, "service_error"


async def _api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(request, exc.status, exc.code, exc.message, param=exc.param, headers=exc.headers)


async def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields: list[dict[str, str]] = []
    bad_json = False
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            bad_json = True
            detail = (err.get("ctx") or {}).get("error") or err.get("msg") or "invalid JSON"
            fields.append({"field": "body", "message": f"invalid JSON: {detail}"})
            continue
        fields.append({"field": field_name(err.get("loc", ("body",))), "message": _clean_message(str(err.get("msg", "")))})
    if not fields:
        fields.append({"field": "body", "message": "invalid request"})
    message = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    status, code = (400, "invalid_json") if bad_json else (422, "validation_error")
    return error_response(request, status, code, message, param=fields[0]["field"], fields=fields)


async def _http_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 404:
        code, message = "not_found", f"no such route: {request.method} {request.url.path}"
    elif status == 405:
        code, message = "method_not_allowed", f"method {request.method} is not allowed on {request.url.path}"
    else:
        code = "http_error"
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
    return error_response(request, status, code, message, headers=exc.headers)


#: ``Retry-After`` seconds sent with a 503 ``store_unavailable``: the store reconnects on the next request.
STORE_RETRY_AFTER_SECONDS = 5


async def _service_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NewsQAError)
    status, code = service_error_status(exc)
    log = logger.warning if status >= 500 else logger.info
    log("%s on %s %s request_id=%s: %s", code, request.method, request.url.path, request_id_of(request), exc)
    headers = {"Retry-After": str(STORE_RETRY_AFTER_SECONDS)} if isinstance(exc, StoreUnavailableError) else None
    return error_response(request, status, code, str(exc), headers=headers)


def stream_error_body(request: Request, err: Exception) -> dict[str, Any]:
    """The error object sent inside a response stream that already started (status line already sent).

    Core errors keep their safe message; anything else is logged with traceback under the request id and reported
    as ``internal_error`` with that id only.
    """
    request_id = request_id_of(request)
    if isinstance(err, NewsQAError):
        status, code = service_error_status(err)
        logger.warning("stream failed with %s request_id=%s: %s", code, request_id, err)
        return error_body(status, code, str(err), request_id=request_id)
    logger.error("unhandled error in stream request_id=%s", request_id, exc_info=err)
    message = f"internal server error; quote request id {request_id} when reporting it"
    return error_body(500, "internal_error", message, request_id=request_id)


def install_error_handlers(app: FastAPI) -> None:
    """Register the JSON handlers for ApiError, validation errors, HTTP errors (404/405) and core errors."""
    app.add_exception_handler(ApiError, _api_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler)
    app.add_exception_handler(NewsQAError, _service_error_handler)
