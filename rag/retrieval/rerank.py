"""The evidence reranker: a llama-index node postprocessor that rescores fused chunks by their best answering
sentence (the answerer's sentence scoring, :mod:`rag.answering.evidence`).
"""

from __future__ import annotations

from collections.abc import Callable

from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle

from rag.answering.evidence import QuestionAnalysis
from rag.text.normalize import normalize


class EvidenceReranker(BaseNodePostprocessor):
    """Reranks fused chunks by their best answering sentence (same scoring as the answerer), keeping ``top_n``.

    A lexical cross-check of the first-stage ranking: the new score of a chunk is its best sentence score plus
    0.3 x its normalised fusion score. ``normalized`` caches the search form of chunk texts between queries.
    """

    top_n: int = 5
    idf: Callable[[str], float]
    normalized: Callable[[str], str] = normalize

    @classmethod
    def class_name(cls) -> str:
        return "EvidenceReranker"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if query_bundle is None or not nodes:
            return nodes[: self.top_n]
        analysis = QuestionAnalysis(query_bundle.query_str, self.idf)
        top = max((n.score or 0.0) for n in nodes) or 1.0
        rescored = []
        for rank, hit in enumerate(nodes):
            cands = analysis.candidates(hit, rank, self.normalized, focus=False)
            best = max((c.score for c in cands), default=0.0)
            rescored.append(NodeWithScore(node=hit.node, score=best + 0.3 * (hit.score or 0.0) / top))
        rescored.sort(key=lambda n: n.score or 0.0, reverse=True)
        return rescored[: self.top_n]
