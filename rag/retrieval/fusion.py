"""Hybrid retrieval: dense (Chroma) + BM25 (jieba tokens; our index, scoring as bm25s does) fused by reciprocal rank.

Both legs are llama-index ``BaseRetriever`` subclasses returning the same ``TextNode`` objects (rebuilt from the
Chroma record exactly as ``ChromaVectorStore.query`` does), so llama-index's ``QueryFusionRetriever`` in
``reciprocal_rerank`` mode (Cormack, Clarke & Buettcher, SIGIR 2009, k = 60) fuses them by node identity.
"""

from __future__ import annotations

import numpy as np
from llama_index.core.llms import MockLLM
from llama_index.core.retrievers import BaseRetriever, QueryFusionRetriever
from llama_index.core.retrievers.fusion_retriever import FUSION_MODES
from llama_index.core.schema import NodeWithScore

from rag.filters import ArchiveFilter
from rag.retrieval.dense import DenseRetriever
from rag.retrieval.embedders.base import Embedder, is_chinese_capable
from rag.retrieval.keyword import BM25Index, BM25Retriever, RowFilter
from rag.retrieval.segments import Segment
from rag.store.store import Store

#: RRF constant from Cormack et al. 2009 (also llama-index's).
RRF_K = 60.0

#: Dense weights measured per model on the dev sets (model-name substring -> weight; docs/evaluation.md, "Retrieval
#: per model": tuned on the even half of the questions, reported on the odd half).
MEASURED_DENSE_WEIGHTS: dict[str, float] = {"multilingual-e5-small": 1.0}


def dense_weight_for(model_name: str, configured: float | None) -> float:
    """Weight of the dense leg in the fusion: ``configured`` if set, else the weight measured for the model
    (:data:`MEASURED_DENSE_WEIGHTS`), else 1.0 for Chinese-capable models.

    English-only models (the packaged all-MiniLM-L6-v2) get 0.1: on the dev sets their Chinese similarities are
    nearly flat, and at full weight they push BM25's best chunk out of the top 5 (docs/evaluation.md).
    """
    if configured is not None:
        return configured
    lowered = model_name.lower()
    for key, weight in MEASURED_DENSE_WEIGHTS.items():
        if key in lowered:
            return weight
    return 1.0 if is_chinese_capable(model_name) else 0.1


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


def _once_per_segment(row_mask: RowFilter) -> RowFilter:
    """``row_mask`` computed once per segment: the dense leg's share of passing chunks and the keyword leg's mask
    read the same masks."""
    masks: dict[int, np.ndarray] = {}  # by id: a query's segments live as long as its retriever

    def cached(seg: Segment) -> np.ndarray:
        if id(seg) not in masks:
            masks[id(seg)] = row_mask(seg)
        return masks[id(seg)]

    return cached


def hybrid_retriever(
    store: Store, embedder: Embedder, index: BM25Index, top_k: int, candidates: int, dense_weight: float = 1.0,
    mode: str = "hybrid", archive_filter: ArchiveFilter | None = None,
) -> BaseRetriever:
    """Weighted-RRF ``QueryFusionRetriever`` (one query, no LLM) over the dense and BM25 legs.

    ``candidates`` chunks are taken from each leg before fusion; ``top_k`` fused chunks are returned; the BM25 leg
    has weight 1 and the dense leg ``dense_weight``. ``mode`` ``dense`` or ``keyword`` keeps only that leg
    (``NEWSQA_RETRIEVAL_MODE``, for measuring what each leg is worth). ``archive_filter`` (resolved, see
    :mod:`rag.filters`) runs inside both legs: a Chroma ``where`` and a keyword-index row mask.
    """
    where = archive_filter.chroma_where() if archive_filter else None
    allow = _once_per_segment(archive_filter.row_mask) if archive_filter else None
    share = index.share(allow) if where and allow and mode != "keyword" else None  # passing chunks, for the dense leg
    legs: list[BaseRetriever] = []
    weights: list[float] = []
    if mode in ("hybrid", "dense"):
        legs.append(DenseRetriever(store, embedder, candidates, where, share))
        weights.append(dense_weight if mode == "hybrid" else 1.0)
    if mode in ("hybrid", "keyword"):
        legs.append(BM25Retriever(index, candidates, allow))
        weights.append(1.0)
    if not legs:
        raise ValueError(f"unknown retrieval mode {mode!r}")
    # MockLLM: never called with num_queries=1; it avoids resolving a default OpenAI LLM
    return WeightedRRFRetriever(legs, llm=MockLLM(), mode=FUSION_MODES.RECIPROCAL_RANK, similarity_top_k=top_k,
                                num_queries=1, use_async=False, retriever_weights=weights)
