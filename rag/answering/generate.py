"""Answering a question end to end: follow-up rewrite, retrieval, LLM generation with verified citations (or the
extractive answer), conversation memory; as a stream of events for the front-ends.

:meth:`Responder.events` yields, in order:

1. :class:`CitationsUpdate` (always first): the citations the text that follows uses, numbered as in the final
   answer. With an LLM, another update (the cumulative list) precedes text that cites a new source.
2. :class:`TextDelta` pieces of the answer text; their concatenation is exactly the final answer's text (with an
   LLM, the verified pieces of :class:`rag.answering.citation_check.StreamVerifier`, never taken back).
3. The final :class:`rag.models.Answer` (``mode`` ``"llm"`` or ``"extractive"``), always last.

Core errors (:class:`rag.errors.InputError` for a bad question, store errors ...) are raised before the first
event. LLM errors never reach the caller: after the bounded retries of :class:`rag.answering.llm.LLMClient` (each
failure logged) the answer is the extractive one, or the verified text already released (a stream that broke off).
Under the selector's refusal threshold the LLM is not asked: the answer is the not-found one, with that
``confidence`` (an LLM answer carries the same probability). An LLM answer left with no supported citation is the
not-found answer (``mode`` "llm") when the model said the reports do not hold the answer, else the extractive one.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Protocol

from llama_index.core.schema import NodeWithScore

from rag.answering.citation_check import StreamVerifier
from rag.answering.llm import LLMClient, LLMError
from rag.answering.prompt import REWRITE_MAX_TOKENS, answer_messages, clean_rewrite, rewrite_messages
from rag.conversation import ConversationStore, Turn, looks_like_follow_up, rule_rewrite
from rag.filters import ArchiveFilter
from rag.models import NOT_FOUND_ANSWER, Answer, Citation
from rag.settings import Settings
from rag.text.time_expr import TimeScope

log = logging.getLogger(__name__)


class AnswerBackend(Protocol):
    """What the responder needs of the core service (:class:`rag.service.NewsQA` is one)."""

    settings: Settings

    def validate_question(self, question: str) -> str: ...
    def retrieve(self, query: str, top_k: int, archive_filter: ArchiveFilter | None = None) -> list[NodeWithScore]: ...
    def extractive_answer(self, question: str, nodes: list[NodeWithScore], scope: TimeScope | None = None) -> Answer: ...
    def scoped(self, question: str, archive_filter: ArchiveFilter | None) -> tuple[ArchiveFilter | None, TimeScope]: ...
    def term_idf(self) -> Callable[[str], float]: ...
    def report_listing(self, question: str, archive_filter: ArchiveFilter | None, scope: TimeScope) -> Answer | None: ...


@dataclass(frozen=True)
class CitationsUpdate:
    """The citations used by the answer text so far (all of them for an extractive answer), ``question`` as asked."""

    question: str
    citations: list[Citation]


@dataclass(frozen=True)
class TextDelta:
    """The next piece of the answer text."""

    text: str


AskEvent = CitationsUpdate | TextDelta | Answer


class Responder:
    """The answering pipeline of one :class:`rag.service.NewsQA` (its conversations, its LLM client); thread-safe."""

    def __init__(self, service: AnswerBackend) -> None:
        self.service = service
        settings = service.settings
        self.conversations = ConversationStore(settings.conversation_max_turns, settings.conversation_ttl_seconds,
                                               settings.conversation_max_count)
        self._llm: LLMClient | None = None
        self._llm_failed = False
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def count(self, key: str) -> None:
        """Count an LLM event: ``call:<purpose>:<ok|failed>`` or ``fallback:<reason>`` (see :meth:`llm_counts`)."""
        with self._lock:
            self._counts[key] += 1

    def llm_counts(self) -> dict[str, int]:
        """Cumulative LLM events of this responder: calls (after retries) by purpose and outcome, and answers given
        extractively although an LLM is configured, by reason (``error``, ``breaker_open``, ``unsupported``,
        ``check_error``, ``client_error``). Read by the REST ``/metrics`` route."""
        with self._lock:
            return dict(self._counts)

    @property
    def llm(self) -> LLMClient | None:
        """The LLM client, or None when no LLM is configured (or its client could not be built: logged once)."""
        if not self.service.settings.llm_enabled:
            return None
        with self._lock:
            if self._llm is None and not self._llm_failed:
                try:
                    self._llm = LLMClient(self.service.settings)
                except Exception as exc:  # noqa: BLE001 - a bad LLM configuration must not stop answering
                    self._llm_failed = True
                    log.error("LLM client cannot be built (%s); answering extractively", type(exc).__name__)
            return self._llm

    def events(self, question: str, top_k: int | None = None, conversation_id: str | None = None,
               history: Sequence[Turn] | None = None, archive_filter: ArchiveFilter | None = None,
               ) -> Generator[AskEvent, None, None]:
        """Answer ``question`` as events (the module docstring); the arguments as :meth:`rag.service.NewsQA.ask`'s
        (``history``, when not None, is used instead of the turns remembered under ``conversation_id``). Raises
        rag.errors.InputError, rag.errors.NewsQAError before the first event."""
        service = self.service
        question = service.validate_question(question)
        turns = list(history) if history is not None else (self.conversations.history(conversation_id)
                                                            if conversation_id else [])
        llm = self.llm
        standalone = self.standalone(question, turns, llm)
        archive_filter, scope = service.scoped(standalone, archive_filter)
        query = scope.query or standalone  # without 去年/最新: the range and the recency wish carry them
        listing = service.report_listing(standalone, archive_filter, scope)
        nodes = service.retrieve(query, top_k or service.settings.top_k, archive_filter) if listing is None else []

        extractive = (listing or service.extractive_answer(query, nodes, scope)).model_copy(update={"question": question})
        answer: Answer | None = None
        streamed = False
        if llm is not None and nodes and extractive.found:
            if llm.available():
                answer, streamed = yield from self._generate(llm, question, standalone, nodes, extractive.confidence)
            else:
                self.count("fallback:breaker_open")
                log.info("LLM skipped (breaker open after repeated failures); answering extractively")
        elif llm is None and self._llm_failed and nodes and extractive.found:
            self.count("fallback:client_error")
        answer = answer or extractive
        if not streamed:
            yield CitationsUpdate(question, list(answer.citations))
            yield TextDelta(answer.answer)
        if conversation_id:
            self.conversations.append(conversation_id, Turn(question, standalone, answer.answer, answer.found))
        yield answer

    def standalone(self, question: str, turns: Sequence[Turn], llm: LLMClient | None = None) -> str:
        """``question`` rewritten into a standalone question when it looks like a follow-up of ``turns``: by the
        LLM when one is configured and answers usably, else by :func:`rag.conversation.rule_rewrite`."""
        if not turns or not looks_like_follow_up(question):
            return question
        if llm is not None and llm.available():
            try:
                reply = llm.complete(rewrite_messages(turns, question), purpose="rewrite", max_tokens=REWRITE_MAX_TOKENS)
                self.count("call:rewrite:ok")
            except LLMError:
                reply = None  # logged by the client
                self.count("call:rewrite:failed")
            cleaned = clean_rewrite(reply, question) if reply else None
            if cleaned:
                log.debug("follow-up rewritten by the LLM: %r -> %r", question, cleaned)
                return cleaned
            if reply:
                log.warning("LLM rewrite unusable (%d characters); rewriting by rule", len(reply))
        rewritten = rule_rewrite(question, turns)
        log.debug("follow-up rewritten by rule: %r -> %r", question, rewritten)
        return rewritten

    def _generate(self, llm: LLMClient, question: str, standalone: str, nodes: list[NodeWithScore],
                  confidence: float | None) -> Generator[AskEvent, None, tuple[Answer | None, bool]]:
        """Stream the LLM answer through the verifier, with retries while nothing has been released. Returns the
        verified answer with the selector's ``confidence`` (None: answer extractively) and whether it was yielded."""
        messages = answer_messages(standalone, nodes)
        idf = self.service.term_idf()
        announced = -1  # citations announced so far; -1: nothing released yet, so a retry contradicts nothing
        try:
            for attempt in llm.retrying("answer", lambda: announced < 0):  # noqa: B023 - read at each failure
                with attempt:
                    verifier = StreamVerifier(nodes, standalone, idf)
                    with contextlib.closing(llm.stream_once(messages)) as deltas:  # type: ignore[type-var]
                        for delta in deltas:
                            if pieces := verifier.feed(delta):
                                announced = yield from self._release(verifier, question, pieces, announced)
                    pieces = verifier.finish()
        except LLMError as err:
            llm.record_failure("answer", err)
            self.count("call:answer:failed")
            if announced < 0:
                self.count("fallback:error")
                log.warning("answering extractively after the LLM failure")
                return None, False
            log.warning("LLM answer broke off after verified text; keeping the verified part")
            pieces = verifier.finish(complete=False)
        except Exception:  # a bug in the check must not cost the user an answer
            log.exception("the LLM answer could not be checked; %s", "keeping the verified part"
                          if announced >= 0 else "answering extractively")
            if announced < 0:
                self.count("fallback:check_error")
                return None, False
            pieces = []
        else:
            llm.record_success()
            self.count("call:answer:ok")
        if pieces:
            announced = yield from self._release(verifier, question, pieces, announced)

        result = verifier.result()
        if result.outcome == "cited":
            log.info("LLM answer verified: %s", result.report)
            return Answer(question=question, answer=result.text, found=True, mode="llm", confidence=confidence,
                          citations=verifier.citations()), True
        if result.outcome == "not_found":
            log.info("LLM answer: the reports do not hold the answer (%s)", result.report)
            return Answer(question=question, answer=NOT_FOUND_ANSWER, found=False, mode="llm",
                          confidence=confidence), False
        self.count("fallback:unsupported")
        log.warning("LLM answer has no supported citation (%s); answering extractively", result.report)
        return None, False

    @staticmethod
    def _release(verifier: StreamVerifier, question: str, pieces: list[str], announced: int,
                 ) -> Generator[AskEvent, None, int]:
        """Yield a citations update when new sources are cited (always before the first text), then the text."""
        citations = verifier.citations()
        if len(citations) != announced:
            yield CitationsUpdate(question, citations)
        yield TextDelta("".join(pieces))
        return len(citations)
