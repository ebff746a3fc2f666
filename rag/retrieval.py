"""Hybrid retrieval: dense (Chroma) + BM25 (jieba tokens, bm25s) fused with reciprocal rank fusion.

Both legs are llama-index ``BaseRetriever`` subclasses returning the same ``TextNode`` objects (rebuilt from the
Chroma record exactly as ``ChromaVectorStore.query`` does), so llama-index's ``QueryFusionRetriever`` in
``reciprocal_rerank`` mode (Cormack, Clarke & Buettcher, SIGIR 2009, k = 60) fuses them by node identity.
llama-index's own BM25 retriever is not used: its default tokenizer pattern drops all CJK text.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
from llama_index.core.llms import MockLLM
from llama_index.core.retrievers import BaseRetriever, QueryFusionRetriever
from llama_index.core.retrievers.fusion_retriever import FUSION_MODES
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery
from llama_index.core.vector_stores.utils import metadata_dict_to_node

from rag.embedding import Embedder
from rag.store import Store
from rag.textnorm import tokenize


def record_to_node(chunk_id: str, document: str | None, metadata: dict[str, Any]) -> TextNode:
    """Rebuild the ``TextNode`` of a Chroma chunk record the way ``ChromaVectorStore.query`` does: the text is the
    record's document, or (records written by :class:`rag.chunk_vectors.ChunkVectorStore`, which have none) the
    text kept in ``_node_content``."""
    node = metadata_dict_to_node(metadata)
    if document is not None:
        node.set_content(document)
    node.id_ = chunk_id
    return node  # type: ignore[return-value]


class BM25Index:
    """Okapi BM25 (Robertson & Zaragoza 2009; bm25s defaults k1=1.5, b=0.75) over pre-segmented chunk tokens.

    Built in memory from the chunk records in Chroma (their ``tokens`` metadata); also keeps document frequencies
    for IDF-weighted question/sentence matching in the answerer. Memory is about the size of the token text.
    """

    def __init__(self, store: Store) -> None:
        import logging

        import bm25s

        # bm25s sets its own logger to DEBUG on import, which floods application logs.
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        # Memory-lean: keep only chunk ids and integer token ids; nodes are read from Chroma for the
        # few hits of each query (BM25Retriever), not held for every chunk.
        self.store = store
        self.ids: list[str] = []
        vocab: dict[str, int] = {}
        corpus_ids: list[list[int]] = []
        df: Counter[str] = Counter()
        for ids, _docs, metas in store.iter_chunk_tokens():
            for chunk_id, meta in zip(ids, metas, strict=True):
                tokens = str(meta.get("tokens", "")).split()
                self.ids.append(chunk_id)
                corpus_ids.append([vocab.setdefault(t, len(vocab)) for t in tokens])
                df.update(set(tokens))
            del metas
        self.df = df
        self.n_docs = len(corpus_ids)
        self._bm25 = None
        if corpus_ids:
            if "" not in vocab:
                vocab[""] = len(vocab)
            self._bm25 = bm25s.BM25()
            self._bm25.index((corpus_ids, vocab), show_progress=False)

    def nodes_for(self, positions: list[int]) -> list[TextNode | None]:
        """The chunk nodes at these index positions, read from Chroma in one call (order kept)."""
        wanted = [self.ids[i] for i in positions]
        if not wanted:
            return []
        got = self.store.chunks.get(ids=wanted, include=["documents", "metadatas"])
        by_id = {i: record_to_node(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"],
                                                                 strict=True)}
        # A chunk deleted by an ingest since the index was built is skipped (None), like a stale dense hit.
        return [by_id.get(i) for i in wanted]

    def idf(self, token: str) -> float:
        """BM25 IDF ``ln(1 + (N - df + 0.5) / (df + 0.5))``; tokens absent from the corpus get the largest value."""
        n = max(self.n_docs, 1)
        d = self.df.get(token, 0)
        return math.log(1.0 + (n - d + 0.5) / (d + 0.5))

    def search(self, tokens: list[str], top_k: int) -> list[tuple[int, float]]:
        """``[(chunk position, score)]`` best first, only chunks with a positive score."""
        if self._bm25 is None or not tokens:
            return []
        vocab = self._bm25.vocab_dict
        known = [t for t in tokens if t in vocab]
        if not known:
            return []
        k = min(top_k, self.n_docs)
        docs, scores = self._bm25.retrieve([known], k=k, show_progress=False, n_threads=1)
        return [(int(d), float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]


class BM25Retriever(BaseRetriever):
    """Sparse leg: normalised jieba tokens of the query against :class:`BM25Index`."""

    def __init__(self, index: BM25Index, top_k: int) -> None:
        super().__init__()
        self.index = index
        self.top_k = top_k

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        tokens = tokenize(query_bundle.query_str)
        hits = self.index.search(tokens, self.top_k)
        nodes = self.index.nodes_for([i for i, _ in hits])
        return [NodeWithScore(node=n, score=s) for n, (_, s) in zip(nodes, hits, strict=True) if n is not None]


class DenseRetriever(BaseRetriever):
    """Dense leg: the query embedding (normalised text, model's query instruction) against ``ChromaVectorStore``."""

    def __init__(self, store: Store, embedder: Embedder, top_k: int) -> None:
        super().__init__()
        self.store = store
        self.embedder = embedder
        self.top_k = top_k

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        from rag.textnorm import normalize

        vector: np.ndarray = self.embedder.embed_query(normalize(query_bundle.query_str))
        result = self.store.vector_store.query(
            VectorStoreQuery(query_embedding=vector.tolist(), similarity_top_k=self.top_k)
        )
        nodes = result.nodes or []
        similarities = result.similarities or [0.0] * len(nodes)
        return [NodeWithScore(node=n, score=float(s)) for n, s in zip(nodes, similarities, strict=True)]


#: RRF constant from Cormack et al. 2009 (also llama-index's).
RRF_K = 60.0

#: Substrings of embedding model names trained on Chinese (BAAI bge-*-zh, multilingual and Chinese models).
CHINESE_CAPABLE_MODELS = ("-zh", "chinese", "multilingual", "bge-m3", "m3e", "text2vec", "gte-", "e5-", "labse")


def dense_weight_for(model_name: str, configured: float | None) -> float:
    """Weight of the dense leg in the fusion: ``configured`` if set, else 1.0 for Chinese-capable models.

    English-only models (the packaged all-MiniLM-L6-v2 fallback) get 0.1: on the dev sets their Chinese
    similarities are nearly flat, and at full weight they push BM25's best chunk out of the top 5 (see README,
    "Evaluation").
    """
    if configured is not None:
        return configured
    lowered = model_name.lower()
    return 1.0 if any(key in lowered for key in CHINESE_CAPABLE_MODELS) else 0.1


class WeightedRRFRetriever(QueryFusionRetriever):
    """``QueryFusionRetriever`` whose reciprocal rank fusion honours ``retriever_weights``.

    Fused score of a node = sum over legs of ``weight_leg / (RRF_K + rank_leg)`` (weighted RRF; with equal weights
    this is llama-index's own RRF up to a constant factor). Nodes are identified by id, not by content hash.
    """

    def _reciprocal_rerank_fusion(self, results: dict[tuple[str, int], list[NodeWithScore]]) -> list[NodeWithScore]:
        fused: dict[str, float] = {}
        nodes: dict[str, NodeWithScore] = {}
        for (_query, leg), hits in results.items():
            weight = self._retriever_weights[leg]
            ranked = sorted(hits, key=lambda h: h.score or 0.0, reverse=True)
            for rank, hit in enumerate(ranked):
                node_id = hit.node.node_id
                nodes.setdefault(node_id, hit)
                fused[node_id] = fused.get(node_id, 0.0) + weight / (RRF_K + rank)
        order = sorted(fused, key=lambda i: fused[i], reverse=True)
        return [NodeWithScore(node=nodes[i].node, score=fused[i]) for i in order]


def hybrid_retriever(
    store: Store, embedder: Embedder, index: BM25Index, top_k: int, candidates: int, dense_weight: float = 1.0
) -> BaseRetriever:
    """Weighted-RRF ``QueryFusionRetriever`` (one query, no LLM) over the dense and BM25 legs.

    ``candidates`` chunks are taken from each leg before fusion; ``top_k`` fused chunks are returned; the BM25 leg
    has weight 1 and the dense leg ``dense_weight``.
    """
    return WeightedRRFRetriever(
        [DenseRetriever(store, embedder, candidates), BM25Retriever(index, candidates)],
        llm=MockLLM(),  # never called with num_queries=1; avoids resolving a default OpenAI LLM
        mode=FUSION_MODES.RECIPROCAL_RANK,
        similarity_top_k=top_k,
        num_queries=1,
        use_async=False,
        retriever_weights=[dense_weight, 1.0],
    )
