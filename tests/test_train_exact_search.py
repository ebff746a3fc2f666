"""The training stores' dense leg searches exactly (bot.train.ExactDenseSearch), so the training features do not
depend on how Chroma happened to build its HNSW graph: same hits as Chroma where its search is exact, the ``where``
clause of rag.filters, ties in chunk-id order, and the same hits from two stores of the same records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery

from bot.train import ExactDenseSearch
from rag.store.store import Store
from tests.conftest import make_settings

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def _store(data_dir: Path, vectors: np.ndarray, order: list[int]) -> Store:
    store = Store(make_settings(data_dir, MODEL))
    nodes = [TextNode(id_=f"a{i:03d}:0", text=f"第{i}篇报道的正文。", embedding=vectors[i].tolist(),
                      metadata={"article_id": f"a{i:03d}", "published_day": 20240100 + i % 28}) for i in order]
    store.vector_store.add(nodes)
    return store


def test_exact_search_matches_chroma_and_does_not_depend_on_insertion_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(120, 24)).astype(np.float32)
    first = _store(tmp_path / "a", vectors, list(range(120)))
    second = _store(tmp_path / "b", vectors, [int(i) for i in rng.permutation(120)])
    exact, exact_again = ExactDenseSearch(first), ExactDenseSearch(second)
    for q in rng.normal(size=(10, 24)):
        query = VectorStoreQuery(query_embedding=q.tolist(), similarity_top_k=8)
        chroma, got = first.vector_store.query(query), exact.query(query)
        assert got.ids == chroma.ids  # 120 vectors: Chroma's HNSW search is exact here
        assert np.allclose(got.similarities, chroma.similarities, atol=1e-5)  # exp(-cosine distance), as llama-index
        assert [n.get_content() for n in got.nodes] == [n.get_content() for n in chroma.nodes]
        assert exact_again.query(query).ids == got.ids
        where = {"published_day": {"$gte": 20240120}}
        filtered = exact.query(query, where=where)
        assert filtered.ids == first.vector_store.query(query, where=where).ids
        assert all(n.metadata["published_day"] >= 20240120 for n in filtered.nodes)
    first.close()
    second.close()


def test_equal_vectors_come_back_in_chunk_id_order(tmp_path: Path) -> None:
    vectors = np.tile(np.eye(4, dtype=np.float32)[0], (6, 1))  # six printings of one story: equal similarity
    store = _store(tmp_path, vectors, [4, 1, 5, 0, 3, 2])
    got = ExactDenseSearch(store).query(VectorStoreQuery(query_embedding=[1.0, 0.0, 0.0, 0.0], similarity_top_k=3))
    assert got.ids == ["a000:0", "a001:0", "a002:0"]
    store.close()
