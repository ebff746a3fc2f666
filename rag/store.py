"""The Chroma store: chunks with embeddings, whole articles, the ingest manifest and store state.

Chroma is the single source of truth. One logical store is four collections (names from ``settings.collection``):

- ``<name>``: one record per chunk, written through llama-index's ``ChromaVectorStore`` (id ``<article_id>:<n>``,
  document = chunk text in original characters, metadata = article id/title/source/position, chunk index and the
  pre-segmented normalised BM25 tokens, so any process can rebuild BM25 without re-segmenting);
- ``<name>-articles``: one record per article (id = article id, document = article text);
- ``<name>-files``: the ingest manifest, one record per source file (sha256 of its bytes, counts);
- ``<name>-state``: one record ``store`` with the embedding model, its dimension, the index version (changes at
  every ingest that changed something) and the time of the last ingest.

The auxiliary collections hold no meaningful vectors; Chroma requires one, so they store a 1-d zero vector.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from rag.errors import ModelMismatchError, StoreUnavailableError
from rag.models import Article
from rag.settings import Settings

log = logging.getLogger(__name__)

_PAGE = 5000  # records per Chroma get(): bounded memory when reading large collections
_DUMMY = [0.0]
_STATE_ID = "store"


def _client(settings: Settings) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    try:
        if settings.chroma_host:
            headers = {}
            if settings.chroma_token is not None:
                headers["Authorization"] = f"Bearer {settings.chroma_token.get_secret_value()}"
            return chromadb.HttpClient(
                host=settings.chroma_host, port=settings.chroma_port, headers=headers, settings=chroma_settings
            )
        settings.store_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.store_dir), settings=chroma_settings)
    except Exception as exc:
        where = (
            f"Chroma server {settings.chroma_host}:{settings.chroma_port}" if settings.chroma_host
            else f"store {settings.store_dir}"
        )
        raise StoreUnavailableError(f"cannot open {where}: {exc}") from exc


class Store:
    """Access to the four collections of one logical store.

    Raises :class:`StoreUnavailableError` when the embedded store cannot be opened or the server is unreachable.
    """

    def __init__(self, settings: Settings) -> None:
        from llama_index.vector_stores.chroma import ChromaVectorStore

        self.settings = settings
        self.client = _client(settings)
        name = settings.collection
        try:
            self.chunks = self.client.get_or_create_collection(
                name, embedding_function=None, metadata={"hnsw:space": "cosine"}
            )
            self.articles = self.client.get_or_create_collection(f"{name}-articles", embedding_function=None)
            self.files = self.client.get_or_create_collection(f"{name}-files", embedding_function=None)
            self.state_collection = self.client.get_or_create_collection(f"{name}-state", embedding_function=None)
        except Exception as exc:
            raise StoreUnavailableError(f"cannot open collection {name!r}: {exc}") from exc
        self.vector_store = ChromaVectorStore(chroma_collection=self.chunks)

    # --- state ------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """``{"embedding_model", "dimension", "version", "last_ingest"}`` (values None on a new store)."""
        result = self.state_collection.get(ids=[_STATE_ID], include=["metadatas"])
        meta = dict(result["metadatas"][0]) if result["ids"] else {}
        return {key: meta.get(key) for key in ("embedding_model", "dimension", "version", "last_ingest")}

    def set_state(self, **values: Any) -> None:
        """Update some state keys (None values are not stored)."""
        state = {k: v for k, v in {**self.state(), **values}.items() if v is not None}
        self.state_collection.upsert(ids=[_STATE_ID], embeddings=[_DUMMY], metadatas=[state or {"new": True}])

    def check_model(self, name: str, dimension: int) -> None:
        """Raise :class:`ModelMismatchError` unless the store is empty or was built with this model and dimension."""
        state = self.state()
        if self.chunks.count() == 0 or state["embedding_model"] is None:
            return
        if state["embedding_model"] != name or int(state["dimension"] or 0) != dimension:
            raise ModelMismatchError(
                f"the store was built with embedding model {state['embedding_model']} (dimension {state['dimension']})"
                f" but {name} (dimension {dimension}) is configured; re-ingest with `newsqa ingest --rebuild` "
                "or set NEWSQA_EMBEDDING_MODEL back"
            )

    def wipe(self) -> None:
        """Delete every chunk, article, manifest entry and the state (for ``ingest --rebuild``)."""
        name = self.settings.collection
        for coll in (name, f"{name}-articles", f"{name}-files", f"{name}-state"):
            try:
                self.client.delete_collection(coll)
            except Exception:  # absent already
                log.debug("collection %s absent on wipe", coll)
        self.__init__(self.settings)  # type: ignore[misc]

    # --- manifest ---------------------------------------------------------------------------------
    def manifest(self) -> dict[str, dict[str, Any]]:
        """``{source: {"sha256", "articles", "chunks"}}`` for every ingested file."""
        out: dict[str, dict[str, Any]] = {}
        for ids, _docs, metas in self._pages(self.files, include=["metadatas"]):
            out.update(zip(ids, (dict(m) for m in metas), strict=True))
        return out

    def set_manifest(self, source: str, sha256: str, articles: int, chunks: int) -> None:
        """Record that ``source`` with this content hash is fully ingested."""
        self.files.upsert(
            ids=[source], embeddings=[_DUMMY],
            metadatas=[{"sha256": sha256, "articles": articles, "chunks": chunks}],
        )

    def remove_source(self, source: str) -> int:
        """Delete the chunks, articles and manifest entry of ``source``; returns the number of chunks removed."""
        existing = self.chunks.get(where={"source": source}, include=[])["ids"]
        if existing:
            self.chunks.delete(ids=existing)
        self.articles.delete(where={"source": source})
        self.files.delete(ids=[source])
        return len(existing)

    def chunk_sources(self) -> set[str]:
        """Every ``source`` that has chunks (finds orphans left by an interrupted ingest)."""
        sources: set[str] = set()
        for _ids, _docs, metas in self._pages(self.chunks, include=["metadatas"]):
            sources.update(str(m.get("source")) for m in metas)
        for _ids, _docs, metas in self._pages(self.articles, include=["metadatas"]):
            sources.update(str(m.get("source")) for m in metas)
        return sources

    # --- articles ---------------------------------------------------------------------------------
    def add_articles(self, records: list[dict[str, Any]]) -> None:
        """Store articles: dicts with ``article_id, title, source, position, text, chunk_ids``."""
        if not records:
            return
        self.articles.upsert(
            ids=[r["article_id"] for r in records],
            embeddings=[_DUMMY] * len(records),
            documents=[r["text"] for r in records],
            metadatas=[
                {"title": r["title"], "source": r["source"], "position": r["position"],
                 "chunk_ids": json.dumps(r["chunk_ids"])}
                for r in records
            ],
        )

    def article_sources(self, article_ids: list[str]) -> dict[str, str]:
        """``{article_id: source}`` for those ids already stored."""
        if not article_ids:
            return {}
        got = self.articles.get(ids=article_ids, include=["metadatas"])
        return {i: str(m["source"]) for i, m in zip(got["ids"], got["metadatas"], strict=True)}

    def get_article(self, article_id: str) -> Article | None:
        """The stored article, or None for an unknown id."""
        got = self.articles.get(ids=[article_id], include=["metadatas", "documents"])
        if not got["ids"]:
            return None
        meta = got["metadatas"][0]
        return Article(
            article_id=article_id, title=str(meta["title"]), source=str(meta["source"]),
            position=int(meta["position"]), text=got["documents"][0] or "",
            chunk_ids=json.loads(str(meta["chunk_ids"])),
        )

    # --- chunks -----------------------------------------------------------------------------------
    def iter_chunks(self) -> Iterator[tuple[list[str], list[str], list[dict[str, Any]]]]:
        """Pages of ``(ids, documents, metadatas)`` over all chunks, for rebuilding BM25."""
        yield from self._pages(self.chunks, include=["documents", "metadatas"])

    def counts(self) -> dict[str, int]:
        """``{"chunks", "articles", "files"}`` record counts."""
        return {"chunks": self.chunks.count(), "articles": self.articles.count(), "files": self.files.count()}

    @staticmethod
    def _pages(collection: Any, include: list[str]) -> Iterator[tuple[list[str], list[Any], list[Any]]]:
        offset = 0
        while True:
            got = collection.get(include=include, limit=_PAGE, offset=offset)
            ids = got["ids"]
            if not ids:
                return
            docs = got.get("documents") or [None] * len(ids)
            metas = got.get("metadatas") or [{}] * len(ids)
            yield ids, docs, metas
            if len(ids) < _PAGE:
                return
            offset += len(ids)
