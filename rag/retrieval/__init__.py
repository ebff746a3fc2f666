"""Hybrid retrieval: :mod:`rag.retrieval.embedding` (which backend of :mod:`rag.retrieval.embedders` embeds),
:mod:`rag.retrieval.keyword` (BM25 over jieba tokens), :mod:`rag.retrieval.dense` (Chroma vectors),
:mod:`rag.retrieval.fusion` (weighted reciprocal rank fusion of the two legs) and :mod:`rag.retrieval.rerank`.

May import: :mod:`rag.errors`, :mod:`rag.models`, :mod:`rag.settings`, :mod:`rag.text` (the reranker scores chunks
by their coverage of the question, from :mod:`rag.text.question`, the one question analysis) and :mod:`rag.store`;
never :mod:`rag.answering`.
"""
