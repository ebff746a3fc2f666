"""Torch-free questions: ingest exports the store's sentence-transformers model to ONNX, a serving process then
embeds questions with onnxruntime (same vectors within 1e-4, same top-5) and never imports torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.service import build_service
from rag.errors import EmbeddingModelError
from rag.evaluation import load_qa
from rag.retrieval.embedders.onnx_query import (
    MAX_EXPORT_DIFF,
    OnnxQueryEmbedder,
    export_query_model,
    query_model_dir,
)
from rag.retrieval.embedders.sbert import SentenceTransformerEmbedder
from rag.retrieval.embedding import load_embedder
from tests.conftest import SAMPLE_ARTICLES, make_settings, store_env

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT.parent / "shared" / "eval" / "seeds_dev.jsonl"
QUESTIONS = ["郏县建成了多少座5G基站？", "How many 5G base stations?", "郟縣的農業", "长" * 400]  # the last one truncates


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, packaged_embedder) -> Path:  # noqa: ANN001
    return export_query_model(packaged_embedder, tmp_path_factory.mktemp("export") / "minilm")


def test_the_export_embeds_questions_as_torch_does(exported: Path, packaged_embedder) -> None:  # noqa: ANN001
    onnx = OnnxQueryEmbedder(exported, lambda: packaged_embedder)
    assert (onnx.name, onnx.dimension) == (packaged_embedder.name, packaged_embedder.dimension)
    for question in QUESTIONS:
        got, want = onnx.embed_query(question), packaged_embedder.embed_query(question)
        assert got.shape == want.shape == (packaged_embedder.dimension,) and got.dtype == np.float32
        assert float(np.abs(got - want).max()) <= MAX_EXPORT_DIFF, question
    assert float(onnx.embed_query(QUESTIONS[0]) @ onnx.embed_query(QUESTIONS[1])) < 0.999  # not one constant vector
    passages = ["郏县建成开通5G基站120座。", "another passage"]
    assert np.array_equal(onnx.embed_documents(passages), packaged_embedder.embed_documents(passages))


def test_a_broken_export_is_refused_and_the_torch_model_used(tmp_path: Path, exported: Path,
                                                             packaged_model_path: str) -> None:
    settings = make_settings(tmp_path, packaged_model_path, query_onnx=True)
    folder = query_model_dir(tmp_path, packaged_model_name := "sentence-transformers/all-MiniLM-L6-v2")
    shutil.copytree(exported, folder)
    assert isinstance(load_embedder(settings), OnnxQueryEmbedder)
    assert not isinstance(load_embedder(settings.model_copy(update={"query_onnx": False})), OnnxQueryEmbedder)
    meta = json.loads((folder / "meta.json").read_text("utf-8"))
    (folder / "meta.json").write_text(json.dumps({**meta, "format": 99}), "utf-8")
    with pytest.raises(EmbeddingModelError, match="format 99"):
        OnnxQueryEmbedder(folder, lambda: None)  # type: ignore[arg-type,return-value]
    fallback = load_embedder(settings)
    assert isinstance(fallback, SentenceTransformerEmbedder) and fallback.name == packaged_model_name


def test_ingest_exports_and_a_serving_process_answers_without_torch(tmp_path: Path, packaged_model_path: str,
                                                                   packaged_embedder) -> None:  # noqa: ANN001
    shutil.copytree(SAMPLE_ARTICLES, tmp_path / "articles")
    settings = make_settings(tmp_path, packaged_model_path, query_onnx=True)
    service = build_service(settings, embedder=packaged_embedder)
    try:
        service.ingest()
    finally:
        service.close()
    assert (query_model_dir(tmp_path, packaged_embedder.name) / "model.onnx").exists()

    code = (
        "import json, sys\n"
        "from bot.service import build_service\n"
        "from rag.settings import Settings\n"
        "service = build_service(Settings(_env_file=None))\n"
        "service.warm_up()\n"
        "answer = service.ask('郏县建成了多少座5G基站？')\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'embedder': type(service.embedder).__name__,"
        " 'found': answer.found, 'text': answer.answer}))\n"
    )
    env = {**os.environ, **store_env(settings), "NEWSQA_QUERY_ONNX": "true", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                         cwd=tmp_path, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["torch"] is False and got["embedder"] == "OnnxQueryEmbedder", got
    assert got["found"] and "120" in got["text"], got

    questions = [item.q for item in load_qa(SEEDS)] if SEEDS.exists() else QUESTIONS[:3]
    with_torch, with_onnx = build_service(settings, embedder=packaged_embedder), build_service(settings)
    try:
        assert isinstance(with_onnx.embedder, OnnxQueryEmbedder)
        for question in questions:
            top_torch = [n.node.node_id for n in with_torch.retrieve(question, 5)]
            assert [n.node.node_id for n in with_onnx.retrieve(question, 5)] == top_torch, question
    finally:
        with_torch.close()
        with_onnx.close()


def test_a_model_the_exporter_cannot_handle_is_recorded_not_loaded_at_every_ingest(
        tmp_path: Path, packaged_model_path: str) -> None:
    from sentence_transformers import SentenceTransformer, models

    from rag.retrieval.embedders.onnx_query import ensure_query_model

    encoder = models.Transformer(packaged_model_path)
    folder = tmp_path / "max-pooled"
    SentenceTransformer(modules=[encoder, models.Pooling(encoder.get_embedding_dimension(), "max")]).save(str(folder))
    loads: list[str] = []

    def get_embedder() -> SentenceTransformerEmbedder:
        loads.append("load")
        return SentenceTransformerEmbedder(str(folder), str(folder))

    for _ in range(2):
        assert ensure_query_model(tmp_path / "data", str(folder), get_embedder) is None
    assert loads == ["load"]  # the refusal is remembered
    assert not (query_model_dir(tmp_path / "data", str(folder)) / "meta.json").exists()
