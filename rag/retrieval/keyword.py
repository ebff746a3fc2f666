"""The keyword leg: an in-memory Okapi BM25 index (bm25s) over the pre-segmented jieba tokens stored with each chunk,
its document frequencies (the IDF the answerer weighs question words with), and its llama-index retriever.
llama-index's own BM25 retriever is not used: its default tokenizer pattern drops all CJK text.
"""

from __future__ import annotations

import math
from collections import Counter

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from rag.store.chunk_vectors import record_to_node
from rag.store.store import Store
from rag.text.normalize import tokenize


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
