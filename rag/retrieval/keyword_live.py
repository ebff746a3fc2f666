"""The keyword index of a running process: opened from disk, kept current in the background.

:class:`LiveKeywordIndex` is what :class:`rag.service.NewsQA` asks for the index on every question. The first
call opens the persisted index (or builds it once from the chunks) and catches up with the store; afterwards the
store state is read at most every ``refresh_seconds``, and a newer state is caught up with in a background thread
(:func:`rag.retrieval.keyword_sync.catch_up`: seconds for a day's pages) or, when the change log cannot say what
changed, rebuilt from all chunks. Queries keep the previous index until the new one is swapped in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from rag.retrieval import keyword_sync
from rag.retrieval.keyword import BM25Index
from rag.store.store import Store

log = logging.getLogger(__name__)


class LiveKeywordIndex:
    """Thread-safe holder of the current :class:`BM25Index` of one store (see the module docstring)."""

    def __init__(self, store: Callable[[], Store], refresh_seconds: float) -> None:
        self._store = store
        self.refresh_seconds = refresh_seconds
        self._index: BM25Index | None = None
        self._checked_at = 0.0
        self._refreshing = False
        self._lock = threading.RLock()
        self.last_refresh: dict[str, Any] = {}

    def current(self) -> BM25Index:
        """The index; checks the store state at most every ``refresh_seconds`` (only the first call blocks)."""
        now = time.monotonic()
        with self._lock:
            if self._index is not None and now - self._checked_at < self.refresh_seconds:
                return self._index
            state = self._store().state()  # StoreUnavailableError propagates
            self._checked_at = now
            if self._index is None:
                self._index = self._open(state)
            elif state["version"] != self._index.version and not self._refreshing:
                self._refreshing = True
                threading.Thread(target=self._refresh_in_background, name="keyword-refresh", daemon=True).start()
            return self._index

    def refresh_now(self) -> BM25Index:
        """Bring the index up to the store's state now (after this process's own ingest), opening it first when
        this process has not yet: the index is then persisted at the new version, so the next process (a cold
        ``newsqa ask`` after ``newsqa ingest``) opens it from disk instead of building it from all chunks."""
        with self._lock:
            state = self._store().state()
            index = self._open(state) if self._index is None else self._advance(self._index, state)
            self._index, self._checked_at = index, time.monotonic()
            return index

    @property
    def loaded(self) -> BM25Index | None:
        """The index queries use now, without reading the store or waiting for a refresh (None until opened)."""
        return self._index

    def close(self) -> None:
        with self._lock:
            self._index = None

    # --- internals --------------------------------------------------------------------------------------------
    def _open(self, state: dict[str, Any]) -> BM25Index:
        started = time.perf_counter()
        store = self._store()
        folder = keyword_sync.index_dir(store)
        index = keyword_sync.load(store, folder)
        how = "opened"
        if index is None:
            index, how = keyword_sync.full_build(store, state), "built"
            keyword_sync.save(index, folder)
        log.info("keyword index %s: %d chunks in %.0f ms", how, index.n_docs, 1000 * (time.perf_counter() - started))
        return self._advance(index, state)

    def _advance(self, index: BM25Index, state: dict[str, Any]) -> BM25Index:
        if index.version == state["version"]:
            return index
        started = time.perf_counter()
        store = self._store()
        new = keyword_sync.catch_up(index, store, state)
        how = "caught up"
        if new is None:
            new, how = keyword_sync.full_build(store, store.state()), "rebuilt"
        seconds = time.perf_counter() - started
        self.last_refresh = {"how": how, "seconds": seconds, "chunks": new.n_docs, "segments": len(new.segments)}
        log.info("keyword index %s: %d chunks, %d segments in %.0f ms", how, new.n_docs, len(new.segments),
                 1000 * seconds)
        keyword_sync.save(new, keyword_sync.index_dir(store))
        return new

    def _refresh_in_background(self) -> None:
        try:
            with self._lock:
                index = self._index
            assert index is not None
            new = self._advance(index, self._store().state())
        except Exception:  # the next check retries; queries keep the previous index meanwhile
            log.exception("keyword index refresh failed")
        else:
            with self._lock:
                self._index = new
        finally:
            with self._lock:
                self._refreshing = False
