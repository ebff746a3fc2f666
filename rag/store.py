"""The Chroma store: chunks with embeddings, whole articles, the ingest manifest and store state.

Chroma is the single source of truth. One logical store is four collections (names from ``settings.collection``):

- ``<name>``: one record per chunk, written through llama-index's ``ChromaVectorStore`` (see
  :mod:`rag.chunk_vectors`; id ``<article_id>:<n>``; metadata = article id/title/source/position, chunk index, the
  pre-segmented normalised BM25 tokens, so any process can rebuild BM25 without re-segmenting, and llama-index's
  ``_node_content`` holding the chunk text in original characters; no Chroma document, see that module);
- ``<name>-articles``: one record per article (id = article id; metadata = title, source, position, chunk ids and
  the article ``text``);
- ``<name>-files``: the ingest manifest, one record per source file (sha256 of its bytes, counts);
- ``<name>-state``: one record ``store`` with the embedding model, its dimension, the index version (changes at
  every ingest that changed something) and the time of the last ingest; plus lease records ``lease:<name>`` (the
  ingest lock of a server store, see :meth:`Store.acquire_lease`).

The auxiliary collections hold no meaningful vectors; Chroma requires one, so they store a 1-d zero vector.

Embedded or server: with ``settings.chroma_host`` unset the store is an embedded ``PersistentClient`` in
``settings.store_dir``; with it set, a ``chromadb.HttpClient`` to ``chroma_host:chroma_port`` (``chroma run``),
sending ``Authorization: Bearer <chroma_token>`` when a token is set (for an authenticating proxy in front of the
server). Nothing else changes: the same collections, the same code paths.

Errors: every Chroma call goes through the store (the collections are :class:`GuardedCollection` proxies), so a
connection refused, a timeout, an HTTP error from the server or proxy, or a collection dropped by another process
(``ingest --rebuild`` elsewhere) never escapes as a Chroma/httpx exception. The store reopens its collections (and,
if that fails, its client) and retries the call once; when that fails too it raises
:class:`rag.errors.StoreUnavailableError` with a message safe to show users (it names the server or folder, never
the token). The next call tries again, so a process recovers by itself once the server is back. Errors that are
bugs in the caller (bad arguments: ``ValueError``, ``TypeError``, Chroma's ``InvalidArgumentError`` ...) are
re-raised unchanged.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any, NamedTuple

from rag.errors import ModelMismatchError, StoreUnavailableError
from rag.leases import DUMMY_VECTOR as _DUMMY
from rag.leases import LeaseRecords
from rag.models import Article
from rag.settings import Settings

log = logging.getLogger(__name__)

_PAGE = 5000  # records per Chroma get(): bounded memory when reading large collections
_STATE_ID = "store"
_STATE_KEYS = ("embedding_model", "dimension", "version", "last_ingest", "writes_complete")

#: Seconds to wait for a TCP connection to the Chroma server.
CONNECT_TIMEOUT_SECONDS = 5.0
#: Seconds to wait for one response of the Chroma server (a page of 5000 records included).
READ_TIMEOUT_SECONDS = 120.0
#: Longest part of an underlying error message quoted in a StoreUnavailableError (characters).
_MAX_DETAIL_CHARS = 300

_ROLES = ("chunks", "articles", "files", "state")

#: HNSW settings of new collections (Chroma keeps an existing collection's). Chroma's default sync threshold (1000)
#: lets up to 1000 records wait unpersisted, and every write then costs more the longer that backlog is: writing
#: the 519 benchmark chunks in 256-record batches took 1.28 s with it and 0.96 s with 100, and one more record
#: 250 ms against 18 ms (bench/NOTES.md, section 6). Query latency is unchanged. (``hnsw:batch_size`` stays at
#: Chroma's default, 100.)
HNSW_WRITE_TUNING = {"hnsw:sync_threshold": 100}


class ManifestEntry(NamedTuple):
    """One fully ingested file: its ``source`` key, the ``sha256`` of its bytes, the ``articles`` and ``chunks``
    stored from it, and ``shared``: ids of its articles that are stored from another file instead (the same article
    printed on two pages is stored once; when that other copy goes, this file is ingested again)."""

    source: str
    sha256: str
    articles: int
    chunks: int
    shared: tuple[str, ...] = ()


def _input_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the caller passed bad arguments": re-raised as they are, never retried."""
    from chromadb import errors

    names = (
        "InvalidArgumentError", "InvalidDimensionException", "DuplicateIDError", "IDAlreadyExistsError",
        "UniqueConstraintError", "BatchSizeExceededError", "InvalidUUIDError",
    )
    chroma = tuple(getattr(errors, n) for n in names if hasattr(errors, n))
    return (ValueError, TypeError, KeyError, AttributeError, AssertionError, NotImplementedError, *chroma)


def _is_auth_error(exc: BaseException) -> bool:
    from chromadb import errors

    auth = tuple(getattr(errors, n) for n in ("ChromaAuthError", "AuthorizationError") if hasattr(errors, n))
    if isinstance(exc, auth):
        return True
    text = str(exc)
    return type(exc) is Exception and any(code in text for code in ("401", "403", "Unauthorized", "Forbidden"))


class Store(LeaseRecords):
    """Access to the four collections of one logical store (embedded or Chroma server; see the module docstring).

    Thread-safe: one Store may serve many threads (the REST API's thread pool). ``chunks``, ``articles``,
    ``files`` and ``state_collection`` are :class:`GuardedCollection` proxies with the Chroma ``Collection``
    methods (``get``, ``add``, ``upsert``, ``update``, ``delete``, ``query``, ``count`` ...); ``vector_store`` is
    :class:`rag.chunk_vectors.ChunkVectorStore` (llama-index's ``ChromaVectorStore``) over the guarded chunk collection.

    Raises :class:`StoreUnavailableError` when the embedded store cannot be opened or the server is unreachable,
    here and from every method (after one reopen-and-retry).
    """

    def __init__(self, settings: Settings) -> None:
        from rag.chunk_vectors import ChunkVectorStore

        self.settings = settings
        self._lock = threading.RLock()
        self._client: Any = None
        self._handles: dict[str, Any] = {}
        self._generation = 0
        self._input_errors = _input_error_types()
        self._open()
        self.chunks = GuardedCollection(self, "chunks")
        self.articles = GuardedCollection(self, "articles")
        self.files = GuardedCollection(self, "files")
        self.state_collection = GuardedCollection(self, "state")
        self.vector_store = ChunkVectorStore(chroma_collection=self.chunks)  # type: ignore[call-arg]  # pydantic init

    # --- connection ---------------------------------------------------------------------------------
    @property
    def server_mode(self) -> bool:
        """True for a Chroma server store (``settings.chroma_host`` set), False for the embedded store."""
        return bool(self.settings.chroma_host)

    @property
    def where(self) -> str:
        """Human description of the store: ``Chroma server 10.0.0.5:8001`` or ``embedded store data/store``."""
        if self.server_mode:
            return f"Chroma server {self.settings.chroma_host}:{self.settings.chroma_port}"
        return f"embedded store {self.settings.store_dir}"

    @property
    def client(self) -> Any:
        """The current raw Chroma client (replaced when the store reconnects); prefer the Store's methods."""
        return self._client

    def _names(self) -> dict[str, str]:
        name = self.settings.collection
        return {"chunks": name, "articles": f"{name}-articles", "files": f"{name}-files", "state": f"{name}-state"}

    def _open_client(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if not self.server_mode:
            self.settings.store_dir.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(self.settings.store_dir), settings=chroma_settings)
        host, port = str(self.settings.chroma_host), self.settings.chroma_port
        # A plain TCP connect first: fails fast with the real reason (refused, unknown host, timeout), where the
        # Chroma client would wait without a timeout and then report only "could not connect".
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS):
            pass
        headers = {}
        if self.settings.chroma_token is not None:
            headers["Authorization"] = f"Bearer {self.settings.chroma_token.get_secret_value()}"
        client = chromadb.HttpClient(host=host, port=port, headers=headers, settings=chroma_settings)
        session = getattr(getattr(client, "_server", None), "_session", None)
        if session is not None:  # chromadb creates its httpx session without any timeout
            import httpx

            session.timeout = httpx.Timeout(READ_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS)
        return client

    def _open(self, new_client: bool = True) -> None:
        """(Re)open the client (when ``new_client`` or none is open) and the four collections.

        Raises StoreUnavailableError. Call with ``self._lock`` held or from ``__init__``.
        """
        try:
            if new_client or self._client is None:
                old, self._client = self._client, None
                if old is not None:
                    _close_quietly(old)
                self._client = self._open_client()
            names = self._names()
            handles = {
                "chunks": self._client.get_or_create_collection(
                    names["chunks"], embedding_function=None, metadata={"hnsw:space": "cosine", **HNSW_WRITE_TUNING}
                ),
                **{
                    role: self._client.get_or_create_collection(
                        names[role], embedding_function=None, metadata=HNSW_WRITE_TUNING
                    )
                    for role in ("articles", "files", "state")
                },
            }
        except self._input_errors as exc:
            if self._client is None:  # chromadb reports "could not connect" as a ValueError
                raise StoreUnavailableError(self._message(exc, "cannot open")) from exc
            raise
        except Exception as exc:
            raise StoreUnavailableError(self._message(exc, "cannot open")) from exc
        self._handles = handles
        self._generation += 1

    def _reopen(self, seen_generation: int) -> None:
        """Reopen after a failed call made with the handles of ``seen_generation`` (no-op if another thread did).

        Re-fetches the collections with the current client first (enough after a server restart or when another
        process dropped and recreated a collection); opens a new client when that fails. Raises
        StoreUnavailableError.
        """
        with self._lock:
            if self._generation != seen_generation:
                return
            try:
                self._open(new_client=False)
            except StoreUnavailableError:
                self._open(new_client=True)
            log.info("reconnected to the %s", self.where)

    def _message(self, exc: BaseException, doing: str) -> str:
        """A user-safe message for ``exc``: names the server or folder and the reason, never the token."""
        if isinstance(exc, ConnectionRefusedError) or "Connection refused" in str(exc):
            reason = "connection refused"
        elif isinstance(exc, socket.gaierror):
            reason = "unknown host"
        elif isinstance(exc, TimeoutError) or "ConnectTimeout" in type(exc).__name__:
            reason = f"no connection within {CONNECT_TIMEOUT_SECONDS:.0f} s"
        elif "Timeout" in type(exc).__name__ or "timed out" in str(exc).lower():
            reason = f"no answer within {READ_TIMEOUT_SECONDS:.0f} s"
        elif _is_auth_error(exc):
            reason = "the server refused the credentials (check NEWSQA_CHROMA_TOKEN)"
        else:
            detail = " ".join(str(exc).split())[:_MAX_DETAIL_CHARS]
            reason = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        if self.server_mode:
            hint = (
                "; is it running (`make chroma`) and are NEWSQA_CHROMA_HOST/NEWSQA_CHROMA_PORT right?"
                if reason in ("connection refused", "unknown host") else ""
            )
            message = f"{doing} the {self.where}: {reason}{hint}"
        else:
            message = f"{doing} the {self.where}: {reason}"
        token = self.settings.chroma_token.get_secret_value() if self.settings.chroma_token is not None else ""
        return message.replace(token, "***") if token else message

    def call(self, role: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``method`` of collection ``role`` (``chunks``, ``articles``, ``files`` or ``state``; ``client`` for
        the client itself).

        On a failure other than bad arguments the store reopens and retries once; then raises
        StoreUnavailableError (auth failures are not retried).
        """
        for attempt in (1, 2):
            with self._lock:
                if self._client is None:  # closed, or the last reopen failed
                    self._open(new_client=True)
                handle = self._client if role == "client" else self._handles[role]
                generation = self._generation
            try:
                return getattr(handle, method)(*args, **kwargs)
            except self._input_errors:
                raise
            except Exception as exc:
                if attempt == 2 or _is_auth_error(exc):
                    raise StoreUnavailableError(self._message(exc, "cannot use")) from exc
                log.warning("%s.%s on the %s failed (%s); reopening and retrying once",
                            role, method, self.where, type(exc).__name__)
                self._reopen(generation)  # raises StoreUnavailableError naming the reason (refused, timeout ...)
        raise AssertionError("unreachable")

    def ping(self) -> None:
        """Check that the store answers (one round trip to the server). Raises StoreUnavailableError."""
        self.call("state", "count")

    def close(self) -> None:
        """Release the client (HTTP connections, or the embedded store's files when no other client uses them)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            _close_quietly(client)

    # --- state ------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """``{"embedding_model", "dimension", "version", "last_ingest", "writes_complete"}`` (None on a new store).

        ``writes_complete`` is False while an ingest writes and True once it finished; False (or None, on a store
        written before the flag existed) at the start of an ingest means the last one was interrupted and may have
        left orphan records (see :mod:`ingest.pipeline`).
        """
        result = self.state_collection.get(ids=[_STATE_ID], include=["metadatas"])
        meta = dict(result["metadatas"][0]) if result["ids"] else {}
        return {key: meta.get(key) for key in _STATE_KEYS}

    def set_state(self, **values: Any) -> None:
        """Update some state keys (None values are not stored)."""
        state = {k: v for k, v in {**self.state(), **values}.items() if v is not None}
        self.state_collection.upsert(ids=[_STATE_ID], embeddings=[_DUMMY], metadatas=[state or {"new": True}])

    def check_model(self, name: str, dimension: int) -> None:
        """Raise :class:`ModelMismatchError` unless the store is empty or was built with this model and dimension."""
        state = self.state()
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
                metadatas=[{"sha256": e.sha256, "articles": e.articles, "chunks": e.chunks, "shared": " ".join(e.shared)}
                           for e in entries],
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
        # The text is metadata, not the Chroma document: documents get a full-text index nobody queries here
        # (see rag.chunk_vectors), which doubled the cost of this write.
        self.articles.upsert(
            ids=[r["article_id"] for r in records],
            embeddings=[_DUMMY] * len(records),
            metadatas=[
                {"title": r["title"], "source": r["source"], "position": r["position"],
                 "chunk_ids": json.dumps(r["chunk_ids"]), "text": r["text"]}
                for r in records
            ],
        )

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
        return Article(
            article_id=article_id, title=str(meta["title"]), source=str(meta["source"]),
            position=int(meta["position"]), text=str(meta.get("text") or got["documents"][0] or ""),
            chunk_ids=json.loads(str(meta["chunk_ids"])),
        )

    # --- chunks -----------------------------------------------------------------------------------
    def iter_chunks(self) -> Iterator[tuple[list[str], list[str], list[dict[str, Any]]]]:
        """Pages of ``(ids, texts, metadatas)`` over all chunks (texts from the document or ``_node_content``)."""
        from rag.retrieval import record_to_node

        for ids, docs, metas in self._pages(self.chunks, include=["documents", "metadatas"]):
            texts = [record_to_node(i, d, m).get_content() for i, d, m in zip(ids, docs, metas, strict=True)]
            yield ids, texts, metas

    def iter_chunk_tokens(self) -> Iterator[tuple[list[str], list[str], list[dict[str, Any]]]]:
        """Pages of ``(ids, _, metadatas)`` over all chunks without their documents """
        yield from self._pages(self.chunks, include=["metadatas"])

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


class GuardedCollection:
    """A Chroma collection of a :class:`Store`, seen through :meth:`Store.call`.

    Every method call (``get``, ``add``, ``query`` ...) goes to the store's current handle of the collection, so
    it survives a reconnect, and raises StoreUnavailableError instead of Chroma/httpx errors. Non-callable
    attributes (``name``, ``id``, ``metadata``) are read from the current handle.
    """

    def __init__(self, store: Store, role: str) -> None:
        if role not in _ROLES:
            raise ValueError(f"unknown collection role {role!r}")
        self._store = store
        self._role = role

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        attr = getattr(self._store._handles[self._role], name)
        if not callable(attr):
            return attr

        def guarded(*args: Any, **kwargs: Any) -> Any:
            return self._store.call(self._role, name, *args, **kwargs)

        guarded.__name__ = name
        return guarded

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"GuardedCollection({self._role!r} of the {self._store.where})"


def _close_quietly(client: Any) -> None:
    try:
        client.close()
    except Exception as exc:  # closing a client of a dead server must not hide the real error
        log.debug("closing the Chroma client failed: %s", exc)
