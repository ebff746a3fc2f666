"""The chunk change log: what every process needs to follow the corpus without re-reading it.

Every write to the chunk collection that goes through a :class:`rag.store.store.Store` (``add``, ``upsert``,
``update``, ``delete``) first appends one record ``log:<seq>`` to the ``-state`` collection: ``{"kind": "log",
"seq", "op": "put" | "del", "ids": JSON list of chunk ids}``. The store state carries ``log_epoch`` (random, new
whenever the log cannot be trusted: a wiped store, an ingest that was interrupted) and ``log_seq``, the last entry
of the log whose writes are complete; it is written with the ``version`` at the end of an ingest, after all its
writes. So a process holding a keyword index derived at ``(epoch, seq)`` catches up by reading the entries
``seq+1 .. log_seq`` (``log_version`` is the version the log covers) and, for the ``put`` ids, the chunk records themselves (:mod:`rag.retrieval.keyword_sync`):
Chroma stays the only source of truth, the log only says where to look. Entries older than :data:`LOG_KEEP` are
pruned; a process further behind rebuilds from the chunks.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from rag.store.connection import ChromaConnection, GuardedCollection
from rag.store.leases import DUMMY_VECTOR

log = logging.getLogger(__name__)

LOG_PREFIX = "log:"
#: Log entries kept; a process further behind than this rebuilds its keyword index from the chunks.
LOG_KEEP = 5000


def log_id(seq: int) -> str:
    """The record id of log entry ``seq`` (zero-padded so that ids sort by sequence)."""
    return f"{LOG_PREFIX}{seq:012d}"


class ChangeLog:
    """Writes and reads the log entries of one store (``state_collection`` is its ``-state`` collection)."""

    def __init__(self, state_collection: Any) -> None:
        self.state_collection = state_collection
        self._next: int | None = None  # next seq to write, once this store object has written an entry

    def append(self, op: str, ids: list[str], committed_seq: Callable[[], int]) -> None:
        """Write one entry (before the write it describes is applied); the first one this object writes is numbered
        after ``committed_seq()`` (entries above it come from an interrupted ingest)."""
        if not ids:
            return
        seq = committed_seq() + 1 if self._next is None else self._next
        self.state_collection.upsert(ids=[log_id(seq)], embeddings=[DUMMY_VECTOR],
                                     metadatas=[{"kind": "log", "seq": seq, "op": op, "ids": json.dumps(ids)}])
        self._next = seq + 1

    def commit_values(self, state: dict[str, Any], fresh_epoch: bool, version: str) -> dict[str, Any]:
        """State keys to write with a new ``version``: the last written seq, a new epoch when asked, and
        ``log_version`` (the version the log covers: a writer that changes the version without the log leaves
        them different, and readers then rebuild)."""
        values: dict[str, Any] = {"log_version": version}
        if fresh_epoch or not state.get("log_epoch"):  # every cache rebuilds from the chunks once
            self.clear()
            return {**values, "log_epoch": uuid.uuid4().hex, "log_seq": 0}
        if self._next is not None:
            values["log_seq"] = self._next - 1
        self._next = None
        return values

    def prune(self, last: int) -> None:
        """Delete entries older than :data:`LOG_KEEP` before ``last``."""
        if last > LOG_KEEP:
            self.state_collection.delete(where={"$and": [{"kind": "log"}, {"seq": {"$lte": last - LOG_KEEP}}]})

    def clear(self) -> None:
        """Delete every entry (a new epoch starts)."""
        self.state_collection.delete(where={"kind": "log"})
        self._next = None

    def read(self, after: int, upto: int) -> list[tuple[str, list[str]]] | None:
        """Entries ``after+1 .. upto`` as ``[(op, ids)]`` in order, or None when one of them is missing."""
        if upto <= after:
            return []
        out: list[tuple[str, list[str]]] = []
        for start in range(after + 1, upto + 1, 1000):
            wanted = [log_id(s) for s in range(start, min(upto, start + 999) + 1)]
            got = self.state_collection.get(ids=wanted, include=["metadatas"])
            by_id = dict(zip(got["ids"], got["metadatas"], strict=True))
            for rid in wanted:
                meta = by_id.get(rid)
                if meta is None:
                    return None
                out.append((str(meta["op"]), json.loads(str(meta["ids"]))))
        return out


class LoggedChunks(GuardedCollection):
    """The chunk collection, whose writes append to the store's :class:`ChangeLog` before they are applied."""

    _WRITES = {"add": "put", "upsert": "put", "update": "put", "delete": "del"}

    def __init__(self, store: ChromaConnection, changes: ChangeLog, committed_seq: Any) -> None:
        super().__init__(store, "chunks")
        self._changes = changes
        self._committed_seq = committed_seq  # callable: the store's committed log_seq

    def __getattr__(self, name: str) -> Any:
        attr = super().__getattr__(name)
        op = self._WRITES.get(name)
        if op is None:
            return attr

        def logged(*args: Any, **kwargs: Any) -> Any:
            ids = kwargs.get("ids", args[0] if args else None)
            if ids is None and kwargs.get("where") is not None:  # delete by filter: log the ids it matches
                ids = self._store.call("chunks", "get", where=kwargs["where"], include=[])["ids"]
            if isinstance(ids, str):
                ids = [ids]
            self._changes.append(op, list(ids or []), self._committed_seq)
            return attr(*args, **kwargs)

        logged.__name__ = name
        return logged
