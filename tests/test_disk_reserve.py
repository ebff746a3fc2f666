"""An ingest stops cleanly before a batch when free space falls below ``NEWSQA_DISK_RESERVE_MB`` (real Chroma,
real model): one error naming the data dir, the free space and the reserve; only whole batches stored; the store
still answers; after space is freed a re-run ends with the same chunk ids, texts and metadata as a clean ingest.

Twice: with the reserve steered above the real free space mid-ingest (runs everywhere), and on a real small tmpfs
filled by a file (needs root to mount; skipped with the reason where mounting is not permitted).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from rag.errors import DiskReserveError
from rag.store.disk import MIB, free_bytes
from rag.store.store import Store
from tests.conftest import SAMPLE_ARTICLES, make_settings, server_store_overrides, store_env
from tests.ops_support import answers, chunk_snapshot, write_filler

FILLER_FILES = 70  # 280 chunks: two ingest batches


def _articles(folder: Path) -> Path:
    shutil.copytree(SAMPLE_ARTICLES, folder)
    write_filler(folder / "filler", FILLER_FILES)
    return folder


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, packaged_model_path: str, packaged_embedder):  # noqa: ANN001, ANN201
    """The chunks of a clean ingest of the sample pages plus the filler, in one run."""
    from bot.service import build_service

    data = tmp_path_factory.mktemp("clean")
    _articles(data / "articles")
    settings = make_settings(data, packaged_model_path, disk_reserve_mb=0)
    service = build_service(settings, embedder=packaged_embedder)
    assert service.ingest().files_failed == 0
    service.close()
    return chunk_snapshot(settings)


def _whole_files_only(settings) -> None:  # noqa: ANN001
    """Every stored chunk belongs to a file in the ingest manifest, which records exactly its chunk count."""
    store = Store(settings)
    try:
        manifest = store.manifest()
        per_source: dict[str, int] = {}
        for _ids, _texts, metas in store.iter_chunks():
            for meta in metas:
                per_source[str(meta["source"])] = per_source.get(str(meta["source"]), 0) + 1
        assert set(per_source) <= set(manifest)
        assert all(int(manifest[s]["chunks"]) == n for s, n in per_source.items())
    finally:
        store.close()


def test_ingest_stops_before_a_batch_below_the_reserve_and_a_rerun_finishes(
        tmp_path: Path, packaged_model_path: str, packaged_embedder, clean) -> None:  # noqa: ANN001
    from bot.service import build_service

    shutil.copytree(SAMPLE_ARTICLES, tmp_path / "articles")
    settings = make_settings(tmp_path, packaged_model_path, disk_reserve_mb=0)
    service = build_service(settings, embedder=packaged_embedder)
    service.ingest()
    before = answers(service)
    write_filler(tmp_path / "articles" / "filler", FILLER_FILES)
    chunks_before = service.stats().chunks

    def progress(stage: str, done: int, total: int, item: str) -> None:
        if stage == "embed" and service.store.counts()["chunks"] > chunks_before:  # a batch is stored
            settings.disk_reserve_mb = free_bytes(settings.store_dir) // MIB + 1000  # the disk "fills up"

    with pytest.raises(DiskReserveError) as caught:
        service.ingest(progress=progress)
    message = str(caught.value)
    assert f"data dir {settings.data_dir}" in message and "MiB free" in message
    assert f"reserve of {settings.disk_reserve_mb} MiB (NEWSQA_DISK_RESERVE_MB)" in message
    stopped = service.stats().chunks
    assert chunks_before < stopped < len(clean), "the ingest did not stop between its batches"
    _whole_files_only(settings)
    assert answers(service) == before
    service.close()
    fresh = build_service(settings, embedder=packaged_embedder)
    assert answers(fresh) == before  # a new process's view too

    settings.disk_reserve_mb = 0  # space freed
    summary = fresh.ingest()
    fresh.close()
    assert summary.files_failed == 0 and summary.files_unchanged > 0
    assert chunk_snapshot(settings) == clean


def test_the_cli_names_the_data_dir_free_space_and_reserve(tmp_path: Path, packaged_model_path: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(SAMPLE_ARTICLES, tmp_path / "articles")
    settings = make_settings(tmp_path, packaged_model_path)
    for name, value in {**store_env(settings), "NEWSQA_QUERY_ONNX": "false",
                        "NEWSQA_DISK_RESERVE_MB": str(10**9)}.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["ingest"])
    assert result.exit_code == 1
    assert f"the filesystem of data dir {tmp_path} has" in result.output
    assert f"below the reserve of {10**9} MiB" in result.output and "Traceback" not in result.output


def _mount_tmpfs(where: Path, size_mb: int) -> None:
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (this test fills a real small filesystem)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip() or done.returncode}")


@pytest.mark.skipif(bool(server_store_overrides(Path("."))), reason="embedded store only (the store must be on the tmpfs)")
def test_a_real_full_disk_stops_the_ingest_cleanly_and_a_rerun_after_freeing_space_finishes(
        tmp_path: Path, packaged_model_path: str, packaged_embedder, clean) -> None:  # noqa: ANN001
    from bot.service import build_service

    mount = tmp_path / "mnt"
    _mount_tmpfs(mount, 160)
    try:
        articles = _articles(tmp_path / "articles")
        data = mount / "data"
        data.mkdir()
        (data / "articles").symlink_to(articles, target_is_directory=True)
        filler = articles / "filler"
        hold = tmp_path / "filler-later"
        filler.rename(hold)  # the samples first
        reserve = 64
        settings = make_settings(data, packaged_model_path, disk_reserve_mb=reserve)
        service = build_service(settings, embedder=packaged_embedder)
        service.ingest()
        before = answers(service)
        service.close()
        hold.rename(filler)

        # Leave the reserve plus a little: the first batch of the filler fits, a later one would not.
        spare = free_bytes(mount) - (reserve + 3) * MIB
        with open(mount / "filler.bin", "wb") as fh:
            for _ in range(spare // MIB):
                fh.write(b"\1" * MIB)
        env = {**os.environ, **store_env(settings), "NEWSQA_QUERY_ONNX": "false",
               "NEWSQA_DISK_RESERVE_MB": str(reserve)}
        done = subprocess.run([sys.executable, "-m", "bot.cli", "ingest"], env=env, capture_output=True,
                              text=True, timeout=900)
        assert done.returncode == 1, done.stderr
        assert f"error: ingest stopped: the filesystem of data dir {data} has" in done.stderr
        assert f"below the reserve of {reserve} MiB" in done.stderr
        assert "Traceback" not in done.stderr and "No space left" not in done.stderr
        _whole_files_only(settings)
        reader = build_service(settings, embedder=packaged_embedder)
        assert answers(reader) == before  # Chroma could apply its log: the reserve left it room
        reader.close()

        (mount / "filler.bin").unlink()  # space freed
        rerun = subprocess.run([sys.executable, "-m", "bot.cli", "ingest"], env=env, capture_output=True,
                               text=True, timeout=900)
        assert rerun.returncode == 0, rerun.stderr
        assert chunk_snapshot(settings) == clean
        after = build_service(settings, embedder=packaged_embedder)
        assert answers(after) == before
        after.close()
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
