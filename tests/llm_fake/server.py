"""A fake OpenAI-compatible chat completions server: real HTTP (Starlette + uvicorn) on 127.0.0.1, random port.

``POST /v1/chat/completions`` answers with the next scripted :class:`Reply` for the request's kind: ``"rewrite"``
(system message is :data:`rag.answering.prompt.REWRITE_SYSTEM_PROMPT`) or ``"answer"`` (anything else). It streams
(``chat.completion.chunk`` server-sent events ending with ``data: [DONE]``) when the request says ``stream: true``
and returns one ``chat.completion`` otherwise, like the OpenAI API. Every request is recorded (path, headers,
JSON body) so tests can check the prompt. Scripted failures: an HTTP status (500, 429 with Retry-After ...),
malformed JSON, a reply that never comes (a timeout for the client), a stream that pauses on a gate (a slow
stream, released by the test), a stream that breaks off. Nothing depends on timing: waits are on events that the
test or the server's shutdown sets.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from rag.answering.prompt import REWRITE_SYSTEM_PROMPT
from tests.rest_support.live import running_server

MODEL = "fake-model"
_SOURCE_BLOCK = re.compile(r'<资料 编号="(\d+)" 标题="([^"]*)" 来源="([^"]*)"(?: 刊发="[^"]*")?>\n(.*?)\n</资料>', re.S)


@dataclass
class RecordedRequest:
    """One request as received: ``path``, lower-cased ``headers``, JSON ``body``, and its ``kind``."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or [])

    @property
    def system(self) -> str:
        return next((str(m.get("content")) for m in self.messages if m.get("role") == "system"), "")

    @property
    def user(self) -> str:
        return next((str(m.get("content")) for m in reversed(self.messages) if m.get("role") == "user"), "")

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def kind(self) -> str:
        return "rewrite" if self.system == REWRITE_SYSTEM_PROMPT else "answer"

    def sources(self) -> list[tuple[int, str, str, str]]:
        """The ``(number, title, source file, text)`` blocks of an answer prompt, in order."""
        return [(int(n), title, src, text) for n, title, src, text in _SOURCE_BLOCK.findall(self.user)]

    def source_number(self, needle: str) -> int:
        """The number of the first source whose text contains ``needle``; AssertionError when none does."""
        for number, _title, _src, text in self.sources():
            if needle in text:
                return number
        raise AssertionError(f"no source in the prompt contains {needle!r}")

    def other_source(self, needle: str) -> int:
        """The number of a source whose text does not contain ``needle``."""
        for number, _title, _src, text in self.sources():
            if needle not in text:
                return number
        raise AssertionError(f"every source contains {needle!r}")

    def question(self) -> str:
        """The question line of an answer prompt (``问题：…``) or the last line of a rewrite prompt."""
        match = re.search(r"(?:问题|最新的问题)：(.+)", self.user)
        return match.group(1).strip() if match else ""


Content = str | Callable[[RecordedRequest], str]


@dataclass
class Reply:
    """What the server does for one request. Build with the class methods."""

    kind: str
    content: Content = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    chunk_chars: int = 3
    gate: threading.Event | None = None
    pause_after: str = ""
    delay: float = 0.0

    @classmethod
    def text(cls, content: Content, chunk_chars: int = 3) -> Reply:
        """A normal reply (``content`` may depend on the request), streamed in pieces of ``chunk_chars``."""
        return cls("text", content, chunk_chars=chunk_chars)

    @classmethod
    def error(cls, status: int, retry_after: float | None = None) -> Reply:
        """An HTTP error with an OpenAI-style error body (and ``Retry-After`` when given)."""
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        return cls("status", status=status, headers=headers)

    @classmethod
    def malformed(cls) -> Reply:
        """200 with a body (or stream event) that is not JSON."""
        return cls("malformed")

    @classmethod
    def hang(cls) -> Reply:
        """No response until the server stops: the client's timeout fires."""
        return cls("hang")

    @classmethod
    def slow(cls, content: Content, gate: threading.Event, pause_after: str, delay: float = 0.01) -> Reply:
        """A stream that sends everything up to and including ``pause_after``, waits for ``gate``, then the rest
        (``delay`` seconds between chunks)."""
        return cls("slow", content, gate=gate, pause_after=pause_after, delay=delay)

    @classmethod
    def break_off(cls, content: Content, after: str) -> Reply:
        """A stream that sends ``content`` up to and including ``after`` and then drops the connection."""
        return cls("break", content, pause_after=after)


class FakeLLM:
    """The fake server. Use as a context manager; ``base_url`` is the OpenAI base URL (ending in ``/v1``).

    ``script(kind, *replies)`` queues replies for requests of ``kind`` ("answer" or "rewrite"); ``default(kind,
    reply)`` answers when the queue is empty. Unscripted requests get a 500 and are counted in ``unscripted``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Reply]] = {"answer": deque(), "rewrite": deque()}
        self._defaults: dict[str, Reply | None] = {"answer": None, "rewrite": None}
        self.requests: list[RecordedRequest] = []
        self.unscripted = 0
        self._closing = threading.Event()
        self.base_url = ""
        self._context: Any = None

    # --- scripting ------------------------------------------------------------------------------------------------
    def script(self, kind: str, *replies: Reply) -> FakeLLM:
        with self._lock:
            self._queues[kind].extend(replies)
        return self

    def default(self, kind: str, reply: Reply | None) -> FakeLLM:
        with self._lock:
            self._defaults[kind] = reply
        return self

    def reset(self) -> None:
        """Forget the script, the defaults and the recorded requests."""
        with self._lock:
            for queue in self._queues.values():
                queue.clear()
            self._defaults = {"answer": None, "rewrite": None}
            self.requests.clear()
            self.unscripted = 0

    def of(self, kind: str) -> list[RecordedRequest]:
        """Recorded requests of one kind, in order."""
        with self._lock:
            return [r for r in self.requests if r.kind == kind]

    def pending(self, kind: str) -> int:
        """Scripted replies not used yet."""
        with self._lock:
            return len(self._queues[kind])

    # --- lifecycle ------------------------------------------------------------------------------------------------
    def __enter__(self) -> FakeLLM:
        self._context = running_server(self._app())
        live = self._context.__enter__()
        self.base_url = f"{live.base_url}/v1"
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._context.__exit__(*exc)

    # --- the server -----------------------------------------------------------------------------------------------
    def _app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/chat/completions", self._completions, methods=["POST"])])

    def _next(self, request: RecordedRequest) -> Reply | None:
        with self._lock:
            self.requests.append(request)
            queue = self._queues[request.kind]
            if queue:
                return queue.popleft()
            reply = self._defaults[request.kind]
            if reply is None:
                self.unscripted += 1
            return reply

    async def _completions(self, request: Request) -> Response:
        body = await request.json()
        recorded = RecordedRequest(request.url.path, {k.lower(): v for k, v in request.headers.items()}, body)
        reply = self._next(recorded)
        if reply is None:
            return _error(500, "unscripted request")
        if reply.kind == "status":
            return _error(reply.status, f"scripted status {reply.status}", reply.headers)
        if reply.kind == "hang":
            while not self._closing.is_set():
                await asyncio.sleep(0.02)
            return _error(503, "shutting down")
        if reply.kind == "malformed":
            if recorded.stream:
                return StreamingResponse(_malformed_stream(), media_type="text/event-stream")
            return Response('{"id": "chatcmpl-x", "choices": [', media_type="application/json")
        content = reply.content(recorded) if callable(reply.content) else reply.content
        if not recorded.stream:
            return JSONResponse(_completion(content))
        return StreamingResponse(self._stream(content, reply), media_type="text/event-stream")

    async def _stream(self, content: str, reply: Reply) -> AsyncIterator[bytes]:
        created = int(time.time())
        yield _sse(_chunk(created, {"role": "assistant", "content": ""}))
        cut = len(content)
        if reply.kind in ("slow", "break"):
            index = content.find(reply.pause_after)
            assert index >= 0, f"{reply.pause_after!r} is not in the scripted content"
            cut = index + len(reply.pause_after)
        for piece in _pieces(content[:cut], reply.chunk_chars):
            yield _sse(_chunk(created, {"content": piece}))
            if reply.delay:
                await asyncio.sleep(reply.delay)
        if reply.kind == "break":
            raise ConnectionResetError("scripted break-off")  # uvicorn drops the connection mid-body
        if reply.kind == "slow" and reply.gate is not None:
            while not reply.gate.is_set() and not self._closing.is_set():
                await asyncio.sleep(0.01)
        for piece in _pieces(content[cut:], reply.chunk_chars):
            yield _sse(_chunk(created, {"content": piece}))
            if reply.delay:
                await asyncio.sleep(reply.delay)
        yield _sse(_chunk(created, {}, "stop"))
        yield b"data: [DONE]\n\n"


def _pieces(text: str, size: int) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


def _sse(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _chunk(created: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": created, "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }


def _completion(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop",
                     "logprobs": None}],
        "usage": {"prompt_tokens": 10, "completion_tokens": len(content), "total_tokens": 10 + len(content)},
    }


async def _malformed_stream() -> AsyncIterator[bytes]:
    yield b'data: {"id": "chatcmpl-x", "choices": [{"delta": {"content": "\xe9\x83\x8f'
    yield b"\n\n"
    yield b"data: [DONE]\n\n"


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": "server_error" if status >= 500 else "invalid_request_error",
                      "code": str(status), "param": None}}
    return JSONResponse(body, status_code=status, headers=headers)


@contextmanager
def fake_llm() -> Iterator[FakeLLM]:
    """A running :class:`FakeLLM` for the block."""
    with FakeLLM() as server:
        yield server
