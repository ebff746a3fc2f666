"""The Chroma connection of a :class:`rag.store.store.Store`: client, five collections, guarded calls.

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

import itertools
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

from rag.errors import StoreUnavailableError
from rag.settings import Settings
from rag.store.hnsw import SYNC_THRESHOLD, apply_search_settings, chunk_configuration

log = logging.getLogger(__name__)

_PAGE = 5000  # records per Chroma get(): bounded memory when reading large collections

#: Seconds to wait for a TCP connection to the Chroma server.
CONNECT_TIMEOUT_SECONDS = 5.0
#: Seconds to wait for one response of the Chroma server (a page of 5000 records included).
READ_TIMEOUT_SECONDS = 120.0
#: Longest part of an underlying error message quoted in a StoreUnavailableError (characters).
_MAX_DETAIL_CHARS = 300

_ROLES = ("chunks", "articles", "files", "state", "embeddings")  # embeddings: the cache (rag.store.embedding_cache)

#: HNSW write tuning of the auxiliary collections (the chunk collection's: :mod:`rag.store.hnsw`).
HNSW_WRITE_TUNING = {"hnsw:sync_threshold": SYNC_THRESHOLD}


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


class ChromaConnection:
    """The Chroma client and the five collection handles of one logical store, with guarded calls (:meth:`call`,
    see the module docstring). Thread-safe. Raises :class:`StoreUnavailableError` when the store cannot be opened."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.RLock()
        self._client: Any = None
        self._handles: dict[str, Any] = {}
        self._generation = 0
        self._input_errors = _input_error_types()
        self._open()

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
        return {"chunks": name, **{role: f"{name}-{role}" for role in _ROLES[1:]}}

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
        """(Re)open the client (when ``new_client`` or none is open) and the five collections.

        Raises StoreUnavailableError. Call with ``self._lock`` held or from ``__init__``.
        """
        try:
            if new_client or self._client is None:
                old, self._client = self._client, None
                if old is not None:
                    _close_quietly(old)
                self._client = self._open_client()
            names = self._names()
            handles = {"chunks": self._client.get_or_create_collection(  # an existing one keeps its configuration
                names["chunks"], embedding_function=None, configuration=chunk_configuration(self.settings))}
            for role in _ROLES[1:]:
                handles[role] = self._client.get_or_create_collection(names[role], embedding_function=None,
                                                                      metadata=HNSW_WRITE_TUNING)
        except Exception as exc:
            if isinstance(exc, self._input_errors) and self._client is not None:  # a bug, not the store
                raise  # (chromadb reports "could not connect" as a ValueError: the client is None then)
            raise StoreUnavailableError(self._message(exc, "cannot open")) from exc
        self._handles = handles
        self._generation += 1
        if self._generation == 1:  # once per process's store: ef_search in step with the settings (before a query)
            apply_search_settings(handles["chunks"], self.settings, self.where)

    def _reopen(self, seen_generation: int) -> None:
        """Reopen after a failed call made with the handles of ``seen_generation`` (no-op if another thread did).

        Server: re-fetches the collections with the current client first (enough after a server restart or when
        another process dropped and recreated a collection); a new client when that fails. Embedded: always a new
        client, since chromadb's in-memory ``System`` of a folder does not see what another process (``newsqa
        ingest`` beside ``newsqa serve``) wrote ("Error finding id") until it is stopped and loaded again.
        Raises StoreUnavailableError.
        """
        with self._lock:
            if self._generation != seen_generation:
                return
            try:
                self._open(new_client=not self.server_mode)
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
        message = f"{doing} the {self.where}: {reason}"
        if self.server_mode and reason in ("connection refused", "unknown host"):
            message += "; is it running (`make chroma`) and are NEWSQA_CHROMA_HOST/NEWSQA_CHROMA_PORT right?"
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

    def close(self) -> None:
        """Release the client (HTTP connections, or the embedded store's files when no other client uses them)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            _close_quietly(client)

    @staticmethod
    def _pages(collection: Any, include: list[str]) -> Iterator[tuple[list[str], list[Any], list[Any]]]:
        for offset in itertools.count(0, _PAGE):
            got = collection.get(include=include, limit=_PAGE, offset=offset)
            ids = got["ids"]
            if ids:
                yield ids, got.get("documents") or [None] * len(ids), got.get("metadatas") or [{}] * len(ids)
            if len(ids) < _PAGE:
                return


class GuardedCollection:
    """A Chroma collection of a store, seen through :meth:`ChromaConnection.call`.

    Every method call (``get``, ``add``, ``query`` ...) goes to the store's current handle of the collection, so
    it survives a reconnect, and raises StoreUnavailableError instead of Chroma/httpx errors. Non-callable
    attributes (``name``, ``id``, ``metadata``) are read from the current handle.
    """

    def __init__(self, store: ChromaConnection, role: str) -> None:
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

    def __repr__(self) -> str:
        return f"GuardedCollection({self._role!r} of the {self._store.where})"


def _close_quietly(client: Any) -> None:
    try:
        client.close()
    except Exception as exc:  # closing a client of a dead server must not hide the real error
        log.debug("closing the Chroma client failed: %s", exc)
