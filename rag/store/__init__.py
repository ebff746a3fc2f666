"""The Chroma store, the single source of truth: :mod:`rag.store.store` (the five collections: chunks, articles,
ingest manifest, state, embedding cache), :mod:`rag.store.embedding_cache` (embeddings by model and text hash),
:mod:`rag.store.connection` (embedded or server client, guarded calls, errors),
:mod:`rag.store.leases` (lease records: the ingest lock of a server store), :mod:`rag.store.chunk_vectors`
(llama-index's ``ChromaVectorStore`` writing lean chunk records, and records back to nodes),
:mod:`rag.store.format` (the store format version), :mod:`rag.store.disk` (the ingest's free-space reserve and the
write gate a backup waits on) and :mod:`rag.store.backup` / :mod:`rag.store.restore` (``newsqa backup`` /
``newsqa restore``).

May import: :mod:`rag.errors`, :mod:`rag.models`, :mod:`rag.settings`, and modules of this package.
"""
