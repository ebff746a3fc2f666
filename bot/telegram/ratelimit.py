"""Per-user question rate limit: a sliding window of ``limit`` questions per ``window`` seconds."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateDecision:
    """Outcome of one :meth:`RateLimiter.check`.

    ``allowed``: the question may be answered (and was counted). ``retry_after``: seconds until the next question
    would be allowed (0 when allowed). ``notify``: tell the user to wait; True only for the first refused question
    of a blocked period, so a user who keeps sending does not make the bot flood the chat with wait messages.
    """

    allowed: bool
    retry_after: float = 0.0
    notify: bool = False

    @property
    def retry_after_seconds(self) -> int:
        """``retry_after`` rounded up to whole seconds (at least 1), for messages."""
        return max(1, math.ceil(self.retry_after))


class RateLimiter:
    """Sliding-window limiter keyed by user id. Thread-safe; memory is bounded by the users active in a window.

    Args:
        limit: questions allowed per window (>= 1).
        window: window length in seconds.
        clock: monotonic time source in seconds (injectable for tests).
    """

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: dict[Hashable, deque[float]] = {}
        self._notified: set[Hashable] = set()
        self._lock = threading.Lock()
        self._last_sweep = clock()

    def check(self, key: Hashable) -> RateDecision:
        """Count one question by ``key`` if the window has room; otherwise say how long to wait."""
        with self._lock:
            now = self._clock()
            self._sweep(now)
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) < self.limit:
                hits.append(now)
                self._notified.discard(key)
                return RateDecision(allowed=True)
            notify = key not in self._notified
            self._notified.add(key)
            return RateDecision(allowed=False, retry_after=hits[0] + self.window - now, notify=notify)

    def reset(self, key: Hashable) -> None:
        """Forget ``key``'s recent questions."""
        with self._lock:
            self._hits.pop(key, None)
            self._notified.discard(key)

    def _sweep(self, now: float) -> None:
        # Drop users idle for a whole window, at most once per window, so memory follows active users only.
        if now - self._last_sweep < self.window:
            return
        self._last_sweep = now
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self.window]:
            del self._hits[key]
            self._notified.discard(key)
