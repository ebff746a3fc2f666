"""The one core service every front-end calls: ingest, search, ask, read articles, stats.

Front-ends (CLI, REST, Telegram) build ``NewsQA(settings, ingest_runner=...)`` once per process (with
:func:`bot.service.build_service`, which wires in the ingest pipeline) and call its methods; the embedding
model and the BM25 index load once (lazily, or eagerly with :meth:`NewsQA.warm_up`). Methods are blocking and
thread-safe: async front-ends call them in a worker thread (``anyio.to_thread`` / ``asyncio.to_thread``).
The BM25 index is derived state: it is rebuilt from the Chroma collection whenever the store's index version
changes (checked at most every ``settings.index_refresh_seconds``), so a process that never ingested, or that
runs while another ingests, answers from the current corpus.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from llama_index.core.schema import NodeWithScore

from rag.answering.extractive import ExtractiveAnswerer
from rag.errors import InputError
from rag.models import Answer, Article, IngestSummary, SearchHit, StoreStats
from rag.retrieval.embedding import Embedder, load_embedder
from rag.retrieval.fusion import dense_weight_for, hybrid_retriever
from rag.retrieval.keyword import BM25Index
from rag.retrieval.rerank import EvidenceReranker
from rag.settings import Settings
from rag.store.store import Store
from rag.text.normalize import normalize_cached

if TYPE_CHECKING:
    from rag.answering.generate import AskEvent, Responder
    from rag.conversation import Turn

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 1000
#: Chunks taken from each retrieval leg before reciprocal rank fusion.
FUSION_CANDIDATES = 20
#: Fused chunks rescored by the evidence reranker, of which ``top_k`` are kept.
RERANK_CANDIDATES = 15


class IngestRunner(Protocol):
    """Runs one incremental ingest of ``paths`` into ``store`` (``embedder()`` loads the model when a file needs
    embedding); the ingest pipeline implements it (:func:`ingest.pipeline.run_ingest`). The core never imports the
    pipeline: front-ends pass it in (:func:`bot.service.build_service`)."""

    def __call__(
        self, settings: Settings, store: Store, embedder: Callable[[], Embedder], paths: list[Path] | None,
        progress: Callable[[int, int, str], None] | None, rebuild: bool,
    ) -> IngestSummary: ...


class NewsQA:
    """Facade over store, embedder, hybrid retriever and answerer.

    Errors: :class:`rag.errors.InputError` for a bad question, :class:`rag.errors.ModelMismatchError` when the
    store was built with another embedding model, :class:`rag.errors.IngestLockedError` when an ingest runs,
    :class:`rag.errors.StoreUnavailableError` when the store cannot be reached.
    """

    def __init__(
        self, settings: Settings, embedder: Embedder | None = None, ingest_runner: IngestRunner | None = None
    ) -> None:
        self.settings = settings
        self._ingest_runner = ingest_runner
        self._store: Store | None = None
        self._embedder = embedder
        self._index: BM25Index | None = None
        self._index_version: object = None
        self._checked_at = 0.0
        self._rebuilding = False
        self._model_checked_for: object = None
        self._lock = threading.RLock()

    # --- components (lazy) ------------------------------------------------------------------------
    @property
    def store(self) -> Store:
        """The opened store (opened on first use)."""
        with self._lock:
            if self._store is None:
                self._store = Store(self.settings)
            return self._store

    @property
    def embedder(self) -> Embedder:
        """The embedding model (loaded on first use)."""
        with self._lock:
            if self._embedder is None:
                self._embedder = load_embedder(self.settings)
            return self._embedder

    def _current_index(self) -> BM25Index:
        """The BM25 index, checking the store's version at most every ``index_refresh_seconds``.

        A changed version (another process ingested) starts a rebuild in a background thread; queries keep using
        the previous index until the new one is swapped in (a rebuild takes ~30 s at 100k chunks, see
        docs/benchmarks.md). Only the very first build blocks.
        """
        now = time.monotonic()
        with self._lock:
            if self._index is not None and now - self._checked_at < self.settings.index_refresh_seconds:
                return self._index
            # StoreUnavailableError propagates: the Store reopens its client on the next call (the server may be
            # back), or self.store retries opening it when it could not be opened at all.
            version = self.store.state()["version"]
            self._checked_at = now
            if self._index is None:
                self._index, self._index_version = self._build_index(), version
            elif version != self._index_version and not self._rebuilding:
                self._rebuilding = True
                threading.Thread(target=self._rebuild, name="bm25-rebuild", daemon=True).start()
            return self._index

    def _build_index(self) -> BM25Index:
        started = time.perf_counter()
        index = BM25Index(self.store)
        log.info("BM25 index built: %d chunks in %.0f ms", index.n_docs, 1000 * (time.perf_counter() - started))
        return index

    def _rebuild(self) -> None:
        """Build the index for the store's current version and swap it in (runs in a worker thread)."""
        try:
            version = self.store.state()["version"]
            index = self._build_index()
        except Exception:  # the next check retries; queries keep the previous index meanwhile
            log.exception("BM25 index rebuild failed")
        else:
            with self._lock:
                self._index, self._index_version = index, version
        finally:
            with self._lock:
                self._rebuilding = False

    def _check_model(self) -> None:
        """:meth:`Store.check_model` once per index version, not on every query (it reads the state record)."""
        version = self._index_version
        if self._model_checked_for != version or version is None:
            self.store.check_model(self.embedder.name, self.embedder.dimension)
            self._model_checked_for = version

    def warm_up(self) -> None:
        """Load the embedding model and build the BM25 index now instead of on the first question."""
        index = self._current_index()
        if index.n_docs:
            state = self.store.state()
            self.store.check_model(self.embedder.name, self.embedder.dimension)
            log.info("store: %d chunks, embedding model %s", index.n_docs, state["embedding_model"])
        else:
            _ = self.embedder

    # --- queries ----------------------------------------------------------------------------------
    @staticmethod
    def validate_question(question: str) -> str:
        """The stripped question; raises InputError if empty or longer than 1000 characters."""
        if not isinstance(question, str) or not question.strip():
            raise InputError("question: must not be empty")
        question = question.strip()
        if len(question) > MAX_QUESTION_CHARS:
            raise InputError(f"question: at most {MAX_QUESTION_CHARS} characters (got {len(question)})")
        return question

    def retrieve(self, query: str, top_k: int) -> list[NodeWithScore]:
        """Hybrid retrieval then reranking: ``top_k`` chunks as llama-index nodes, best first.

        Scores are the reranker's (best sentence evidence + 0.3 x normalised RRF score), higher is better.
        """
        if not 1 <= top_k <= 100:
            raise InputError(f"top_k: must be between 1 and 100 (got {top_k})")
        index = self._current_index()
        if index.n_docs == 0:
            return []
        self._check_model()
        weight = dense_weight_for(self.embedder.name, self.settings.dense_weight)
        retriever = hybrid_retriever(
            self.store, self.embedder, index, max(RERANK_CANDIDATES, top_k), max(FUSION_CANDIDATES, top_k),
            dense_weight=weight, mode=self.settings.retrieval_mode,
        )
        fused = retriever.retrieve(query)
        reranker = EvidenceReranker(top_n=top_k, idf=index.idf, normalized=normalize_cached)
        return reranker.postprocess_nodes(fused, query_str=query)

    def ask(
        self, question: str, top_k: int | None = None, conversation_id: str | None = None,
        history: Sequence[Turn] | None = None,
    ) -> Answer:
        """Answer ``question`` (1..1000 characters) from the top ``top_k`` chunks (default settings.top_k).

        With an LLM configured (``settings.llm_enabled``) the answer is generated and its citations verified
        (``mode="llm"``), falling back to the extractive answer on any LLM failure; otherwise it is extractive.
        ``conversation_id`` keeps a bounded history so that follow-ups (``那郏县呢？``) are rewritten into standalone
        questions; ``history`` passes earlier turns explicitly instead. See :mod:`rag.answering.generate`.
        """
        answer = None
        for event in self.ask_stream(question, top_k, conversation_id, history):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None  # ask_stream always ends with the answer
        return answer

    def ask_stream(
        self, question: str, top_k: int | None = None, conversation_id: str | None = None,
        history: Sequence[Turn] | None = None,
    ) -> Generator[AskEvent, None, None]:
        """:meth:`ask` as events: ``CitationsUpdate`` first, ``TextDelta`` pieces, the final ``Answer`` last (see
        :mod:`rag.answering.generate`). Errors of the core are raised by the first ``next()``; LLM errors never are."""
        return self.responder.events(question, top_k, conversation_id, history)

    _responder: Responder | None = None

    @property
    def responder(self) -> Responder:
        """The answering pipeline (conversation memory, LLM client), built on first use."""
        with self._lock:
            if self._responder is None:
                from rag.answering.generate import Responder

                self._responder = Responder(self)
            return self._responder

    def term_idf(self) -> Callable[[str], float]:
        """BM25 inverse document frequency of a normalised token in the current corpus (see ``BM25Index.idf``)."""
        return self._current_index().idf

    def extractive_answer(self, question: str, nodes: list[NodeWithScore]) -> Answer:
        """The extractive answer to ``question`` (already validated) from ``nodes``: ``mode="extractive"``."""
        index = self._current_index()
        answerer = ExtractiveAnswerer(index.idf, self.settings.answer_max_chars, known=index.df.__contains__)
        return answerer.answer(question, nodes)

    def answer_with_nodes(self, question: str, top_k: int | None = None) -> tuple[Answer, list[NodeWithScore]]:
        """The extractive answer plus the retrieved chunks it answered from (for evaluation)."""
        question = self.validate_question(question)
        nodes = self.retrieve(question, top_k or self.settings.top_k)
        return self.extractive_answer(question, nodes), nodes

    def search(self, query: str, top_k: int = 10) -> list[SearchHit]:
        """Hybrid retrieval only: the ``top_k`` best chunks, best first."""
        query = self.validate_question(query)
        return [
            SearchHit(
                rank=rank, score=float(hit.score or 0.0), chunk_id=hit.node.node_id,
                article_id=str(hit.node.metadata.get("article_id", "")), title=str(hit.node.metadata.get("title", "")),
                source=str(hit.node.metadata.get("source", "")), text=hit.node.get_content(),
            )
            for rank, hit in enumerate(self.retrieve(query, top_k), 1)
        ]

    def get_article(self, article_id: str) -> Article | None:
        """The whole article with this id, or None when unknown."""
        return self.store.get_article(article_id)

    # --- ingest and state -------------------------------------------------------------------------
    def ingest(
        self, paths: list[Path] | None = None, progress: Callable[[int, int, str], None] | None = None,
        rebuild: bool = False,
    ) -> IngestSummary:
        """Incremental ingest of ``paths`` (default: the articles folder) by the service's :class:`IngestRunner`
        (the pipeline, :func:`ingest.pipeline.run_ingest`, wired in by :func:`bot.service.build_service`).

        ``progress(done, total, file)`` is called before each file is processed. ``rebuild`` wipes the store first
        (needed after changing the embedding model). Raises IngestLockedError if another ingest runs.
        """
        if self._ingest_runner is None:
            raise RuntimeError("this NewsQA has no ingest runner: build it with bot.service.build_service")
        summary = self._ingest_runner(self.settings, self.store, lambda: self.embedder, paths, progress, rebuild)
        with self._lock:
            had_index = self._index is not None
        if had_index:
            # Our own ingest is visible to the next query: build now (queries meanwhile use the old index).
            version = self.store.state()["version"]
            index = self._build_index()
            with self._lock:
                self._index, self._index_version, self._checked_at = index, version, time.monotonic()
        return summary

    def stats(self) -> StoreStats:
        """Article, chunk and file counts, embedding model and time of the last ingest."""
        counts = self.store.counts()
        state = self.store.state()
        return StoreStats(
            articles=counts["articles"], chunks=counts["chunks"], files=counts["files"],
            embedding_model=state["embedding_model"],
            dimension=int(state["dimension"]) if state["dimension"] else None,
            last_ingest=state["last_ingest"],
        )

    def close(self) -> None:
        """Close the store client and drop the indexes (the embedder stays usable if it was passed in)."""
        with self._lock:
            store, self._store = self._store, None
            self._index = None
        if store is not None:
            store.close()
