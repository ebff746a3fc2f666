"""The embedding cache: vectors by (model, text hash), in the store's ``<name>-embeddings`` collection.

Re-chunking, a moved or renamed file, ``ingest --rebuild``, the same article on two pages or the same report
reprinted by another outlet never embed the same text with the same model twice, and any process sharing the
store (a Chroma server) shares the cache. A record's id is the sha256 of the model key and the text; its vector
is kept as base64 float32 in the metadata (the collection's own vector is the 1-d dummy of the auxiliary
collections, so vectors of any dimension share one collection).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import numpy as np

from rag.store.leases import DUMMY_VECTOR

#: Ids per Chroma call (below Chroma's batch limit).
_BATCH = 1000


def cache_key(model: str, text: str) -> str:
    """Record id of ``text`` embedded by ``model`` (a model key: name, variant and passage prefix)."""
    return hashlib.sha256(f"{model}\x00{text}".encode()).hexdigest()


class EmbeddingCache:
    """Get and put passage embeddings of one store. ``collection``: the guarded ``embeddings`` collection."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection

    def get(self, model: str, texts: list[str]) -> dict[str, np.ndarray]:
        """``{text: vector}`` for those ``texts`` cached for ``model`` (float32, as stored)."""
        keys = {cache_key(model, t): t for t in texts}
        found: dict[str, np.ndarray] = {}
        ids = list(keys)
        for start in range(0, len(ids), _BATCH):
            got = self.collection.get(ids=ids[start:start + _BATCH], include=["metadatas"])
            for key, meta in zip(got["ids"], got["metadatas"], strict=True):
                if meta and meta.get("model") == model and isinstance(meta.get("v"), str):
                    found[keys[key]] = np.frombuffer(base64.b64decode(meta["v"]), dtype=np.float32)
        return found

    def put(self, model: str, texts: list[str], vectors: np.ndarray) -> None:
        """Cache ``vectors`` (one row per text) of ``texts`` for ``model``."""
        rows = np.asarray(vectors, dtype=np.float32)
        items = list({t: i for i, t in enumerate(texts)}.items())  # a repeated text: its last row
        for start in range(0, len(items), _BATCH):
            part = items[start:start + _BATCH]
            self.collection.upsert(
                ids=[cache_key(model, t) for t, _ in part], embeddings=[DUMMY_VECTOR] * len(part),
                metadatas=[{"model": model, "v": base64.b64encode(rows[i].tobytes()).decode("ascii")} for _, i in part],
            )

    def count(self) -> int:
        """Number of cached embeddings (all models)."""
        return int(self.collection.count())
