"""The Chroma store: chunks with embeddings, whole articles, the ingest manifest and store state.

Chroma is the single source of truth. One logical store is five collections (names from ``settings.collection``):

- ``<name>``: one record per chunk, written through llama-index's ``ChromaVectorStore`` (see
  :mod:`rag.store.chunk_vectors`; id ``<article_id>:<n>``; metadata = article id/title/source/position, chunk index, the
  pre-segmented normalised BM25 tokens, so any process can rebuild BM25 without re-segmenting, and llama-index's
  ``_node_content`` holding the chunk text in original characters; no Chroma document, see that module);
- ``<name>-articles``: one record per article (id = article id; metadata = title, source, position, chunk ids and
  the article ``text``);
- ``<name>-files``: the ingest manifest, one record per source file (sha256 of its bytes, with
  its metadata sidecar's hash folded in when it has one: ``ingest.metadata.file_fingerprint``; counts);
- ``<name>-state``: one record ``store`` with the embedding model, its dimension, the index version (changes at
  every ingest that changed something) and the time of the last ingest; plus lease records ``lease:<name>`` (the
  ingest lock of a server store, see :meth:`Store.acquire_lease`);
- ``<name>-embeddings``: the embedding cache, one record per (model, text) (:mod:`rag.store.embedding_cache`); kept
  by :meth:`Store.wipe`, so ``ingest --rebuild`` re-embeds nothing it has embedded before.

The auxiliary collections hold no meaningful vectors; Chroma requires one, so they store a 1-d zero vector.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any, NamedTuple

from rag.errors import ModelMismatchError, StoreUnavailableError
from rag.models import Article
from rag.settings import Settings
from rag.store.changes import ChangeLog, LoggedChunks
from rag.store.connection import GuardedCollection
from rag.store.embedding_cache import EmbeddingCache
from rag.store.format import STORE_FORMAT, ensure_format, stored_format
from rag.store.leases import DUMMY_VECTOR as _DUMMY
from rag.store.leases import LeaseRecords

log = logging.getLogger(__name__)

_STATE_ID = "store"
_STATE_KEYS = ("embedding_model", "dimension", "version", "last_ingest", "writes_complete", "log_epoch", "log_seq",
               "log_version", "store_format")


class ManifestEntry(NamedTuple):
    """One fully ingested file: its ``source`` key, the ``sha256`` of its bytes (and sidecar), the ``articles`` and
    ``chunks`` stored from it, and ``shared``: ids of its articles that are stored from another file instead (the
    same article printed on two pages is stored once; when that other copy goes, this file is ingested again)."""

    source: str
    sha256: str
    articles: int
    chunks: int
    shared: tuple[str, ...] = ()


class Store(LeaseRecords):
    """Access to the five collections of one logical store (embedded or Chroma server; see the module docstring).

    Thread-safe: one Store may serve many threads (the REST API's thread pool). ``chunks``, ``articles``,
    ``files`` and ``state_collection`` are :class:`GuardedCollection` proxies with the Chroma ``Collection``
    methods (``get``, ``add``, ``upsert``, ``update``, ``delete``, ``query``, ``count`` ...); ``vector_store`` is
    :class:`rag.store.chunk_vectors.ChunkVectorStore` (llama-index's ``ChromaVectorStore``) over the guarded chunk
    collection.

    Raises :class:`StoreUnavailableError` when the embedded store cannot be opened or the server is unreachable,
    here and from every method (after one reopen-and-retry).
    """

    def __init__(self, settings: Settings) -> None:
        from rag.store.chunk_vectors import ChunkVectorStore

        super().__init__(settings)
        self.articles = GuardedCollection(self, "articles")
        self.files = GuardedCollection(self, "files")
        self.state_collection = GuardedCollection(self, "state")
        self.changes = ChangeLog(self.state_collection)
        self._fresh_epoch = False
        self.chunks = LoggedChunks(self, self.changes, lambda: int(self.state()["log_seq"] or 0))
        self.vector_store = ChunkVectorStore(chroma_collection=self.chunks)  # type: ignore[call-arg]  # pydantic init
        self.embedding_cache = EmbeddingCache(GuardedCollection(self, "embeddings"))

    def warm_dense(self, dimension: int) -> None:
        """Make Chroma load the chunk collection's HNSW index (it does so on the first query: 1.6 GB at 1,000,000
        384-d chunks) with a one-result query for a unit vector of ``dimension``."""
        probe = [1.0] + [0.0] * (dimension - 1)
        self.chunks.query(query_embeddings=[probe], n_results=1, include=[])

    # --- state ------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """``{"embedding_model", "dimension", "version", "last_ingest", "writes_complete", "log_epoch",
        "log_seq", "log_version", "store_format"}`` (None on a new store; format: :mod:`rag.store.format`).

        ``writes_complete`` is False while an ingest writes and True once it finished; False (or None, on a store
        written before the flag existed) at the start of an ingest means the last one was interrupted and may have
        left orphan records (see :mod:`ingest.pipeline`). ``log_epoch`` and ``log_seq`` locate the chunk change
        log (:mod:`rag.store.changes`).
        """
        result = self.state_collection.get(ids=[_STATE_ID], include=["metadatas"])
        meta = dict(result["metadatas"][0]) if result["ids"] else {}
        return {key: meta.get(key) for key in _STATE_KEYS}

    def set_state(self, **values: Any) -> None:
        """Update some state keys (None values are not stored).

        A new ``version`` commits the change log entries written since the last one (``log_seq``); it starts a new
        log epoch instead when an interrupted ingest may have left entries whose writes never happened.
        """
        old = self.state()
        if stored_format(old) is None:  # a new (or wiped) store is written in the current format
            values = {"store_format": STORE_FORMAT, **values}
        if values.get("writes_complete") is False and old["writes_complete"] is False:
            self._fresh_epoch = True  # the last ingest stopped half-way
        if values.get("version") is not None:
            values = {**values, **self.changes.commit_values(old, self._fresh_epoch, str(values["version"]))}
            self._fresh_epoch = False
        state = {k: v for k, v in {**old, **values}.items() if v is not None}
        self.state_collection.upsert(ids=[_STATE_ID], embeddings=[_DUMMY], metadatas=[state or {"new": True}])
        if values.get("log_seq"):
            self.changes.prune(int(values["log_seq"]))

    def check_model(self, name: str, dimension: int) -> None:
        """Raise :class:`ModelMismatchError` unless the store is empty or was built with this model and dimension
        (and :class:`rag.errors.StoreFormatError` for a store format this newsqa cannot use, see
        :func:`rag.store.format.ensure_format`)."""
        state = self.state()
        ensure_format(self, state=state)
        if state["embedding_model"] is None:
            return
        if state["embedding_model"] != name or int(state["dimension"] or 0) != dimension:
            if self.chunks.count() == 0:
                return
            raise ModelMismatchError(
                f"the store was built with embedding model {state['embedding_model']} (dimension {state['dimension']})"
                f" but {name} (dimension {dimension}) is configured; re-ingest with `newsqa ingest --rebuild` "
                "or set NEWSQA_EMBEDDING_MODEL back"
            )

    def wipe(self) -> None:
        """Delete every chunk, article, manifest entry and the state (for ``ingest --rebuild``).

        Lease records (the ingest lock held by the caller) are kept. Other processes holding the dropped
        collections reopen them by name on their next call.
        """
        from chromadb.errors import NotFoundError

        names = self._names()
        with self._lock:
            for role in ("chunks", "articles", "files"):
                try:
                    self._client.delete_collection(names[role])
                except NotFoundError:
                    log.debug("collection %s absent on wipe", names[role])
                except Exception as exc:
                    raise StoreUnavailableError(self._message(exc, "cannot wipe")) from exc
            self._open(new_client=False)
        self.state_collection.delete(ids=[_STATE_ID])
        self.changes.clear()

    # --- manifest ---------------------------------------------------------------------------------
    def manifest(self) -> dict[str, dict[str, Any]]:
        """``{source: {"sha256", "articles", "chunks", "shared"}}`` for every ingested file (``shared``: the
        space-separated ids of its articles stored from another file, see :class:`ManifestEntry`; absent in
        entries written before it existed)."""
        out: dict[str, dict[str, Any]] = {}
        for ids, _docs, metas in self._pages(self.files, include=["metadatas"]):
            out.update(zip(ids, (dict(m) for m in metas), strict=True))
        return out

    def set_manifests(self, entries: list[ManifestEntry]) -> None:
        """Record that each entry's ``source`` with this content hash is fully ingested (one write)."""
        if entries:
            self.files.upsert(
                ids=[e.source for e in entries], embeddings=[_DUMMY] * len(entries),
                # "shared" always written: Chroma's upsert merges metadata, so an omitted key would keep its old value
                metadatas=[{"sha256": e.sha256, "articles": e.articles, "chunks": e.chunks,
                            "shared": " ".join(e.shared)} for e in entries],
            )

    def remove_chunks_of(self, sources: list[str]) -> int:
        """Delete the chunks and articles of ``sources`` (their manifest entries stay); returns chunks removed."""
        if not sources:
            return 0
        where = {"source": {"$in": sources}} if len(sources) > 1 else {"source": sources[0]}
        existing = self.chunks.get(where=where, include=[])["ids"]
        if existing:
            self.chunks.delete(ids=existing)
        self.articles.delete(where=where)
        return len(existing)

    def remove_source(self, source: str) -> int:
        """Delete the chunks, articles and manifest entry of ``source``; returns the number of chunks removed."""
        removed = self.remove_chunks_of([source])
        self.files.delete(ids=[source])
        return removed

    def chunk_sources(self) -> set[str]:
        """Every ``source`` that has chunks (finds orphans left by an interrupted ingest)."""
        sources: set[str] = set()
        for collection in (self.chunks, self.articles):
            for _ids, _docs, metas in self._pages(collection, include=["metadatas"]):
                sources.update(str(m.get("source")) for m in metas)
        return sources

    # --- articles ---------------------------------------------------------------------------------
    def add_articles(self, records: list[dict[str, Any]]) -> None:
        """Store articles: dicts with ``article_id, title, source, position, text, chunk_ids``."""
        if not records:
            return
        # The text is metadata, not the Chroma document: documents get a full-text index nobody queries here
        # (see rag.store.chunk_vectors), which doubled the cost of this write.
        self.articles.upsert(
            ids=[r["article_id"] for r in records], embeddings=[_DUMMY] * len(records),
            metadatas=[{**{k: v for k, v in r.items() if k not in ("article_id", "chunk_ids") and v is not None},
                        "chunk_ids": json.dumps(r["chunk_ids"])} for r in records],
        )

    def articles_where_any(self, conditions: dict[str, list[int]]) -> list[tuple[str, dict[str, Any]]]:
        """``(article_id, metadata)`` of stored articles whose field ``k`` is in ``conditions[k]`` for some ``k``:
        one metadata query (used to find near-duplicate candidates by their LSH band keys)."""
        clauses = [{key: {"$in": values}} for key, values in conditions.items() if values]
        if not clauses:
            return []
        where = clauses[0] if len(clauses) == 1 else {"$or": clauses}
        got = self.articles.get(where=where, include=["metadatas"])
        return list(zip(got["ids"], got["metadatas"], strict=True))

    def story_members(self, story_ids: list[str]) -> dict[str, list[Article]]:
        """Stored articles of each story (near-duplicate group), without text or chunk ids, oldest ingest first."""
        wanted = sorted(set(story_ids))
        if not wanted:
            return {}
        got = self.articles.get(where={"story_id": {"$in": wanted}}, include=["metadatas"])
        out: dict[str, list[Article]] = {}
        for article_id, meta in zip(got["ids"], got["metadatas"], strict=True):
            out.setdefault(str(meta["story_id"]), []).append(_article(article_id, meta, text="", chunk_ids=[]))
        return out

    def article_sources(self, article_ids: list[str]) -> dict[str, str]:
        """``{article_id: source}`` for those ids already stored."""
        if not article_ids:
            return {}
        got = self.articles.get(ids=list(dict.fromkeys(article_ids)), include=["metadatas"])  # Chroma refuses repeats
        return {i: str(m["source"]) for i, m in zip(got["ids"], got["metadatas"], strict=True)}

    def get_article(self, article_id: str) -> Article | None:
        """The stored article, or None for an unknown id."""
        got = self.articles.get(ids=[article_id], include=["metadatas", "documents"])
        if not got["ids"]:
            return None
        meta = got["metadatas"][0]
        return _article(article_id, meta, text=str(meta.get("text") or got["documents"][0] or ""),
                        chunk_ids=json.loads(str(meta["chunk_ids"])))

    # --- chunks -----------------------------------------------------------------------------------
    def iter_chunks(self) -> Iterator[tuple[list[str], list[str], list[dict[str, Any]]]]:
        """Pages of ``(ids, texts, metadatas)`` over all chunks (texts from the document or ``_node_content``)."""
        from rag.store.chunk_vectors import record_to_node

        for ids, docs, metas in self._pages(self.chunks, include=["documents", "metadatas"]):
            texts = [record_to_node(i, d, m).get_content() for i, d, m in zip(ids, docs, metas, strict=True)]
            yield ids, texts, metas

    def iter_chunk_tokens(self) -> Iterator[tuple[list[str], list[str], list[dict[str, Any]]]]:
        """Pages of ``(ids, _, metadatas)`` over all chunks without their documents """
        yield from self._pages(self.chunks, include=["metadatas"])

    def chunk_metadatas(self, ids: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
        """``(ids, metadatas)`` of those chunks that exist (in pages of 5000)."""
        out_ids: list[str] = []
        out_metas: list[dict[str, Any]] = []
        for start in range(0, len(ids), 5000):
            got = self.chunks.get(ids=ids[start : start + 5000], include=["metadatas"])
            out_ids.extend(got["ids"])
            out_metas.extend(got["metadatas"])
        return out_ids, out_metas

    def counts(self) -> dict[str, int]:
        """``{"chunks", "articles", "files"}`` record counts."""
        return {"chunks": self.chunks.count(), "articles": self.articles.count(), "files": self.files.count()}


def _article(article_id: str, meta: dict[str, Any], text: str, chunk_ids: list[str]) -> Article:
    return Article(
        article_id=article_id, title=str(meta["title"]), source=str(meta["source"]), position=int(meta["position"]),
        text=text, chunk_ids=chunk_ids, published=meta.get("published"), publication=meta.get("publication"),
        page=meta.get("page"), story_id=meta.get("story_id"),
    )
