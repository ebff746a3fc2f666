"""The :class:`Embedder` protocol and the per-model text prefixes (query instructions, e5's ``query: `` /
``passage: ``)."""

from __future__ import annotations

from typing import Protocol

import numpy as np

#: Substrings of embedding model names trained on Chinese (BAAI bge-*-zh, multilingual and Chinese models).
CHINESE_CAPABLE_MODELS = ("-zh", "chinese", "multilingual", "bge-m3", "m3e", "text2vec", "gte-", "e5-", "labse")

_BGE_ZH = "为这个句子生成表示以用于检索相关文章："
_BGE_EN = "Represent this sentence for searching relevant passages: "
#: Query instructions published with the BGE models (model cards of BAAI/bge-*-zh-v1.5 and bge-*-en-v1.5).
QUERY_INSTRUCTIONS: dict[str, str] = {
    "bge-small-zh": _BGE_ZH, "bge-base-zh": _BGE_ZH, "bge-large-zh": _BGE_ZH,
    "bge-small-en": _BGE_EN, "bge-base-en": _BGE_EN, "bge-large-en": _BGE_EN,
}
#: The E5 family (Wang et al. 2022, intfloat/multilingual-e5-*) is trained with these prefixes on both sides.
E5_QUERY_PREFIX, E5_PASSAGE_PREFIX = "query: ", "passage: "


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors.

    ``name`` is what the store records: the model *and* its variant (``intfloat/multilingual-e5-small@q4`` is
    not the fp32 model), so a store is never queried with vectors of another model.
    """

    name: str
    dimension: int

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dimension)`` float32 embeddings of passages."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """``(dimension,)`` float32 embedding of one query."""
        ...


def is_e5(name: str) -> bool:
    """Whether ``name`` is an E5 model (``intfloat/multilingual-e5-small``, ``e5-base-v2``, a local e5 folder)."""
    lowered = name.lower().rstrip("/").rsplit("/", 1)[-1]
    return lowered.startswith(("e5-", "multilingual-e5")) or "-e5-" in lowered


def query_prefix(name: str) -> str:
    """Text put before a query for model ``name`` (its published instruction or prefix; ``""`` when none)."""
    lowered = name.lower()
    for key, instruction in QUERY_INSTRUCTIONS.items():
        if key in lowered:
            return instruction
    return E5_QUERY_PREFIX if is_e5(name) else ""


def passage_prefix(name: str) -> str:
    """Text put before a passage for model ``name`` (``passage: `` for E5, else ``""``)."""
    return E5_PASSAGE_PREFIX if is_e5(name) else ""


def is_chinese_capable(name: str) -> bool:
    """Whether model ``name`` was trained on Chinese (by :data:`CHINESE_CAPABLE_MODELS`)."""
    lowered = name.lower()
    return any(key in lowered for key in CHINESE_CAPABLE_MODELS)


def normalised(vectors: np.ndarray) -> np.ndarray:
    """Rows of ``vectors`` scaled to unit length, as float32 (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
