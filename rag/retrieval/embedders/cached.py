"""Passage embedding through the store's embedding cache (:mod:`rag.store.embedding_cache`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rag.retrieval.embedders.base import Embedder
from rag.store.embedding_cache import EmbeddingCache


def embed_cached(embedder: Embedder, cache: EmbeddingCache, texts: list[str],
                 progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, int]:
    """``(vectors, embedded)``: one L2-normalised row per text, and how many texts the model had to embed.

    Cached texts are not embedded again; a text repeated in ``texts`` is embedded once; new vectors are cached
    batch by batch (the embedder's ``batch_size``) as they come, so an ingest stopped by a failing embedder (a
    server going down) keeps what was embedded. ``progress(n)`` is called after each batch with the number of
    ``texts`` whose vector is known so far (cached ones included; repeats counted once until the end).
    """
    if not texts:
        return np.zeros((0, embedder.dimension), dtype=np.float32), 0
    prefix = getattr(embedder, "passage_prefix", "")  # the cache key: the model (with its variant) and its prefix
    key = f"{embedder.name}|{prefix}" if prefix else embedder.name
    found = cache.get(key, texts)
    missing = [t for t in dict.fromkeys(texts) if t not in found]
    step = max(int(getattr(embedder, "batch_size", 64) or 64), 1)
    for start in range(0, len(missing), step):
        part = missing[start:start + step]
        fresh = embedder.embed_documents(part)
        cache.put(key, part, fresh)
        found.update(zip(part, np.asarray(fresh, dtype=np.float32), strict=True))
        if progress:
            progress(len(texts) - len(missing) + start + len(part))
    vectors = np.stack([found[t] for t in texts]).astype(np.float32, copy=False)
    if vectors.shape[1] != embedder.dimension:
        raise ValueError(f"cached embeddings of {embedder.name} have dimension {vectors.shape[1]}, "
                         f"the model {embedder.dimension}")
    return vectors, len(missing)
