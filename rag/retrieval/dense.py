"""The dense leg: a llama-index retriever over the chunk vectors in Chroma (the query embedded by the store's model).

With an archive filter the leg needs the chunks passing a Chroma ``where`` clause. Chroma evaluates such a clause
over every chunk's metadata before its HNSW search: at 1,000,000 chunks a question naming a year (a lenient
scope that nearly every chunk passes) took 6.5 s against 13-21 ms for the wider unfiltered query (docs/deploy.md,
"Archive sizing"). So when the
keyword index says that most chunks pass (``share``), the leg asks HNSW for more results without the clause and
applies it to the results' metadata itself (:func:`rag.filters.where_matches`, the clause's own semantics); only if
fewer than ``top_k`` of them pass does it run the filtered query.
"""

from __future__ import annotations

import math
from typing import Any

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.core.vector_stores.types import VectorStoreQuery

from rag.filters import where_matches
from rag.retrieval.embedding import Embedder
from rag.store.store import Store

#: Least share of chunks passing the filter for which the unfiltered query is tried first.
POST_FILTER_MIN_SHARE = 0.5
#: Results asked for in the unfiltered query: ``top_k / share`` times this.
POST_FILTER_SLACK = 2.0


class DenseRetriever(BaseRetriever):
    """Dense leg: the query embedding (normalised text, model's query instruction) against ``ChromaVectorStore``.

    ``where``: a Chroma where clause (:mod:`rag.filters`); ``share``: the fraction (0..1) of stored chunks that
    pass it, or None when unknown (then the clause always runs inside the HNSW search)."""

    def __init__(self, store: Store, embedder: Embedder, top_k: int, where: dict[str, Any] | None = None,
                 share: float | None = None) -> None:
        super().__init__()
        self.store = store
        self.embedder = embedder
        self.top_k = top_k
        self.where = where
        self.share = share

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        from rag.text.normalize import normalize

        vector = self.embedder.embed_query(normalize(query_bundle.query_str)).tolist()
        if self.where and self.share is not None and self.share >= POST_FILTER_MIN_SHARE:
            wide = math.ceil(self.top_k / self.share * POST_FILTER_SLACK)
            kept = [hit for hit in self._query(vector, wide, None) if where_matches(self.where, hit.node.metadata)]
            if len(kept) >= self.top_k:
                return kept[: self.top_k]
        return self._query(vector, self.top_k, self.where)

    def _query(self, vector: list[float], top_k: int, where: dict[str, Any] | None) -> list[NodeWithScore]:
        extra = {"where": where} if where else {}
        query = VectorStoreQuery(query_embedding=vector, similarity_top_k=top_k)
        result = self.store.vector_store.query(query, **extra)
        nodes = result.nodes or []
        similarities = result.similarities or [0.0] * len(nodes)
        return [NodeWithScore(node=n, score=float(s)) for n, s in zip(nodes, similarities, strict=True)]
