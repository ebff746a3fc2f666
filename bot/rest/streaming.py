"""Streaming answers: the event stream both streaming routes consume, and server-sent-event framing.

:func:`stream_answer` is the single seam for streaming: it yields one :class:`CitationsEvent`, then
:class:`DeltaEvent` pieces of the answer text, then a :class:`DoneEvent` with the final :class:`Answer`.
``POST /v1/ask/stream`` and ``POST /v1/chat/completions`` (``stream: true``) only format these events. Today the
text comes from the finished extractive answer (:func:`answer_text_deltas`); an LLM token stream replaces the body
of :func:`stream_answer` without touching the routes. The ``DoneEvent`` answer is authoritative (a verified LLM
answer may differ from the concatenated deltas).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from rag.models import Answer, Citation
from rag.service import NewsQA

#: Largest answer delta, in characters (a citation marker such as ``[12]`` is never split).
DELTA_MAX_CHARS = 12
_PIECES = re.compile(rf"\[\d+\]|[^\[]{{1,{DELTA_MAX_CHARS}}}|\[")


@dataclass(frozen=True)
class CitationsEvent:
    """The sources of the answer, sent first."""

    question: str
    citations: list[Citation]


@dataclass(frozen=True)
class DeltaEvent:
    """The next piece of answer text (concatenating all deltas gives the answer text)."""

    text: str


@dataclass(frozen=True)
class DoneEvent:
    """The final answer (same object as ``POST /v1/ask`` returns); always the last event."""

    answer: Answer


AnswerEvent = CitationsEvent | DeltaEvent | DoneEvent


def answer_text_deltas(answer: Answer) -> Iterator[str]:
    """The answer text in pieces of at most :data:`DELTA_MAX_CHARS` characters; markers ``[n]`` stay whole.

    ``"".join(answer_text_deltas(a)) == a.answer`` always holds.
    """
    for match in _PIECES.finditer(answer.answer):
        yield match.group(0)


async def stream_answer(
    service: NewsQA, question: str, top_k: int | None = None, conversation_id: str | None = None
) -> AsyncIterator[AnswerEvent]:
    """Answer ``question`` as a stream of events: citations, text deltas, done.

    Blocking work runs in the thread pool. Errors of the core (``rag.errors.NewsQAError``) and any other exception
    propagate from the first ``__anext__`` (before any event) or from the one where they happen.
    """
    answer = await run_in_threadpool(service.ask, question, top_k, conversation_id)
    yield CitationsEvent(question=answer.question, citations=list(answer.citations))
    for piece in answer_text_deltas(answer):
        yield DeltaEvent(text=piece)
    yield DoneEvent(answer=answer)


def sources_block(citations: list[Citation]) -> str:
    """The numbered sources written under an answer: one ``[n] 标题 — source`` line per citation."""
    return "\n".join(f"[{c.id}] {c.title} — {c.source}" for c in citations)


def answer_with_sources(answer: Answer) -> str:
    """The answer text followed by a blank line and the numbered sources (just the text when none)."""
    if not answer.citations:
        return answer.answer
    return f"{answer.answer}\n\n{sources_block(answer.citations)}"


def sse_event(data: Any, event: str | None = None) -> bytes:
    """One server-sent event: optional ``event:`` line, ``data:`` line(s), blank line. ``data`` that is not a
    string is written as compact JSON (UTF-8, not ASCII-escaped)."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    lines = [f"event: {event}"] if event else []
    lines += [f"data: {line}" for line in text.split("\n")]
    return ("\n".join(lines) + "\n\n").encode("utf-8")


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
