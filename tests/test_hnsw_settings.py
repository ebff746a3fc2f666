"""The chunk collection's HNSW configuration comes from the settings (rag/store/hnsw.py): a new store is created with
NEWSQA_HNSW_M / _EF_CONSTRUCTION / _EF_SEARCH, an existing store gets the configured ef_search when it is opened
(no re-ingest), and a store built with another M or ef_construction is named for `newsqa ingest --rebuild`, which
then gives it the configured ones. Real Chroma stores (embedded, or the test server in server mode)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from rag.store.hnsw import apply_search_settings, hnsw_of
from rag.store.store import Store
from tests.conftest import make_settings

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
#: How newsqa created the chunk collection before the HNSW settings existed (Chroma's defaults otherwise).
OLD_METADATA = {"hnsw:space": "cosine", "hnsw:sync_threshold": 100}


def _old_store(data_dir: Path, vectors: np.ndarray) -> None:
    """A store whose chunk collection was created as older newsqa versions did, holding ``vectors``."""
    store = Store(make_settings(data_dir, MODEL))
    name = store.settings.collection
    store.client.delete_collection(name)
    old = store.client.create_collection(name, embedding_function=None, metadata=OLD_METADATA)
    old.add(ids=[f"c{i}" for i in range(len(vectors))], embeddings=vectors.tolist())
    store.close()


def _vectors(n: int = 300, dim: int = 16) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.normal(size=(n, dim)).astype(np.float32)


def test_an_existing_store_gets_the_configured_ef_search_when_opened(tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    vectors = _vectors()
    _old_store(tmp_path, vectors)
    before = Store(make_settings(tmp_path, MODEL, hnsw_ef_search=100))  # Chroma's default: nothing to change
    assert hnsw_of(before.chunks)["ef_search"] == 100
    before.close()

    with caplog.at_level(logging.INFO, logger="rag.store.hnsw"):
        store = Store(make_settings(tmp_path, MODEL, hnsw_ef_search=321))
    assert hnsw_of(store.chunks)["ef_search"] == 321
    got = store.chunks.query(query_embeddings=[vectors[5].tolist()], n_results=3, include=[])
    assert got["ids"][0][0] == "c5"  # the same index, still answering
    assert store.chunks.count() == len(vectors)  # nothing re-ingested or dropped
    store.close()
    assert not [r for r in caplog.records if "--rebuild" in r.getMessage()]  # M 16, ef_construction 100: as built

    reopened = Store(make_settings(tmp_path, MODEL, hnsw_ef_search=321))  # another process's view: persisted
    assert hnsw_of(reopened.client.get_collection(reopened.settings.collection))["ef_search"] == 321
    reopened.close()


def test_a_new_store_is_created_with_the_configured_graph(tmp_path: Path) -> None:
    store = Store(make_settings(tmp_path, MODEL, hnsw_m=24, hnsw_ef_construction=150, hnsw_ef_search=250))
    config = hnsw_of(store.chunks)
    assert (config["max_neighbors"], config["ef_construction"], config["ef_search"]) == (24, 150, 250)
    assert config["space"] == "cosine"
    store.close()


def test_another_graph_is_named_for_rebuild_which_applies_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _old_store(tmp_path, _vectors(50))
    with caplog.at_level(logging.WARNING, logger="rag.store.hnsw"):
        store = Store(make_settings(tmp_path, MODEL, hnsw_m=32, hnsw_ef_construction=200))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("newsqa ingest --rebuild" in w and "M 16" in w and "M 32" in w for w in warnings), warnings
    assert hnsw_of(store.chunks)["max_neighbors"] == 16  # answering goes on with the index as built
    store.wipe()  # what `newsqa ingest --rebuild` does first
    config = hnsw_of(store.chunks)
    assert (config["max_neighbors"], config["ef_construction"]) == (32, 200)
    store.close()



class _BusyCollection:
    """A Chroma collection whose first ``busy`` configuration writes fail as SQLite does while another connection
    holds the write lock (chromadb 1.5.9's InternalError text)."""

    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.configuration_json = {"hnsw": {"ef_search": 100, "max_neighbors": 16, "ef_construction": 100}}

    def modify(self, configuration: dict) -> None:
        if self.busy:
            self.busy -= 1
            raise RuntimeError("Database error: error returned from database: (code: 5) database is locked")
        self.configuration_json["hnsw"].update(configuration["hnsw"])


def test_setting_ef_search_waits_out_a_locked_database(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A CI run once saw ``database is locked`` when a store was reopened right after another was closed: the
    write is retried, not given up."""
    collection = _BusyCollection(busy=3)
    with caplog.at_level(logging.WARNING, logger="rag.store.hnsw"):
        apply_search_settings(collection, make_settings(tmp_path, MODEL, hnsw_ef_search=222), "test store")
    assert collection.configuration_json["hnsw"]["ef_search"] == 222
    assert collection.busy == 0 and not caplog.records


def test_other_errors_are_not_retried(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class ReadOnly(_BusyCollection):
        calls = 0

        def modify(self, configuration: dict) -> None:
            self.calls += 1
            raise RuntimeError("attempt to write a readonly database")

    collection = ReadOnly(busy=0)
    with caplog.at_level(logging.WARNING, logger="rag.store.hnsw"):
        apply_search_settings(collection, make_settings(tmp_path, MODEL, hnsw_ef_search=222), "test store")
    assert collection.calls == 1 and collection.configuration_json["hnsw"]["ef_search"] == 100
    assert any("cannot set HNSW ef_search 222" in r.getMessage() for r in caplog.records)
