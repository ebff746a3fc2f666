"""Passages embedded in a separate, lower-priority process, so a serving process keeps answering during an ingest.

A REST ingest job runs in the serving process. Embedding its passages there takes every core (the packaged e5's
OpenMP engine, torch's intra-op pool) and, with the packaged e5, its one engine lock, so questions wait behind a
whole batch of passages: asking while 125 files were ingested had a p95 of 6.4 s on a 2-core machine
(docs/benchmarks.md, "Serving while an ingest runs"). :class:`PassageWorkerEmbedder` keeps the process's own
embedder for questions and sends passages to one child process (``spawn``, started on the first passage batch)
that loads its own copy of the model, lowers its priority (``os.nice``, :data:`WORKER_NICENESS`) and bounds its
threads (``limit_threads`` of the embedder: torch's intra-op threads, the e5 engine's OpenMP threads). Questions
then never wait for the passage model and get a core first; the ingest's vectors are the same model's.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np

from rag.errors import EmbeddingModelError
from rag.retrieval.embedders.base import Embedder

#: Added to the worker's nice value (Linux CFS: a nice-10 thread gets about a tenth of a core's time against a
#: nice-0 one that wants it, ``sched(7)``'s weight table 1024 vs 110), so a question's thread runs first.
WORKER_NICENESS = 10

_embedder: Any = None  # the worker process's passage embedder (set by _start_worker)
_threads = 0


def default_threads(configured: int = 0) -> int:
    """Threads of the worker: ``configured`` when above 0, else the cores less one (at least 1), so one core stays
    free for questions."""
    return configured if configured > 0 else max(1, (os.cpu_count() or 1) - 1)


def _start_worker(load: Callable[[], Embedder], threads: int, niceness: int) -> None:
    """Worker process initialiser: load the passage model (at the server's priority: a one-off of a few seconds
    that a busy machine would otherwise stretch to minutes), then lower the priority and bound its threads."""
    global _embedder, _threads
    _embedder = load()
    if niceness:
        os.nice(niceness)
    limit = getattr(_embedder, "limit_threads", None)
    _threads = int(limit(threads)) if limit is not None else threads


def _embed(texts: list[str]) -> np.ndarray:
    return np.asarray(_embedder.embed_documents(texts), dtype=np.float32)


def _describe() -> dict[str, Any]:
    return {"pid": os.getpid(), "nice": os.nice(0), "threads": _threads, "name": _embedder.name}


class PassageWorkerEmbedder:
    """:class:`~rag.retrieval.embedders.base.Embedder` with questions embedded by ``queries`` in this process and
    passages by the embedder ``load()`` returns in a worker process (``load`` must pickle: a module-level function
    or a ``functools.partial`` of one).

    ``name``, ``dimension``, ``batch_size`` and ``passage_prefix`` (the embedding cache's key) are those of
    ``queries``, so the store and its cache see the same model as without the worker. ``threads``: the worker's
    threads (:func:`default_threads`); :data:`WORKER_NICENESS` is added to its nice value. Thread-safe; passage
    batches run one at a time. :meth:`close` stops the worker (the next passage batch starts another). Raises
    :class:`EmbeddingModelError` when the worker cannot load the model, dies, or loads another model.
    """

    def __init__(self, queries: Embedder, load: Callable[[], Embedder], threads: int = 0) -> None:
        self._queries = queries
        self._load = load
        self.threads = default_threads(threads)
        self.name = queries.name
        self.dimension = queries.dimension
        self.batch_size = getattr(queries, "batch_size", 64)
        if hasattr(queries, "passage_prefix"):
            self.passage_prefix = queries.passage_prefix
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def embed_query(self, text: str) -> np.ndarray:
        """``(dimension,)`` float32, by the query embedder of this process (never waits for passages)."""
        return self._queries.embed_query(text)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dimension)`` float32, L2-normalised, embedded in the worker process."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._call(_embed, list(texts))
        if vectors.shape != (len(texts), self.dimension):
            raise EmbeddingModelError(f"the passage worker returned vectors of shape {vectors.shape} for "
                                      f"{len(texts)} texts of {self.name} (dimension {self.dimension})")
        return vectors

    def describe(self) -> dict[str, Any]:
        """The worker's ``{"pid", "nice", "threads", "name"}`` (starting it if needed)."""
        return dict(self._call(_describe))

    def _call(self, function: Callable[..., Any], *args: Any) -> Any:
        with self._lock:
            try:
                if self._pool is None:
                    self._pool = ProcessPoolExecutor(
                        1, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                        initargs=(self._load, self.threads, WORKER_NICENESS))
                    name = self._pool.submit(_describe).result()["name"]  # fails here when the model cannot load
                    if name != self.name:
                        self._shutdown()
                        raise EmbeddingModelError(f"the passage worker loaded {name}, not {self.name}")
                return self._pool.submit(function, *args).result()
            except BrokenProcessPool as exc:
                self._shutdown()
                raise EmbeddingModelError(f"the passage embedding process of {self.name} stopped (out of memory, "
                                          "or the model failed to load; see the log above)") from exc
            except RuntimeError as exc:  # the engine's own, or "cannot schedule new futures" at interpreter exit
                raise EmbeddingModelError(f"passage embedding in the worker process of {self.name} failed: "
                                          f"{str(exc)[:200]}") from exc

    def _shutdown(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        """Stop the worker process (waits for a running batch)."""
        with self._lock:
            self._shutdown()
