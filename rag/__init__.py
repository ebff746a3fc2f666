"""The question-answering core: store, retrieval, answering, conversation, and the one service front-ends call.

Layout (each package's docstring says what it may import; ``tests/test_architecture.py`` enforces that there is no
import cycle, that nothing here imports :mod:`ingest` or :mod:`bot`, and that no module is over 300 lines):

- :mod:`rag.errors`, :mod:`rag.models`, :mod:`rag.settings`: error types, data shapes, configuration (import
  nothing else of the project);
- :mod:`rag.text`: search normalisation, tokenisation, sentence splitting (shared with :mod:`ingest`);
- :mod:`rag.store`: the Chroma collections, their connection, lease records, the chunk vector store;
- :mod:`rag.answering`: question typing and sentence evidence, the extractive answerer, the LLM prompt and client,
  the citation check, streaming generation;
- :mod:`rag.retrieval`: embedding, keyword (BM25) and dense legs, fusion, the evidence reranker;
- :mod:`rag.conversation`: follow-up detection and rewriting, conversation memory;
- :mod:`rag.evaluation`: the dev-set metrics;
- :mod:`rag.service`: :class:`rag.service.NewsQA`, the facade; it runs ingest through the
  :class:`rag.service.IngestRunner` it is given (the pipeline, wired in by :func:`bot.service.build_service`).
"""
