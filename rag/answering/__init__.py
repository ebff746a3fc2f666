"""Answers from retrieved chunks: :mod:`rag.answering.question` (question typing), :mod:`rag.answering.evidence`
(sentence scoring), :mod:`rag.answering.extractive` (the extractive answerer), :mod:`rag.answering.prompt` and
:mod:`rag.answering.llm` (the LLM prompt and client), :mod:`rag.answering.claims`, :mod:`rag.answering.claim_spans`
(answer-bearing spans) and :mod:`rag.answering.citation_check` (verifying an LLM answer's citations), :mod:`rag.answering.generate` (the
streaming responder: follow-up rewrite, retrieval through :class:`rag.answering.generate.AnswerBackend`, generation).

May import: :mod:`rag.errors`, :mod:`rag.models`, :mod:`rag.settings`, :mod:`rag.text`, :mod:`rag.conversation`,
and modules of this package; never :mod:`rag.retrieval`, :mod:`rag.store` or :mod:`rag.service`.
"""
