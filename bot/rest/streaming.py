"""Streaming answers: the event stream both streaming routes consume, and server-sent-event framing.

:func:`stream_answer` is the single seam for streaming: it yields a :class:`CitationsEvent`, then
:class:`DeltaEvent` pieces of the answer text, then a :class:`DoneEvent` with the final :class:`Answer`.
``POST /v1/ask/stream`` and ``POST /v1/chat/completions`` (``stream: true``) only format these events.

Without an LLM the text comes from the finished extractive answer (:func:`answer_text_deltas`) and there is exactly
one ``CitationsEvent``. With an LLM (``settings.llm_enabled``) the events follow the core's
:meth:`rag.service.NewsQA.ask_stream`: the answer is generated token by token and released clause by clause once
each clause's citations are verified (:mod:`rag.answering.citation_check`), so the deltas never need to be taken back; a
``CitationsEvent`` carrying the cumulative citations precedes the delta that first cites a new source. In both
modes the deltas concatenate to the final answer text and the last ``CitationsEvent`` equals the final citations;
the ``DoneEvent`` answer is authoritative.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from rag.answering.generate import CitationsUpdate, TextDelta
from rag.conversation import Turn
from rag.filters import ArchiveFilter
from rag.models import Answer, Citation, print_label
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
    yield from text_pieces(answer.answer)


def text_pieces(text: str) -> Iterator[str]:
    """``text`` in pieces of at most :data:`DELTA_MAX_CHARS` characters, markers ``[n]`` whole."""
    for match in _PIECES.finditer(text):
        yield match.group(0)


_END = object()


async def stream_answer(
    service: NewsQA,
    question: str,
    top_k: int | None = None,
    conversation_id: str | None = None,
    history: Sequence[Turn] | None = None,
    archive_filter: ArchiveFilter | None = None,
) -> AsyncIterator[AnswerEvent]:
    """Answer ``question`` as a stream of events: citations, text deltas, done (see the module docstring).

    ``conversation_id`` (stored history) or ``history`` (earlier turns given by the caller, e.g. the messages of a
    chat completion) let follow-up questions be rewritten; ``archive_filter`` limits the reports by date and
    publication. Blocking work runs in the thread pool. Errors of the
    core (``rag.errors.NewsQAError``) and any other exception propagate from the first ``__anext__`` (before any
    event) or from the one where they happen; LLM failures never do (the core falls back to the extractive answer).
    """
    if not service.settings.llm_enabled:
        answer = await run_in_threadpool(service.ask, question, top_k, conversation_id, history or None,
                                         archive_filter)
        yield CitationsEvent(question=answer.question, citations=list(answer.citations))
        for piece in answer_text_deltas(answer):
            yield DeltaEvent(text=piece)
        yield DoneEvent(answer=answer)
        return
    events = service.ask_stream(question, top_k, conversation_id, history or None, archive_filter)
    try:
        while True:
            event = await run_in_threadpool(next, events, _END)
            if event is _END:
                return
            if isinstance(event, CitationsUpdate):
                yield CitationsEvent(question=event.question, citations=list(event.citations))
            elif isinstance(event, TextDelta):
                for piece in text_pieces(event.text):
                    yield DeltaEvent(text=piece)
            elif isinstance(event, Answer):
                yield DoneEvent(answer=event)
    finally:
        # A client that goes away mid-answer: end the core's generator (and its LLM stream) now, not at GC.
        with contextlib.suppress(ValueError):
            await run_in_threadpool(events.close)


def sources_block(citations: list[Citation]) -> str:
    """The numbered sources written under an answer: one ``[n] 标题 — 《报刊》日期 版次 source`` line per citation
    (where and when it was printed, when known)."""
    lines = []
    for c in citations:
        printed = print_label(c.publication, c.published, c.page)
        lines.append(f"[{c.id}] {c.title} — {printed + ' ' if printed else ''}{c.source}")
    return "\n".join(lines)


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
