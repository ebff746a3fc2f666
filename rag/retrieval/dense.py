"""The dense leg: a llama-index retriever over the chunk vectors in Chroma (the query embedded by the store's model).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.core.vector_stores.types import VectorStoreQuery

from rag.retrieval.embedding import Embedder
from rag.store.store import Store


class DenseRetriever(BaseRetriever):
    """Dense leg: the query embedding (normalised text, model's query instruction) against ``ChromaVectorStore``."""

    def __init__(self, store: Store, embedder: Embedder, top_k: int, where: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.store = store
        self.embedder = embedder
        self.top_k = top_k
        self.where = where  # a Chroma where clause (rag.filters), applied inside the HNSW search

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        from rag.text.normalize import normalize

        vector: np.ndarray = self.embedder.embed_query(normalize(query_bundle.query_str))
        extra = {"where": self.where} if self.where else {}
        result = self.store.vector_store.query(
            VectorStoreQuery(query_embedding=vector.tolist(), similarity_top_k=self.top_k), **extra
        )
        nodes = result.nodes or []
        similarities = result.similarities or [0.0] * len(nodes)
        return [NodeWithScore(node=n, score=float(s)) for n, s in zip(nodes, similarities, strict=True)]
