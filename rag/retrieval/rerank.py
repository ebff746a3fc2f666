"""The evidence reranker: a llama-index node postprocessor that rescores fused chunks by how well their best
sentence, and the chunk with its title, cover the question (:class:`rag.text.question.Question`, the one
question analysis; the reranker does not use the answer selector).
"""

from __future__ import annotations

from collections.abc import Callable

from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle

from rag.text.normalize import normalize
from rag.text.question import Question
from rag.text.sentences import split_sentences

#: Weights of the chunk's coverage and of its normalised fusion score beside its best sentence's coverage.
CHUNK_WEIGHT = 0.35
FUSION_WEIGHT = 0.3


class EvidenceReranker(BaseNodePostprocessor):
    """Reranks fused chunks, keeping ``top_n``: the new score of a chunk is the question coverage (IDF-weighted
    words, 3/4, and bigrams, 1/4) of its best sentence, plus ``CHUNK_WEIGHT`` x that of the chunk with its title,
    plus ``FUSION_WEIGHT`` x its normalised fusion score. ``normalized`` caches the search form of chunk texts."""

    top_n: int = 5
    idf: Callable[[str], float]
    normalized: Callable[[str], str] = normalize

    @classmethod
    def class_name(cls) -> str:
        return "EvidenceReranker"

    def _postprocess_nodes(self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None,
                           ) -> list[NodeWithScore]:
        if query_bundle is None or not nodes:
            return nodes[: self.top_n]
        question = Question(query_bundle.query_str, self.idf)

        def cover(text: str) -> float:
            return 0.75 * question.coverage(text) + 0.25 * question.bigram_coverage(text)

        top = max((n.score or 0.0) for n in nodes) or 1.0
        rescored = []
        for hit in nodes:
            text = hit.node.get_content()
            title = self.normalized(str(hit.node.metadata.get("title", "")))
            best = max((cover(self.normalized(s)) for s in split_sentences(text)), default=0.0)
            score = best + CHUNK_WEIGHT * cover(title + "\n" + self.normalized(text)) + FUSION_WEIGHT * (
                hit.score or 0.0) / top
            rescored.append(NodeWithScore(node=hit.node, score=score))
        rescored.sort(key=lambda n: n.score or 0.0, reverse=True)
        return rescored[: self.top_n]
