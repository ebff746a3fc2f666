"""The incremental keyword index: bm25s's scores exactly, an index caught up from the change log ranks like one
rebuilt from all chunks (dev questions: seeds_dev over the sample pages, a sample of CMRC 2018 trial), persistence
across processes, metadata filters inside the keyword leg."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import bm25s
import numpy as np
import pytest

from rag.evaluation import load_qa
from rag.retrieval import keyword_sync
from rag.retrieval.keyword import BM25Index
from rag.retrieval.segments import build_segment, merge_segments
from rag.text.normalize import tokenize
from tests.conftest import SAMPLE_ARTICLES, make_settings

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "eval"
SEEDS = SHARED / "seeds_dev.jsonl"
CMRC = SHARED / "cmrc2018_trial"


def _bm25s_scores(corpus: list[list[str]], query: list[str]) -> np.ndarray:
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(t, len(vocab)) for t in doc] for doc in corpus]
    vocab.setdefault("", len(vocab))
    bm = bm25s.BM25()
    bm.index((ids, vocab), show_progress=False)
    known = [t for t in query if t in vocab]
    return bm.get_scores(known) if known else np.zeros(len(corpus), dtype=np.float32)


def _index(parts: list[list[tuple[str, list[str]]]], dead_ids: set[str] = frozenset()) -> BM25Index:  # type: ignore[assignment]
    vocab: dict[str, int] = {}
    segments = [build_segment(((i, t, {"source": i.split(":")[0]}) for i, t in part), vocab) for part in parts]
    dead = [np.array([i in dead_ids for i in seg.ids], dtype=bool) for seg in segments]
    df = np.zeros(len(vocab), dtype=np.int32)
    for seg, d in zip(segments, dead, strict=True):
        for term in range(len(seg.indptr) - 1):
            docs, _ = seg.postings(term)
            df[term] += int((~d[docs]).sum())
    return BM25Index(None, segments, dead, vocab, df)  # type: ignore[arg-type]  # no store: scores only


def test_scores_are_bm25s_scores_bit_for_bit_across_segments_and_deletions() -> None:
    rng = random.Random(3)
    words = [f"w{i}" for i in range(60)]
    docs = [(f"d{n}:0", [rng.choice(words[: rng.randint(5, 60)]) for _ in range(rng.randint(0, 40))])
            for n in range(120)]
    dead = {f"d{n}:0" for n in range(0, 120, 7)}
    split = _index([docs[:50], docs[50:90], docs[90:]], dead)
    live = [d for d in docs if d[0] not in dead]
    for query in (["w1", "w2", "w2", "w40"], ["w59"], ["w3", "nope"], words[:12]):
        expected = _bm25s_scores([t for _i, t in live], query)
        got = split.scores(query)
        rows = [n for n, (i, _t) in enumerate(docs) if i not in dead]
        assert np.array_equal(got[rows], expected), query
        assert not got[[n for n, (i, _t) in enumerate(docs) if i in dead]].any()
    assert split.n_docs == len(live)
    assert split.df.get("w1") == sum("w1" in t for _i, t in live)
    merged = merge_segments(list(zip(split.segments, split.dead, strict=True)), len(split.vocab))
    one = BM25Index(None, [merged], [np.zeros(merged.n, dtype=bool)], split.vocab, split.df_array)  # type: ignore[arg-type]
    assert merged.ids == [i for i, _t in live]
    assert np.array_equal(one.scores(words[:12]), _bm25s_scores([t for _i, t in live], words[:12]))
    assert one.search(["w1", "w7"], 10) == split.search(["w1", "w7"], 10)


def test_postings_are_stored_narrow_and_score_past_the_uint16_row_range() -> None:
    big = [(f"a:{n}", ["a"] * (1 + n % 3)) for n in range(2**16 + 1)]  # one row more than uint16 can number
    small = [("b:0", ["b", "a"]), ("b:1", ["b"] * 300), ("b:2", ["c"])]
    index = _index([big, small])
    wide, narrow = index.segments
    assert wide.docs.dtype == np.int32 and wide.tfs.dtype == np.uint8
    assert narrow.docs.dtype == np.uint16 and narrow.tfs.dtype == np.uint16  # a term 300 times in one chunk
    scores = index.scores(["b"])
    assert np.flatnonzero(scores).tolist() == [len(big), len(big) + 1]  # the small segment's rows, after the big one's
    assert scores[len(big) + 1] > scores[len(big)]
    assert index.search(["b"], 1) == [("b:1", float(scores[len(big) + 1]))]
    merged = merge_segments([(narrow, np.zeros(narrow.n, dtype=bool))], len(index.vocab))
    assert merged.docs.dtype == np.uint16 and np.array_equal(merged.docs, narrow.docs)


def test_filters_apply_inside_the_keyword_leg() -> None:
    docs = [(f"s{n % 3}:{n}", ["news", f"x{n}"]) for n in range(30)]
    index = _index([docs[:10], docs[10:]])
    everything = index.search(["news"], 30)
    assert len(everything) == 30
    only_s1 = index.search(["news"], 30, allow=lambda seg: np.array([v == "s1" for v in seg.field_values("source")]))
    assert {i.split(":")[0] for i, _s in only_s1} == {"s1"} and len(only_s1) == 10
    two = index.search(["news"], 30, allow={"s0:0", "s2:14"})
    assert sorted(i for i, _s in two) == ["s0:0", "s2:14"]


def _questions() -> list[str]:
    qs = [item.q for item in load_qa(SEEDS)]
    cmrc = [item.q for item in load_qa(CMRC / "qa.jsonl")]
    return qs + random.Random(5).sample(cmrc, 60)


def _top5(index: BM25Index, questions: list[str]) -> list[list[tuple[str, float]]]:
    return [index.search(tokenize(q), 5) for q in questions]


@pytest.mark.skipif(not SEEDS.exists() or not CMRC.exists(), reason="shared/eval not available")
def test_caught_up_index_equals_a_full_rebuild_on_the_dev_questions(tmp_path: Path, packaged_model_path: str,
                                                                   packaged_embedder) -> None:  # noqa: ANN001
    from bot.service import build_service

    pages = sorted(SAMPLE_ARTICLES.glob("*.txt"))
    cmrc_files = sorted((CMRC / "articles").iterdir())[:24]
    articles = tmp_path / "articles"
    articles.mkdir()
    for page in pages[:3]:
        shutil.copy(page, articles / page.name)
    settings = make_settings(tmp_path, packaged_model_path, index_refresh_seconds=0)
    writer = build_service(settings, embedder=packaged_embedder)
    writer.ingest()
    reader = build_service(settings, embedder=packaged_embedder)  # another process: follows the store
    reader.warm_up()
    assert reader.keyword_index.current().n_docs > 0

    for page in pages[3:]:
        shutil.copy(page, articles / page.name)
    for path in cmrc_files:
        shutil.copy(path, articles / path.name)
    writer.ingest()
    (articles / pages[0].name).unlink()  # a removed page
    changed = articles / cmrc_files[0].name
    changed.write_text(changed.read_text("utf-8") + "\n补充报道：本报记者再次核实了上述数字。\n", "utf-8")
    writer.ingest()

    questions = _questions()
    live = reader.keyword_index
    live.current()  # notices the new version; catches up in the background
    for _ in range(200):
        index = live.current()
        if index.version == writer.store.state()["version"]:
            break
        import time

        time.sleep(0.05)
    assert index.version == writer.store.state()["version"]
    assert live.last_refresh["how"] == "caught up"
    rebuilt = keyword_sync.full_build(writer.store, writer.store.state())
    assert index.n_docs == rebuilt.n_docs == writer.store.counts()["chunks"]
    assert index.total_length == rebuilt.total_length
    tokens = {t for q in questions for t in tokenize(q)}
    assert all(index.df.get(t) == rebuilt.df.get(t) for t in tokens)
    assert _top5(index, questions) == _top5(rebuilt, questions)
    assert any(_top5(index, questions))

    # a third process opens the persisted index instead of building it, and ranks the same
    manifest = json.loads((keyword_sync.index_dir(writer.store) / "manifest.json").read_text("utf-8"))
    assert manifest["version"] == index.version
    opened = keyword_sync.load(writer.store, keyword_sync.index_dir(writer.store))
    assert opened is not None and _top5(opened, questions) == _top5(rebuilt, questions)
    fresh = build_service(settings, embedder=packaged_embedder)
    assert fresh.retrieve("郏县建成了多少座5G基站？", 5)
    assert fresh.keyword_index.current().version == index.version
    for service in (writer, reader, fresh):
        service.close()


def test_an_ingest_leaves_the_keyword_index_on_disk_for_the_next_process(
        tmp_path: Path, packaged_model_path: str, packaged_embedder, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    # `newsqa ingest` then a cold `newsqa ask`: the ask opens the index instead of building it from all chunks.
    from bot.service import build_service

    articles = tmp_path / "articles"
    articles.mkdir()
    shutil.copy(sorted(SAMPLE_ARTICLES.glob("*.txt"))[0], articles)
    settings = make_settings(tmp_path, packaged_model_path)
    writer = build_service(settings, embedder=packaged_embedder)
    writer.ingest()
    state = writer.store.state()
    opened = keyword_sync.load(writer.store, keyword_sync.index_dir(writer.store))
    assert opened is not None and opened.version == state["version"] and opened.n_docs == writer.store.counts()["chunks"]
    asker = build_service(settings, embedder=packaged_embedder)

    def no_build(*_args: object) -> None:
        raise AssertionError("the asking process built the keyword index")

    monkeypatch.setattr(keyword_sync, "full_build", no_build)
    assert asker.ask("郏县建成了多少座5G基站？").found
    assert asker.keyword_index.last_refresh == {}  # opened at the store's version: nothing caught up either
    for service in (writer, asker):
        service.close()


def test_catch_up_after_compacting_a_segment_keeps_the_id_map_right(tmp_path: Path, packaged_model_path: str,
                                                                     packaged_embedder) -> None:  # noqa: ANN001
    # Each edit of a page kills its rows and appends a delta; a segment over MAX_DEAD_SHARE dead is compacted,
    # which keeps the segment count but moves rows: the id map of the caught-up index must follow.
    from bot.service import build_service

    articles = tmp_path / "articles"
    articles.mkdir()
    pages = sorted(SAMPLE_ARTICLES.glob("*.txt"))[:2]
    for page in pages:
        shutil.copy(page, articles / page.name)
    service = build_service(make_settings(tmp_path, packaged_model_path), embedder=packaged_embedder)
    service.ingest()
    edited = articles / pages[0].name
    for n in range(4):
        edited.write_text(f"补充报道{n}：本报记者再次核实了上述数字。\n" + edited.read_text("utf-8"), "utf-8")
        service.ingest()
        index = service.keyword_index.current()
        rebuilt = keyword_sync.full_build(service.store, service.store.state())
        assert sorted(index.locate()) == sorted(rebuilt.locate()) and index.n_docs == rebuilt.n_docs
        for chunk_id, (seg, row) in index.locate().items():
            assert index.segments[seg].ids[row] == chunk_id and not index.dead[seg][row]
    service.close()


def test_change_log_epoch_changes_when_the_log_cannot_be_trusted(tmp_path: Path, packaged_model_path: str) -> None:
    from rag.store.store import Store

    store = Store(make_settings(tmp_path, packaged_model_path))
    store.set_state(writes_complete=False)
    store.chunks.add(ids=["a:0"], embeddings=[[0.1] * 384], metadatas=[{"tokens": "x y", "source": "a"}])
    store.set_state(version="v1", writes_complete=True)
    first = store.state()
    assert first["log_epoch"] and first["log_version"] == "v1"
    store.chunks.add(ids=["b:0"], embeddings=[[0.2] * 384], metadatas=[{"tokens": "y z", "source": "b"}])
    store.chunks.delete(ids=["a:0"])
    store.set_state(version="v2", writes_complete=True)
    second = store.state()
    assert second["log_epoch"] == first["log_epoch"] and second["log_seq"] == first["log_seq"] + 2
    assert store.changes.read(first["log_seq"], second["log_seq"]) == [("put", ["b:0"]), ("del", ["a:0"])]
    store.set_state(writes_complete=False)  # an ingest that dies half-way ...
    other = Store(make_settings(tmp_path, packaged_model_path))
    other.set_state(writes_complete=False)  # ... and the next one
    other.set_state(version="v3", writes_complete=True)
    assert other.state()["log_epoch"] != first["log_epoch"]
    store.close()
    other.close()
