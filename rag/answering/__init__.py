"""Answers from retrieved chunks: the question analysis (``question``), the learned answer selector and its
calibrated refusal (``features``, ``selector``, ``train``, ``model/``), the extractive answerer (``extractive``:
also which report answers when dated reports differ), report listings, the LLM path (``prompt``, ``llm``, and the
citation check: ``claims``, ``citation_check``) and the streaming responder (``generate``); docs/architecture.md
maps them.

May import: :mod:`rag.errors`, :mod:`rag.models`, :mod:`rag.settings`, :mod:`rag.text`, :mod:`rag.filters`,
:mod:`rag.conversation` and modules of this package; never :mod:`rag.retrieval`, :mod:`rag.store`, :mod:`rag.service`.
"""
