"""The store format version (rag/store/format.py) on a real store: recorded on the first write, an older store
stamped in place or named for ``newsqa ingest --rebuild``, a newer one refused by name (library and CLI)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from rag.errors import StoreFormatError
from rag.store.format import STORE_FORMAT, ensure_format
from rag.store.leases import DUMMY_VECTOR
from rag.store.store import Store
from tests.conftest import SAMPLE_ARTICLES, make_settings, store_env


@pytest.fixture
def one_page_store(tmp_path: Path, packaged_model_path: str, packaged_embedder):  # noqa: ANN001, ANN201
    """Settings of a data dir holding one ingested sample page."""
    from bot.service import build_service

    page = sorted(SAMPLE_ARTICLES.glob("000_*"))
    (tmp_path / "articles").mkdir()
    for path in page:
        shutil.copy(path, tmp_path / "articles" / path.name)
    settings = make_settings(tmp_path, packaged_model_path)
    service = build_service(settings, embedder=packaged_embedder)
    assert service.ingest().files_failed == 0
    service.close()
    return settings


def _rewrite_state(settings, **changes: object) -> None:  # noqa: ANN001
    """Replace the state record as an older (key absent: None) or newer newsqa would have written it."""
    store = Store(settings)
    got = store.state_collection.get(ids=["store"], include=["metadatas"])
    meta = {**got["metadatas"][0], **changes}
    meta = {k: v for k, v in meta.items() if v is not None}
    store.state_collection.delete(ids=["store"])
    store.state_collection.add(ids=["store"], embeddings=[DUMMY_VECTOR], metadatas=[meta])
    store.close()


def _format(settings) -> object:  # noqa: ANN001
    store = Store(settings)
    try:
        return store.state()["store_format"]
    finally:
        store.close()


def test_a_new_store_records_the_current_format(one_page_store) -> None:  # noqa: ANN001
    assert _format(one_page_store) == STORE_FORMAT


def test_a_store_from_before_the_version_is_stamped_in_place(one_page_store, packaged_embedder) -> None:  # noqa: ANN001
    from bot.service import build_service

    _rewrite_state(one_page_store, store_format=None)
    assert _format(one_page_store) is None
    service = build_service(one_page_store, embedder=packaged_embedder)
    assert "120座" in service.ask("郏县建成了多少座5G基站？").answer
    service.close()
    assert _format(one_page_store) == STORE_FORMAT


def test_an_older_format_that_needs_more_than_a_stamp_is_named_for_rebuild(one_page_store,
                                                                           packaged_embedder) -> None:  # noqa: ANN001
    from bot.service import build_service

    _rewrite_state(one_page_store, store_format=None)
    store = Store(one_page_store)
    with pytest.raises(StoreFormatError) as caught:
        ensure_format(store, upgrades={})  # a table in which format 1 cannot be stamped
    store.close()
    message = str(caught.value)
    assert str(one_page_store.data_dir) in message and "store format 1" in message
    assert f"store format {STORE_FORMAT}" in message and "newsqa ingest --rebuild" in message
    service = build_service(one_page_store, embedder=packaged_embedder)
    summary = service.ingest(rebuild=True)
    assert summary.chunks_added > 0
    service.close()
    assert _format(one_page_store) == STORE_FORMAT


def test_a_store_of_a_newer_newsqa_is_refused_by_name(one_page_store, packaged_embedder,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from bot.service import build_service

    newer = STORE_FORMAT + 7
    _rewrite_state(one_page_store, store_format=newer)
    service = build_service(one_page_store, embedder=packaged_embedder)
    with pytest.raises(StoreFormatError) as caught:
        service.ask("郏县建成了多少座5G基站？")
    with pytest.raises(StoreFormatError):
        service.ingest()
    service.close()
    message = str(caught.value)
    assert str(one_page_store.data_dir) in message
    assert f"store format {newer}" in message and f"reads store format {STORE_FORMAT}" in message
    assert _format(one_page_store) == newer  # left as it was

    for name, value in {**store_env(one_page_store), "NEWSQA_QUERY_ONNX": "false"}.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["ask", "郏县建成了多少座5G基站？", "--server", "local"])
    assert result.exit_code != 0 and f"store format {newer}" in result.output
    assert "Traceback" not in result.output


def test_a_backup_of_a_newer_store_format_is_refused_by_name(tmp_path: Path) -> None:
    from rag.errors import BackupError
    from rag.store.backup import MANIFEST
    from rag.store.restore import restore_backup

    src = tmp_path / "b"
    src.mkdir()
    (src / MANIFEST).write_text(json.dumps({"kind": "newsqa-backup", "backup_format": 1,
                                            "store_format": STORE_FORMAT + 1, "files": []}), "utf-8")
    with pytest.raises(BackupError, match=f"store format {STORE_FORMAT + 1}.*reads store format {STORE_FORMAT}"):
        restore_backup(src, tmp_path / "data")
