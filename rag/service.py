"""The one core service every front-end calls: ingest, search, ask, read articles, stats.

Front-ends (CLI, REST, Telegram) build ``NewsQA(settings, ingest_runner=...)`` once per process (with
:func:`bot.service.build_service`, which wires in the ingest pipeline) and call its methods; the embedding model and
the BM25 index load once (lazily, or eagerly with :meth:`NewsQA.warm_up`). Methods are blocking and thread-safe:
async front-ends call them in a worker thread (``anyio.to_thread`` / ``asyncio.to_thread``). The BM25 index is
derived state, persisted on local disk and caught up with the store's change log when the store's version changes
(see :mod:`rag.retrieval.keyword_live`), so a process that never ingested, or that runs while another ingests,
answers from the current corpus without rebuilding."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from llama_index.core.schema import NodeWithScore

from rag.answering.citation_check import citation_for, with_copies
from rag.answering.extractive import ExtractiveAnswerer
from rag.answering.report_listing import report_listing
from rag.answering.verifier import Similarity
from rag.archive import find_reports, list_articles, list_publications
from rag.errors import EmptyStoreError, InputError
from rag.filters import ArchiveFilter, parse_day
from rag.ingest_runner import IngestRunner
from rag.models import (
    Answer,
    Article,
    ArticlePage,
    IngestProgressFn,
    IngestSummary,
    PublicationInfo,
    SearchHit,
    StoreStats,
)
from rag.retrieval.embedding import Embedder, load_embedder, packaged_e5
from rag.retrieval.fusion import dense_weight_for, hybrid_retriever
from rag.retrieval.keyword_live import LiveKeywordIndex
from rag.retrieval.rerank import EvidenceReranker
from rag.retrieval.stories import collapse_stories
from rag.settings import Settings
from rag.store.store import Store
from rag.text.normalize import normalize_cached, warm_text_tools
from rag.text.time_expr import TimeScope, parse_time_expression

if TYPE_CHECKING:
    from rag.answering.generate import AskEvent, Responder
    from rag.conversation import Turn

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 1000
#: Chunks taken from each retrieval leg before reciprocal rank fusion.
FUSION_CANDIDATES = 20
#: Fused chunks rescored by the evidence reranker, of which ``top_k`` are kept.
RERANK_CANDIDATES = 15


class NewsQA:
    """Facade over store, embedder, hybrid retriever and answerer.

    Errors: :class:`rag.errors.InputError` for a bad question, :class:`rag.errors.ModelMismatchError` when the
    store was built with another embedding model, :class:`rag.errors.IngestLockedError` when an ingest runs,
    :class:`rag.errors.StoreUnavailableError` when the store cannot be reached, :class:`rag.errors.EmptyStoreError`
    for a question before anything was ingested."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None,
                 ingest_runner: IngestRunner | None = None) -> None:
        self.settings = settings
        self._ingest_runner = ingest_runner
        self._store: Store | None = None
        self._embedder = embedder
        self.keyword_index = LiveKeywordIndex(lambda: self.store, settings.index_refresh_seconds)
        self._model_checked_for: object = None
        self._lock = threading.RLock()
        self._embedder_lock = threading.Lock()  # the model loads while the store opens (warm_up)
        self._responder: Responder | None = None
        self.similarity = Similarity(packaged_e5)  # the answer verifier's e5, one thread, whatever model retrieves

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
        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = load_embedder(self.settings)
            return self._embedder

    def warm_up(self) -> None:
        """Load the models, open the store, keyword and HNSW indexes, load jieba and OpenCC (~1.6 s) now, not on
        the first question; model and text tools in two threads (docs/benchmarks.md). Raises what they raise."""
        with ThreadPoolExecutor(2, thread_name_prefix="newsqa-warm-up") as pool:
            model = pool.submit(lambda: self.embedder)
            text = pool.submit(warm_text_tools)
            verifier = pool.submit(self.similarity.warm)  # the answer verifier's e5 (0.3 s); False: logged once
            index = self.keyword_index.current()
            state = self.store.state() if index.n_docs else {}
            if state.get("dimension"):
                self.store.warm_dense(int(state["dimension"]))
            embedder = model.result()
            text.result()
            verifier.result()
        if index.n_docs:
            self.store.check_model(embedder.name, embedder.dimension)
            log.info("store: %d chunks, embedding model %s", index.n_docs, state["embedding_model"])

    @staticmethod
    def validate_question(question: str) -> str:
        """The stripped question; raises InputError if empty or longer than 1000 characters."""
        if not isinstance(question, str) or not question.strip():
            raise InputError("question: must not be empty")
        question = question.strip()
        if len(question) > MAX_QUESTION_CHARS:
            raise InputError(f"question: at most {MAX_QUESTION_CHARS} characters (got {len(question)})")
        return question

    def retrieve(self, query: str, top_k: int, archive_filter: ArchiveFilter | None = None) -> list[NodeWithScore]:
        """Hybrid retrieval, reranking, one article per story: ``top_k`` chunks as llama-index nodes, best first.
        Scores are the reranker's (best sentence evidence + 0.3 x normalised RRF score), higher is better.
        ``archive_filter`` (dates, publication, a question's time scope) runs inside both legs."""
        if not 1 <= top_k <= 100:
            raise InputError(f"top_k: must be between 1 and 100 (got {top_k})")
        index = self.keyword_index.current()
        if index.n_docs == 0:  # an empty store, or one whose first ingest this process has not yet caught up with
            if not self.store.counts()["chunks"]:
                raise EmptyStoreError(self.settings.articles_dir)
            return []
        version = index.version  # check_model reads the state record: once per index version
        if self._model_checked_for != version or version is None:
            self.store.check_model(self.embedder.name, self.embedder.dimension)
            self._model_checked_for = version
        flt = archive_filter.resolved(index.distinct("publication")) if archive_filter else None
        weight = dense_weight_for(self.embedder.name, self.settings.dense_weight)
        retriever = hybrid_retriever(
            self.store, self.embedder, index, max(RERANK_CANDIDATES, top_k), max(FUSION_CANDIDATES, top_k),
            dense_weight=weight, mode=self.settings.retrieval_mode, archive_filter=flt or None,
        )
        fused = retriever.retrieve(query)
        reranker = EvidenceReranker(top_n=max(RERANK_CANDIDATES, top_k), idf=index.idf, normalized=normalize_cached)
        ranked = reranker.postprocess_nodes(fused, query_str=query)
        return collapse_stories(ranked, top_k)

    def time_scope(self, question: str) -> TimeScope:
        """What ``question`` says about time (:mod:`rag.text.time_expr`), relative to ``settings.today`` or else
        the newest publication date in the corpus (else the calendar date)."""
        reference = self.settings.today
        if reference is None:
            newest = max(self.keyword_index.current().distinct("published"), default="")
            reference = parse_day(newest[:10], "published") if newest else date.today()
        return parse_time_expression(normalize_cached(question), reference or date.today())

    def articles(self, archive_filter: ArchiveFilter | None = None, offset: int = 0, limit: int = 20) -> ArticlePage:
        """Stored articles passing ``archive_filter``, newest first, paged (see :func:`rag.archive.list_articles`)."""
        index = self.keyword_index.current()
        flt = archive_filter.resolved(index.distinct("publication")) if archive_filter else None
        return list_articles(index, self.store, flt, offset, limit)

    def ask(
        self, question: str, top_k: int | None = None, conversation_id: str | None = None,
        history: Sequence[Turn] | None = None, archive_filter: ArchiveFilter | None = None,
    ) -> Answer:
        """Answer ``question`` (1..1000 characters) from the top ``top_k`` chunks (default settings.top_k).

        With an LLM configured (``settings.llm_enabled``) the answer is generated and its citations verified
        (``mode="llm"``), falling back to the extractive answer on any LLM failure; otherwise it is extractive.
        ``conversation_id`` keeps a bounded history so that follow-ups (``那郏县呢？``) are rewritten into standalone
        questions; ``history`` passes earlier turns explicitly instead. ``archive_filter`` limits the reports by
        date and publication, as does a time the question names (:meth:`time_scope`). A question about what was
        reported gets the reports (:meth:`report_listing`). See :mod:`rag.answering.generate`."""
        answers = [e for e in self.ask_stream(question, top_k, conversation_id, history, archive_filter)
                   if isinstance(e, Answer)]
        return answers[-1]  # ask_stream always ends with the answer

    def ask_stream(
        self, question: str, top_k: int | None = None, conversation_id: str | None = None,
        history: Sequence[Turn] | None = None, archive_filter: ArchiveFilter | None = None,
    ) -> Generator[AskEvent, None, None]:
        """:meth:`ask` as events: ``CitationsUpdate`` first, ``TextDelta`` pieces, the final ``Answer`` last (see
        :mod:`rag.answering.generate`). Errors of the core are raised by the first ``next()``; LLM errors never are."""
        events = self.responder.events(question, top_k, conversation_id, history, archive_filter)
        return (self.with_story_copies(e) if isinstance(e, Answer) else e for e in events)

    def with_story_copies(self, answer: Answer) -> Answer:
        """``answer`` with each citation's other printings (``also``) read from the store in one query."""
        members = self.store.story_members([c.story_id for c in answer.citations if c.story_id])
        return answer.model_copy(update={"citations": with_copies(answer.citations, members)}) if members else answer

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
        return self.keyword_index.current().idf

    def extractive_answer(self, question: str, nodes: list[NodeWithScore], scope: TimeScope | None = None) -> Answer:
        """The extractive answer to ``question`` (validated) from ``nodes``, with its ``confidence``; ``scope``
        (:meth:`time_scope`) says which reports are preferred."""
        answerer = ExtractiveAnswerer(self.keyword_index.current().idf, self.similarity,
                                      self.settings.answer_max_chars, self.settings.min_answer_confidence)
        scope = scope or TimeScope()
        return answerer.answer(question, nodes, scope.recency, scope.iso_range)

    def scoped(self, question: str, archive_filter: ArchiveFilter | None) -> tuple[ArchiveFilter | None, TimeScope]:
        """``archive_filter`` with the time range ``question`` names as its scope, and that :class:`TimeScope`."""
        scope = self.time_scope(question)
        if scope.has_range:
            archive_filter = (archive_filter or ArchiveFilter()).with_scope(scope.since, scope.until)
        return archive_filter, scope

    def report_listing(self, question: str, archive_filter: ArchiveFilter | None, scope: TimeScope) -> Answer | None:
        """The reports a question about what was reported asks for (:mod:`rag.answering.report_listing`), else None."""
        index = self.keyword_index.current()
        return report_listing(question, scope, archive_filter, index.distinct("publication"),
                              lambda flt, tokens, limit: find_reports(index, flt, tokens, limit))

    def answer_with_nodes(self, question: str, top_k: int | None = None,
                          archive_filter: ArchiveFilter | None = None) -> tuple[Answer, list[NodeWithScore]]:
        """The answer without the LLM (report listing, else extractive) plus the retrieved chunks (for evaluation)."""
        question = self.validate_question(question)
        flt, scope = self.scoped(question, archive_filter)
        query = scope.query or question
        nodes = self.retrieve(query, top_k or self.settings.top_k, flt)
        answer = self.report_listing(question, flt, scope) or self.extractive_answer(query, nodes, scope)
        return self.with_story_copies(answer.model_copy(update={"question": question})), nodes

    def search(self, query: str, top_k: int = 10, archive_filter: ArchiveFilter | None = None) -> list[SearchHit]:
        """Hybrid retrieval only: the ``top_k`` best chunks passing ``archive_filter``, best first."""
        query = self.validate_question(query)
        fields = set(SearchHit.model_fields) - {"rank"}
        return [SearchHit(rank=rank, **citation_for(rank, hit).model_dump(include=fields))
                for rank, hit in enumerate(self.retrieve(query, top_k, archive_filter), 1)]

    def get_article(self, article_id: str) -> Article | None:
        """The whole article with this id, or None when unknown."""
        return self.store.get_article(article_id)

    def ingest(self, paths: list[Path] | None = None, progress: IngestProgressFn | None = None,
               rebuild: bool = False) -> IngestSummary:
        """Incremental ingest of ``paths`` (default: the articles folder) by the service's :class:`IngestRunner`
        (the pipeline, :func:`ingest.pipeline.run_ingest`, wired in by :func:`bot.service.build_service`).

        ``progress(stage, done, total, item)`` reports the pipeline's stages and last the keyword index's
        (``index``; see :data:`rag.models.INGEST_STAGES`). ``rebuild`` wipes the store first (needed after
        changing the embedding model). Raises IngestLockedError if another ingest runs.
        """
        if self._ingest_runner is None:
            raise RuntimeError("this NewsQA has no ingest runner: build it with bot.service.build_service")
        summary = self._ingest_runner(self.settings, self.store, lambda: self.embedder, paths, progress, rebuild)
        if progress:
            progress("index", 0, 1, "keyword index")
        self.keyword_index.refresh_now()  # visible to our next query, and persisted for the next process's
        if progress:
            progress("index", 1, 1, "")
        return summary

    def stats(self) -> StoreStats:
        """Article, chunk and file counts, embedding model and time of the last ingest."""
        counts, state = self.store.counts(), self.store.state()
        return StoreStats(articles=counts["articles"], chunks=counts["chunks"], files=counts["files"],
                          embedding_model=state["embedding_model"], last_ingest=state["last_ingest"],
                          dimension=int(state["dimension"]) if state["dimension"] else None)

    def publications(self) -> list[PublicationInfo]:
        """Each publication with its article count and date range (see :func:`rag.archive.list_publications`)."""
        return list_publications(self.keyword_index.current())

    def close(self) -> None:
        """Close the store client and drop the indexes (the embedder stays usable if it was passed in)."""
        with self._lock:
            store, self._store = self._store, None
            self.keyword_index.close()
        if store is not None:
            store.close()
