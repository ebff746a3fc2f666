"""Answers from retrieved chunks: the question analysis, the learned answer selector, the extractive answerer,
report listings, the LLM path and its citation check, the streaming responder (docs/architecture.md maps them).

May import: :mod:`rag.errors`, :mod:`rag.models`, :mod:`rag.settings`, :mod:`rag.text`, :mod:`rag.filters`,
:mod:`rag.conversation` and modules of this package; never :mod:`rag.retrieval`, :mod:`rag.store`, :mod:`rag.service`.
"""
