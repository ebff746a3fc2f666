"""``newsqa backup`` / ``newsqa restore`` on real embedded Chroma stores (real model, real subprocesses).

A backup taken while an ingest runs catches it between two batches and restores to a store that answers as
before and that a re-run of the ingest completes; a damaged backup (truncated, missing, altered file, no manifest)
is refused by name before anything is written; a non-empty data dir is refused by name.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from rag.errors import BackupError
from rag.store.backup import MANIFEST
from rag.store.disk import WriteGate
from rag.store.restore import restore_backup
from tests.conftest import SAMPLE_ARTICLES, make_settings, server_store_overrides, store_env
from tests.ops_support import SAMPLE_QUESTIONS, answers, chunk_snapshot, write_filler
from tests.rest_support.live import running_server

#: Filler pages written during the test: 280 chunks, two ingest batches.
FILLER_FILES = 70

pytestmark = pytest.mark.skipif(bool(server_store_overrides(Path("."))),
                                reason="embedded store only: a Chroma server's records are backed up by the server")


def _cli(args: list[str], settings, **popen) -> subprocess.Popen:  # noqa: ANN001
    env = {**os.environ, **store_env(settings), "NEWSQA_QUERY_ONNX": "false", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "bot.cli", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


def _run(args: list[str], settings) -> subprocess.CompletedProcess:  # noqa: ANN001
    proc = _cli(args, settings)
    stdout, stderr = proc.communicate(timeout=600)
    return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def sample_backup(tmp_path_factory: pytest.TempPathFactory, sample_settings) -> Path:  # noqa: ANN001
    """A backup of the session's ingested sample store (taken by the CLI; the store is only read)."""
    dest = tmp_path_factory.mktemp("backup") / "b"
    done = _run(["backup", str(dest)], sample_settings)
    assert done.returncode == 0, done.stderr
    return dest


def test_backup_during_an_ingest_restores_a_store_that_answers_and_that_a_rerun_completes(
        tmp_path: Path, packaged_model_path: str, packaged_embedder) -> None:  # noqa: ANN001
    from bot.rest.app import create_app
    from bot.service import build_service

    source = tmp_path / "a"
    shutil.copytree(SAMPLE_ARTICLES, source / "articles")
    settings = make_settings(source, packaged_model_path)
    service = build_service(settings, embedder=packaged_embedder)
    service.ingest()
    before = answers(service)
    assert all(fig in before[q][0] for q, fig in SAMPLE_QUESTIONS.items()), before
    chunks_before = service.stats().chunks
    write_filler(source / "articles" / "filler", FILLER_FILES)

    batch_written, backup_copying = threading.Event(), threading.Event()

    def progress(stage: str, done: int, total: int, item: str) -> None:
        if stage == "embed" and not batch_written.is_set() and service.store.counts()["chunks"] > chunks_before:
            batch_written.set()  # a batch of the filler is stored: hold the ingest until the backup copies
            assert backup_copying.wait(300)

    result: dict[str, object] = {}
    ingest = threading.Thread(target=lambda: result.update(summary=service.ingest(progress=progress)))
    server_side = build_service(settings, embedder=packaged_embedder)  # what `newsqa serve` runs
    with running_server(create_app(settings, service=server_side)) as live:
        ingest.start()
        assert batch_written.wait(600)
        dest = tmp_path / "backup"
        backup = _cli(["backup", str(dest)], settings)
        lines = []
        for line in backup.stderr:  # type: ignore[union-attr]
            lines.append(line)
            if "SQLite online backup" in line:  # the backup holds the write gate: the ingest waits for it
                break
        backup_copying.set()
        during = httpx.post(f"{live.base_url}/v1/ask", json={"question": "郏县建成了多少座5G基站？"}, timeout=120)
        stdout, stderr = backup.communicate(timeout=600)
        assert backup.returncode == 0, "".join(lines) + stderr
        ingest.join(600)
    server_side.close()
    summary = result["summary"]
    assert summary.files_failed == 0  # type: ignore[attr-defined]
    assert during.status_code == 200 and "120座" in during.json()["answer"]
    final = chunk_snapshot(settings)
    service.close()

    manifest = json.loads((dest / MANIFEST).read_text("utf-8"))
    assert manifest["state"]["writes_complete"] is False, "the backup was not taken during the ingest"
    assert chunks_before < manifest["counts"]["chunks"] < len(final)
    assert "between two batches of a running ingest" in stdout

    target = tmp_path / "restored"
    restored_settings = make_settings(target, packaged_model_path)
    done = _run(["restore", str(dest)], restored_settings)
    assert done.returncode == 0, done.stderr
    assert "run `newsqa ingest` to finish" in done.stdout
    restored = build_service(restored_settings, embedder=packaged_embedder)
    assert answers(restored) == before
    rerun = restored.ingest()
    assert rerun.files_failed == 0 and rerun.files_new > 0
    restored.close()
    assert chunk_snapshot(restored_settings) == final


def test_a_backup_waits_for_the_batch_being_written(sample_settings, tmp_path: Path) -> None:  # noqa: ANN001
    gate = WriteGate(sample_settings)
    dest = tmp_path / "b"
    with gate.hold():  # what an ingest holds while it writes a batch
        backup = _cli(["backup", str(dest)], sample_settings)
        for line in backup.stderr:  # type: ignore[union-attr]
            if "waiting for the running ingest" in line:
                break
        else:
            pytest.fail(f"the backup did not wait: {backup.communicate()}")
        time.sleep(0.5)
        assert backup.poll() is None and not (dest / MANIFEST).exists()
    stdout, stderr = backup.communicate(timeout=600)
    assert backup.returncode == 0, stderr
    assert (dest / MANIFEST).is_file()


def _damaged(sample_backup: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "damaged"
    shutil.copytree(sample_backup, copy)
    return copy


def _refused(src: Path, target: Path, *needles: str) -> None:
    with pytest.raises(BackupError) as caught:
        restore_backup(src, target)
    for needle in needles:
        assert needle in str(caught.value), str(caught.value)
    assert not target.exists() or not any(target.iterdir()), "a refused restore wrote files"


def test_a_truncated_file_is_refused_by_name(sample_backup: Path, tmp_path: Path, sample_settings) -> None:  # noqa: ANN001
    src = _damaged(sample_backup, tmp_path)
    sqlite = src / "store" / "chroma.sqlite3"
    size = sqlite.stat().st_size
    with open(sqlite, "r+b") as fh:
        fh.truncate(size // 2)
    _refused(src, tmp_path / "data", "store/chroma.sqlite3", "truncated")
    done = _run(["restore", str(src)], make_settings(tmp_path / "cli-data", sample_settings.embedding_model))
    assert done.returncode != 0 and "store/chroma.sqlite3 is truncated" in done.stderr


def test_a_missing_file_is_refused_by_name(sample_backup: Path, tmp_path: Path) -> None:
    src = _damaged(sample_backup, tmp_path)
    hnsw = next(p for p in sorted((src / "store").glob("*/data_level0.bin")))
    hnsw.unlink()
    _refused(src, tmp_path / "data", str(hnsw.relative_to(src)), "missing")


def test_an_altered_file_of_the_same_size_is_refused_by_name(sample_backup: Path, tmp_path: Path) -> None:
    src = _damaged(sample_backup, tmp_path)
    page = next(p for p in sorted((src / "articles").glob("*.txt")))
    data = bytearray(page.read_bytes())
    data[-2] ^= 0x01
    page.write_bytes(bytes(data))
    _refused(src, tmp_path / "data", str(page.relative_to(src)), "sha256")


def test_an_unfinished_backup_is_refused(sample_backup: Path, tmp_path: Path) -> None:
    src = _damaged(sample_backup, tmp_path)
    (src / MANIFEST).unlink()
    _refused(src, tmp_path / "data", MANIFEST, "not a complete newsqa backup")


def test_restore_into_a_non_empty_data_dir_is_refused_by_name(sample_backup: Path, tmp_path: Path,
                                                              sample_settings) -> None:  # noqa: ANN001
    target = tmp_path / "data"
    (target / "articles").mkdir(parents=True)
    (target / "articles" / "keep.txt").write_text("mine", "utf-8")
    done = _run(["restore", str(sample_backup)], make_settings(target, sample_settings.embedding_model))
    assert done.returncode != 0
    assert f"data dir {target} is not empty" in done.stderr and "articles" in done.stderr
    assert sorted(p.name for p in target.rglob("*")) == ["articles", "keep.txt"]


def test_the_manifest_lists_every_file_with_size_and_hash(sample_backup: Path) -> None:
    manifest = json.loads((sample_backup / MANIFEST).read_text("utf-8"))
    listed = {row["path"]: row for row in manifest["files"]}
    on_disk = {p.relative_to(sample_backup).as_posix() for p in sample_backup.rglob("*") if p.is_file()} - {MANIFEST}
    assert set(listed) == on_disk
    assert "store/chroma.sqlite3" in listed and any(p.startswith("store/keyword/") for p in listed)
    assert any(p.endswith("data_level0.bin") for p in listed)
    assert not any(p.endswith((".lock", "/lock")) for p in listed)
    for rel, row in listed.items():
        assert (sample_backup / rel).stat().st_size == row["size"] and len(row["sha256"]) == 64
    assert manifest["state"]["writes_complete"] is True and manifest["counts"]["chunks"] > 0


def test_a_backup_inside_the_data_dir_or_into_a_non_empty_folder_is_refused(sample_settings, tmp_path: Path) -> None:  # noqa: ANN001
    inside = _run(["backup", str(sample_settings.data_dir / "bk")], sample_settings)
    assert inside.returncode != 0 and "must be outside the data dir" in inside.stderr
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x", "utf-8")
    refused = _run(["backup", str(full)], sample_settings)
    assert refused.returncode != 0 and f"backup folder {full}: exists and is not empty" in refused.stderr


def test_an_ingest_waits_at_its_batch_boundary_while_a_backup_holds_the_gate(
        tmp_path: Path, packaged_model_path: str, packaged_embedder, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    from bot.service import build_service

    caplog.set_level(logging.INFO, logger="ingest.pipeline")
    page = sorted(SAMPLE_ARTICLES.glob("001_*"))
    (tmp_path / "articles").mkdir()
    for path in page:
        shutil.copy(path, tmp_path / "articles" / path.name)
    settings = make_settings(tmp_path, packaged_model_path)
    service = build_service(settings, embedder=packaged_embedder)
    gate = WriteGate(settings)
    result: dict[str, object] = {}
    with gate.hold():  # what `newsqa backup` holds while it copies
        ingest = threading.Thread(target=lambda: result.update(summary=service.ingest()))
        ingest.start()
        ingest.join(3.0)
        assert ingest.is_alive(), "the ingest did not wait for the backup"
        assert "waiting for a backup of the store to finish" in caplog.text
        assert service.store.counts()["chunks"] == 0
    ingest.join(600)
    assert result["summary"].chunks_added > 0  # type: ignore[attr-defined]
    assert service.store.counts()["chunks"] > 0
    service.close()
