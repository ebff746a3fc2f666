"""The dense leg under an archive filter: a Chroma ``where`` clause evaluated on a record's metadata as Chroma
does (:func:`rag.filters.where_matches`), and the unfiltered-then-filtered query the leg runs when most chunks
pass, which must return what the filtered query returns."""

from __future__ import annotations

from datetime import date

import pytest

import rag.retrieval.dense as dense
from rag.filters import ArchiveFilter, where_matches
from rag.retrieval.dense import DenseRetriever


def test_where_clauses_read_as_chroma_reads_them() -> None:
    scoped = ArchiveFilter().with_scope(date(2021, 1, 1), date(2021, 12, 31)).chroma_where()
    assert scoped is not None
    undated = {"published_day": 0, "event_min": 0, "event_max": 0}
    assert where_matches(scoped, undated)  # an undated page never vanishes from a scope
    assert where_matches(scoped, {**undated, "published_day": 20211231})
    assert not where_matches(scoped, {**undated, "published_day": 20190105})
    assert where_matches(scoped, {"published_day": 20230105, "event_min": 20210301, "event_max": 20210302})
    assert not where_matches(scoped, {"source": "x.txt"})  # no date fields at all: Chroma matches nothing
    strict = ArchiveFilter(since=date(2021, 1, 1), publication="平顶山", publications=frozenset({"平顶山日报"}))
    clause = strict.chroma_where()
    assert clause is not None
    assert where_matches(clause, {"published_day": 20211231, "publication": "平顶山日报"})
    assert not where_matches(clause, {"published_day": 20211231, "publication": "郏县报"})
    assert not where_matches(clause, {"published_day": 0, "publication": "平顶山日报"})
    with pytest.raises(ValueError, match=r"\$like"):
        where_matches({"title": {"$like": "x"}}, {"title": "x"})


@pytest.mark.parametrize(("flt", "question", "fallback"), [
    (ArchiveFilter().with_scope(date(2021, 1, 1), date(2021, 12, 31)), "郏县建成了多少座5G基站？", False),
    (ArchiveFilter(since=date(2030, 1, 1)), "郏县建成了多少座5G基站？", True),  # nothing passes
])
def test_filtering_after_a_wider_query_returns_what_the_filtered_query_returns(
        sample_service, flt: ArchiveFilter, question: str, fallback: bool, monkeypatch) -> None:  # noqa: ANN001
    store, embedder = sample_service.store, sample_service.embedder
    where = flt.chroma_where()
    calls: list[bool] = []
    original = DenseRetriever._query

    def counted(self, vector, top_k, clause):  # noqa: ANN001, ANN202
        calls.append(clause is None)
        return original(self, vector, top_k, clause)

    monkeypatch.setattr(dense.DenseRetriever, "_query", counted)
    inside = [h.node.node_id for h in DenseRetriever(store, embedder, 5, where, share=None).retrieve(question)]
    assert calls == [False]
    calls.clear()
    after = [h.node.node_id for h in DenseRetriever(store, embedder, 5, where, share=1.0).retrieve(question)]
    assert after == inside and (len(inside) == 5) is not fallback
    # The unfiltered query ran first; the filtered one only when too few of its results passed.
    assert calls == ([True, False] if fallback else [True])
