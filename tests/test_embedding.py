"""Embedding model loading: packaged real weights, fallback with a warning, and no network in tests."""

import logging
import socket

import numpy as np
import pytest

from rag.errors import EmbeddingModelError
from rag.retrieval.embedding import PACKAGED_MODEL_NAME, load_embedder
from rag.settings import Settings


def test_packaged_model_embeds_normalised_vectors(packaged_model_path: str) -> None:
    embedder = load_embedder(Settings(_env_file=None, embedding_model=packaged_model_path))  # type: ignore[call-arg]
    assert embedder.name == PACKAGED_MODEL_NAME  # recorded by name, not by site-packages path
    docs = embedder.embed_documents(["郏县建成开通5G基站120座。", "黄道镇共有13个行政村。"])
    assert docs.shape == (2, embedder.dimension) and docs.dtype == np.float32
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-4)
    query = embedder.embed_query("5G基站")
    assert query.shape == (embedder.dimension,)
    assert embedder.embed_documents([]).shape == (0, embedder.dimension)


def test_unset_model_falls_back_to_packaged_with_a_warning_naming_both(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with caplog.at_level(logging.WARNING, logger="rag.retrieval.embedding"):
        embedder = load_embedder(Settings(_env_file=None))  # type: ignore[call-arg]
    assert embedder.name == PACKAGED_MODEL_NAME
    assert "BAAI/bge-small-zh-v1.5" in caplog.text and PACKAGED_MODEL_NAME in caplog.text


def test_explicit_model_that_cannot_load_is_an_error_not_a_silent_fallback(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(EmbeddingModelError, match="cannot load"):
        load_embedder(Settings(_env_file=None, embedding_model=str(tmp_path / "missing-model")))  # type: ignore[call-arg]


def test_bge_query_instruction_is_applied_by_name() -> None:
    from rag.retrieval.embedding import _query_instruction

    assert _query_instruction("BAAI/bge-small-zh-v1.5").startswith("为这个句子")
    assert _query_instruction(PACKAGED_MODEL_NAME) == ""


def test_tests_cannot_reach_the_network() -> None:
    with pytest.raises(RuntimeError, match="network"):
        socket.create_connection(("93.184.216.34", 443), timeout=1)
