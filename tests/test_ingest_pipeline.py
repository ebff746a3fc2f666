"""Incremental ingest against a real Chroma store with the real packaged embedding model."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from filelock import FileLock

from bot.service import build_service
from ingest.locks import IngestLease
from rag.errors import IngestLockedError, InputError, ModelMismatchError
from rag.service import NewsQA
from rag.store.store import Store
from tests.conftest import ROOT, SAMPLE_ARTICLES, make_settings

PAGE_A = "000_a17aea0bf2d75ea6.txt"
PAGE_B = "001_9560272fe25c5dcf.txt"
NEW_ARTICLE = textwrap.dedent(
    """\
    郏县新建智慧图书馆

    本报讯(记者李明)日前,郏县智慧图书馆正式开馆,馆内藏书达到58000册,设有阅览座位420个。

    该馆由县文化广电和旅游局建设,总投资2600万元。
    """
)


def _service(data_dir: Path, model_path: str, embedder) -> NewsQA:  # noqa: ANN001
    return build_service(make_settings(data_dir, model_path), embedder=embedder)


def _all_chunk_ids(service: NewsQA) -> list[str]:
    return [i for ids, _d, _m in service.store.iter_chunks() for i in ids]


@pytest.fixture()
def two_pages(tmp_path: Path) -> Path:
    articles = tmp_path / "articles"
    articles.mkdir()
    for name in (PAGE_A, PAGE_B):
        shutil.copy(SAMPLE_ARTICLES / name, articles / name)
    return tmp_path


def test_incremental_add_change_delete_unchanged(two_pages: Path, packaged_model_path: str, packaged_embedder) -> None:  # noqa: ANN001
    service = _service(two_pages, packaged_model_path, packaged_embedder)
    first = service.ingest()
    assert (first.files_new, first.files_failed) == (2, 0)
    assert first.chunks_added == first.chunks_embedded > 0
    ids = _all_chunk_ids(service)
    assert len(ids) == len(set(ids)) == first.chunks_added
    assert all(":" in i for i in ids)

    again = service.ingest()
    assert (again.files_unchanged, again.files_new, again.chunks_embedded, again.chunks_added) == (2, 0, 0, 0)

    articles = two_pages / "articles"
    (articles / "new.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    added = service.ingest()
    assert (added.files_new, added.files_unchanged) == (1, 2)
    assert 0 < added.chunks_embedded == added.chunks_added
    answer = service.ask("郏县智慧图书馆藏书多少册？")
    assert answer.found and "58000册" in answer.answer
    assert answer.citations[0].source == "new.txt"

    (articles / "new.txt").write_text(NEW_ARTICLE.replace("58000册", "61000册"), encoding="utf-8")
    changed = service.ingest()
    assert (changed.files_changed, changed.files_unchanged) == (1, 2)
    assert changed.chunks_removed > 0 and changed.chunks_added > 0
    answer = service.ask("郏县智慧图书馆藏书多少册？")
    assert "61000册" in answer.answer and "58000" not in answer.answer

    (articles / PAGE_B).unlink()
    removed = service.ingest()
    assert removed.files_removed == 1 and removed.chunks_removed > 0
    sources = {m["source"] for _i, _d, metas in service.store.iter_chunks() for m in metas}
    assert sources == {PAGE_A, "new.txt"}
    assert set(service.store.manifest()) == {PAGE_A, "new.txt"}
    hits = service.search("示范区党工委扩大会议", top_k=10)
    assert all(h.source != PAGE_B for h in hits)


def test_bad_files_are_named_skipped_and_do_not_stop_the_ingest(tmp_path: Path, packaged_model_path: str, packaged_embedder) -> None:  # noqa: ANN001
    articles = tmp_path / "articles"
    articles.mkdir()
    shutil.copy(SAMPLE_ARTICLES / PAGE_A, articles / PAGE_A)
    (articles / "empty.txt").write_text("", encoding="utf-8")
    (articles / "binary.txt").write_bytes(bytes(range(256)) * 20)
    (articles / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    summary = _service(tmp_path, packaged_model_path, packaged_embedder).ingest()
    assert summary.files_new == 1
    assert summary.files_failed == 3
    assert set(summary.failures) == {"empty.txt", "binary.txt", "broken.pdf"}
    assert all(name in message for name, message in summary.failures.items())
    # Failed files are retried on the next run (not recorded as ingested) and good files stay.
    again = _service(tmp_path, packaged_model_path, packaged_embedder).ingest()
    assert again.files_failed == 3 and again.files_unchanged == 1


def test_second_ingest_is_refused_while_one_holds_the_lock(two_pages: Path, packaged_model_path: str, packaged_embedder) -> None:  # noqa: ANN001
    settings = make_settings(two_pages, packaged_model_path)
    settings.store_dir.mkdir(parents=True, exist_ok=True)
    # the embedded store's lock file, or the server store's lease (held by another process: see test_server_store)
    held = IngestLease(Store(settings)) if settings.chroma_host else FileLock(str(settings.store_dir / "ingest.lock"))
    with held, pytest.raises(IngestLockedError, match="already running"):
        build_service(settings, embedder=packaged_embedder).ingest()
    assert build_service(settings, embedder=packaged_embedder).ingest().files_new == 2


def test_missing_path_is_an_input_error_naming_it(two_pages: Path, packaged_model_path: str, packaged_embedder) -> None:  # noqa: ANN001
    with pytest.raises(InputError, match="nowhere.txt"):
        _service(two_pages, packaged_model_path, packaged_embedder).ingest([two_pages / "nowhere.txt"])


def test_querying_with_another_model_says_to_reingest(two_pages: Path, packaged_model_path: str, packaged_embedder) -> None:  # noqa: ANN001
    _service(two_pages, packaged_model_path, packaged_embedder).ingest()

    class OtherModel:
        name = "BAAI/bge-small-zh-v1.5"
        dimension = 512

    with pytest.raises(ModelMismatchError, match="re-ingest"):
        build_service(make_settings(two_pages, packaged_model_path), embedder=OtherModel()).ask("郏县有多少5G基站？")  # type: ignore[arg-type]


KILLER = textwrap.dedent(
    """\
    import os, sys
    from pathlib import Path
    from rag.service import NewsQA
    from bot.service import build_service
    from tests.conftest import make_settings  # the embedded store, or the test Chroma server in server mode

    settings = make_settings(Path(sys.argv[1]), sys.argv[2])
    def die_after_first(stage, done, total, name):
        if stage == "prepare" and done == 2:  # two files prepared, the third about to be
            os._exit(9)  # a hard kill: no cleanup, no finally blocks
    build_service(settings).ingest(progress=die_after_first)
    """
)


def test_killed_ingest_is_completed_by_rerun_without_duplicates(tmp_path: Path, packaged_model_path: str, packaged_embedder) -> None:  # noqa: ANN001
    shutil.copytree(SAMPLE_ARTICLES, tmp_path / "articles")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", KILLER, str(tmp_path), packaged_model_path], env=env, timeout=300)
    assert proc.returncode == 9
    partial = Store(make_settings(tmp_path, packaged_model_path)).manifest()
    assert len(partial) < 5  # it really died half-way

    resumed = _service(tmp_path, packaged_model_path, packaged_embedder).ingest()
    assert resumed.files_failed == 0
    assert resumed.files_new + resumed.files_unchanged + resumed.files_changed == 5

    reference_dir = tmp_path / "reference"
    shutil.copytree(SAMPLE_ARTICLES, reference_dir / "articles")
    reference = _service(reference_dir, packaged_model_path, packaged_embedder)
    reference.ingest()
    service = _service(tmp_path, packaged_model_path, packaged_embedder)
    assert sorted(_all_chunk_ids(service)) == sorted(_all_chunk_ids(reference))
    assert service.stats().articles == reference.stats().articles


DIE_BEFORE_MANIFEST = textwrap.dedent(
    """\
    import os, sys
    from pathlib import Path
    from rag.service import NewsQA
    from bot.service import build_service
    from rag.store.store import Store
    from tests.conftest import make_settings

    # The process dies right after its first batch of chunks and articles is written, before the manifest entries
    # that would mark those files done: the worst moment for a crash.
    def die(self, entries):
        os._exit(9)

    Store.set_manifests = die
    build_service(make_settings(Path(sys.argv[1]), sys.argv[2])).ingest()
    """
)


def test_interrupted_ingest_leaves_orphans_that_the_next_run_removes(two_pages: Path, packaged_model_path: str, packaged_embedder) -> None:  # noqa: ANN001
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", DIE_BEFORE_MANIFEST, str(two_pages), packaged_model_path],
                          env=env, timeout=300)
    assert proc.returncode == 9
    store = Store(make_settings(two_pages, packaged_model_path))
    assert store.manifest() == {}
    assert store.chunk_sources() == {PAGE_A, PAGE_B}  # written, but not marked done
    assert store.state()["writes_complete"] is False
    store.close()

    (two_pages / "articles" / PAGE_A).unlink()  # the user removes a page before re-running ingest
    service = _service(two_pages, packaged_model_path, packaged_embedder)
    resumed = service.ingest()
    assert resumed.files_new == 1 and resumed.chunks_removed > 0
    assert service.store.chunk_sources() == {PAGE_B}
    assert set(service.store.manifest()) == {PAGE_B}
    assert service.store.state()["writes_complete"] is True

    settled = service.ingest()
    assert (settled.files_unchanged, settled.chunks_removed, settled.chunks_embedded) == (1, 0, 0)
    assert service.store.state()["writes_complete"] is True


def test_an_article_printed_on_two_pages_survives_either_page_going(two_pages: Path, packaged_model_path: str, packaged_embedder) -> None:  # noqa: ANN001
    articles = two_pages / "articles"
    reprint = "002_reprint.txt"  # a later page reprinting every article of PAGE_A
    shutil.copy(articles / PAGE_A, articles / reprint)
    service = _service(two_pages, packaged_model_path, packaged_embedder)
    first = service.ingest()
    assert first.files_new == 3
    sources = service.store.chunk_sources()
    assert PAGE_A in sources and reprint not in sources  # stored once
    shared = service.store.manifest()[reprint]
    assert shared["articles"] == 0 and len(str(shared["shared"]).split()) > 0
    articles_before = service.stats().articles

    (articles / PAGE_A).write_text(NEW_ARTICLE, encoding="utf-8")  # PAGE_A changes and drops those articles
    changed = service.ingest()
    assert changed.files_changed == 1 and changed.files_unchanged == 2  # the reprint is not counted twice
    assert reprint in service.store.chunk_sources()
    assert service.stats().articles == articles_before + 1
    assert not service.store.manifest()[reprint]["shared"]

    another = "003_another_reprint.txt"
    shutil.copy(articles / reprint, articles / another)
    service.ingest()
    assert another not in service.store.chunk_sources()
    (articles / reprint).unlink()  # the page holding the stored copy goes; the other reprint stays
    gone = service.ingest()
    assert (gone.files_removed, gone.files_unchanged) == (1, 3)
    assert service.store.chunk_sources() == {PAGE_A, PAGE_B, another}
    assert service.stats().articles == articles_before + 1
