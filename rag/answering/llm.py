"""The OpenAI-compatible chat LLM: llama-index ``OpenAILike`` with our bounded retries (tenacity), backoff, breaker.

Any server speaking the OpenAI chat completions API works (DeepSeek, Qwen, OpenAI, vLLM, Ollama ...). ``OpenAILike``
is built with ``max_retries=0``, so that neither the ``openai`` client nor llama-index's tenacity decorator retries
behind our back: :meth:`LLMClient.retrying` owns the policy.

- **Timeout** ``llm_timeout`` seconds, an httpx timeout: connecting, and each read (the whole response without
  streaming; the gap between two chunks when streaming).
- **Retries** at most ``llm_max_retries`` after the first attempt, for timeouts, connection errors, 408/409/429,
  5xx, malformed or empty responses; not other 4xx (bad key, unknown model, bad request: the next attempt would
  fail the same way). A streamed answer is retried only while none of it has been shown.
- **Backoff** ``llm_retry_backoff`` x 2^(retry-1) seconds, at most :data:`BACKOFF_MAX_SECONDS`, times a random
  factor in [0.5, 1] ("equal jitter", AWS Architecture Blog, *Exponential Backoff And Jitter*, 2015). A 429's
  ``Retry-After`` (seconds) is honoured up to :data:`RETRY_AFTER_MAX_SECONDS`; a longer one ends the retries.
- **Breaker** (Nygard, *Release It!*, 2007) after ``llm_breaker_failures`` consecutive failed calls (each after its
  retries) the LLM is skipped for ``llm_breaker_seconds``; then one call is let through (success closes the
  breaker, failure reopens it). While the LLM is down, users get the extractive answer at once.

The API key is a ``SecretStr`` until the client is built, never logged; :func:`redact` removes it from logged errors.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import cast

import httpx
from llama_index.core.base.llms.types import ChatMessage
from tenacity import RetryCallState, Retrying, stop_after_attempt

from rag.settings import Settings

log = logging.getLogger(__name__)

#: Longest backoff between two attempts, in seconds.
BACKOFF_MAX_SECONDS = 8.0
#: Longest ``Retry-After`` (seconds) we wait for; a server asking for more gets no retry.
RETRY_AFTER_MAX_SECONDS = 10.0
#: Placeholder key sent when ``NEWSQA_LLM_API_KEY`` is unset (local vLLM/Ollama servers need none; the ``openai``
#: client requires a value, and an explicit one keeps it from picking up ``OPENAI_API_KEY`` for another server).
NO_KEY = "EMPTY"
#: Statuses worth retrying: request timeout, conflict, rate limit (the rest of 4xx are permanent).
_RETRYABLE_4XX = frozenset({408, 409, 429})


class LLMError(Exception):
    """One failed LLM call (the ``openai``/httpx error classified); ``str(err)`` is safe to log (key redacted, at
    most 200 characters of server text). ``kind``: ``timeout``, ``connection``, ``rate_limit``, ``server`` (5xx),
    ``client`` (other 4xx), ``malformed`` (unparseable or unexpected response), ``empty`` (no text), ``unavailable``
    (breaker open); ``retry_after``: the server's ``Retry-After`` in seconds."""

    def __init__(self, kind: str, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind, self.retryable, self.retry_after = kind, retryable, retry_after
        self.attempts = 1  # attempts the call made, set by :meth:`LLMClient.retrying`


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` replaced by ``***``, cut to 200 characters."""
    if secret and secret != NO_KEY:
        text = text.replace(secret, "***")
    return text if len(text) <= 200 else text[:199] + "…"


def _retry_after(headers: httpx.Headers) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (numeric form only; HTTP dates are ignored)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        with contextlib.suppress(TypeError, ValueError):
            if (seconds := float(headers.get(name)) * scale) >= 0:
                return seconds
    return None


def classify(exc: BaseException, secret: str | None = None) -> LLMError:
    """The :class:`LLMError` for an exception raised by ``openai``/httpx/llama-index during a call."""
    import openai

    text = redact(f"{type(exc).__name__}: {exc}", secret)
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        return LLMError("timeout", text, retryable=True)
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError):
        return LLMError("connection", text, retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status == 429:
            return LLMError("rate_limit", text, retryable=True, retry_after=_retry_after(exc.response.headers))
        server = status >= 500
        return LLMError("server" if server else "client", text, retryable=server or status in _RETRYABLE_4XX)
    return LLMError("malformed", text, retryable=True)  # unparseable or unexpected response


class LLMClient:
    """Chat completions against the configured OpenAI-compatible server, with the module's retry policy.

    Thread-safe: one instance serves every request of a process (the ``openai`` client pools connections).
    ``settings``: ``llm_base_url``, ``llm_model`` (both required, see ``Settings.llm_enabled``: ValueError when the
    LLM is not configured), ``llm_api_key``, ``llm_timeout`` (s), ``llm_max_tokens`` (tokens), ``llm_temperature``,
    ``llm_max_retries``, ``llm_retry_backoff`` (s), ``llm_breaker_failures``, ``llm_breaker_seconds`` (s);
    ``sleep``, ``clock``, ``rand``: injectable ``time.sleep``, ``time.monotonic`` and ``random.random`` (tests).
    """

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, rand: Callable[[], float] = random.random) -> None:
        if not settings.llm_enabled:
            raise ValueError("the LLM is not configured: set NEWSQA_LLM_BASE_URL and NEWSQA_LLM_MODEL")
        from llama_index.llms.openai_like import OpenAILike

        self.settings = settings
        self.model = str(settings.llm_model)
        self._secret = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        self._llm = OpenAILike(
            model=self.model, api_base=str(settings.llm_base_url).rstrip("/"), api_key=self._secret or NO_KEY,
            is_chat_model=True, is_function_calling_model=False, max_tokens=settings.llm_max_tokens,
            temperature=settings.llm_temperature, timeout=settings.llm_timeout, max_retries=0, reuse_client=True)
        self._sleep, self._rand, self._clock = sleep, rand, clock
        self._lock = threading.Lock()
        self._failures, self._open_until = 0, 0.0  # the breaker: consecutive failed calls, open until (clock)

    def __repr__(self) -> str:  # never the key
        return f"LLMClient(model={self.model!r}, base_url={self.settings.llm_base_url!r})"

    def available(self) -> bool:
        """False while the breaker is open (recent calls kept failing): answer without the LLM for now."""
        with self._lock:
            return self.settings.llm_breaker_failures <= 0 or self._clock() >= self._open_until

    def record_success(self) -> None:
        """Close the breaker after a call that succeeded."""
        with self._lock:
            self._failures, self._open_until = 0, 0.0

    def record_failure(self, purpose: str, err: LLMError) -> None:
        """Log a call that failed (after its retries) and count it towards the breaker."""
        with self._lock:
            self._failures += 1
            opened = 0 < self.settings.llm_breaker_failures <= self._failures
            if opened:
                self._open_until = self._clock() + self.settings.llm_breaker_seconds
        log.warning("LLM %s failed after %d attempt(s): %s (%s)", purpose, err.attempts, err.kind, err)
        if opened:
            log.warning("LLM skipped for %.0f s after %d consecutive failed calls",
                        self.settings.llm_breaker_seconds, self.settings.llm_breaker_failures)

    def retry_delay(self, err: LLMError, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1`` after ``err`` ended attempt ``attempt`` (1-based): the
        backoff with equal jitter, or the server's ``Retry-After`` when longer."""
        delay = min(BACKOFF_MAX_SECONDS, self.settings.llm_retry_backoff * 2 ** (attempt - 1))
        return max(delay * (0.5 + 0.5 * self._rand()), err.retry_after or 0.0)

    def retrying(self, purpose: str, allowed: Callable[[], bool] = lambda: True) -> Retrying:
        """The module's retry policy as a tenacity ``Retrying`` (call it with the attempt, or iterate it with
        ``with attempt:`` blocks), retrying only while ``allowed()``; each retry is logged, the last error re-raised."""

        def error(state: RetryCallState) -> BaseException | None:
            return state.outcome.exception() if state.outcome else None

        def retryable(state: RetryCallState) -> bool:
            if not isinstance(err := error(state), LLMError):
                return False
            err.attempts = state.attempt_number
            return err.retryable and allowed() and (err.retry_after or 0.0) <= RETRY_AFTER_MAX_SECONDS

        def before_sleep(state: RetryCallState) -> None:
            log.info("LLM %s attempt %d failed (%s); retrying in %.2f s", purpose, state.attempt_number,
                     cast(LLMError, error(state)).kind, state.upcoming_sleep)

        return Retrying(stop=stop_after_attempt(self.settings.llm_max_retries + 1), retry=retryable,
                        wait=lambda state: self.retry_delay(cast(LLMError, error(state)), state.attempt_number),
                        sleep=self._sleep, before_sleep=before_sleep, reraise=True)

    def complete(self, messages: Sequence[ChatMessage], *, purpose: str = "call", max_tokens: int | None = None) -> str:
        """The reply text of one non-streamed chat completion, with retries. Raises LLMError when the breaker is open
        (kind ``unavailable``, nothing sent) or the last attempt failed (logged and counted towards the breaker)."""
        if not self.available():
            raise LLMError("unavailable", "the LLM is skipped after repeated failures", retryable=False)
        try:
            text = self.retrying(purpose)(self.complete_once, messages, max_tokens=max_tokens)
        except LLMError as err:
            self.record_failure(purpose, err)
            raise
        self.record_success()
        return text

    def complete_once(self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None) -> str:
        """One attempt of :meth:`complete` (no retry, no breaker). Raises LLMError (``empty`` for no text)."""
        kwargs = {"max_tokens": max_tokens} if max_tokens else {}
        try:
            text = self._llm.chat(list(messages), **kwargs).message.content
        except Exception as exc:  # noqa: BLE001 - every failure of the call becomes an LLMError
            raise classify(exc, self._secret) from exc
        if not isinstance(text, str) or not text.strip():
            raise LLMError("empty", "the reply has no text", retryable=True)
        return text

    def stream_once(self, messages: Sequence[ChatMessage]) -> Iterator[str]:
        """Text deltas of one streamed chat completion (no retry, no breaker: the caller iterates :meth:`retrying`,
        see :mod:`rag.answering.generate`), requested on the first ``next()``. Raises LLMError on any failure, before
        or during the stream (``empty`` when it ends without any text)."""
        produced = False
        try:
            for chunk in self._llm.stream_chat(list(messages)):
                if chunk.delta:
                    produced = True
                    yield chunk.delta
        except Exception as exc:  # noqa: BLE001 - every failure of the stream becomes an LLMError
            raise classify(exc, self._secret) from exc
        if not produced:
            raise LLMError("empty", "the streamed reply has no text", retryable=True)
