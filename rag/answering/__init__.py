"""Answers from retrieved chunks: :mod:`rag.answering.question` (what a question asks for: type, terms, names,
unit, dates), :mod:`rag.answering.features` (answer candidates and their features), :mod:`rag.answering.selector`
(the learned selector and its calibrated refusal; model file in ``model/``, fitted by :mod:`rag.answering.train`),
:mod:`rag.answering.extractive` (the extractive answerer), :mod:`rag.answering.timeline` (reports of other
dates), :mod:`rag.answering.prompt` and
:mod:`rag.answering.llm` (the LLM prompt and client), :mod:`rag.answering.claims`, :mod:`rag.answering.claim_spans`
(answer-bearing spans) and :mod:`rag.answering.citation_check` (verifying an LLM answer's citations),
:mod:`rag.answering.generate` (the streaming responder: follow-up rewrite, retrieval through
:class:`rag.answering.generate.AnswerBackend`, generation).

May import: :mod:`rag.errors`, :mod:`rag.models`, :mod:`rag.settings`, :mod:`rag.text`, :mod:`rag.conversation`,
and modules of this package; never :mod:`rag.retrieval`, :mod:`rag.store` or :mod:`rag.service`.
"""
