"""``newsqa backup``: a consistent copy of a data dir while ``newsqa serve`` answers and an ingest may run.

The backup is a folder mirroring the data dir, plus :data:`MANIFEST` (written last, so a folder without it is an
incomplete backup): the store format, the store's state and counts at the snapshot, and each file's path, size
and sha256 (:mod:`rag.store.restore` checks them all before it writes anything).

What is copied, and how each part stays consistent:

- **Chroma's SQLite file** (``store/chroma.sqlite3``: records, metadata, Chroma's write-ahead log) through SQLite's
  online backup API (:meth:`sqlite3.Connection.backup`), which copies a committed state while others read and
  write, then ``PRAGMA quick_check`` on the copy.
- **HNSW segment folders** (``store/<uuid>/``): Chroma rewrites them when it persists an index (the writer, or a
  reader applying the log before a query). They are copied before the SQLite file, and the copy is repeated
  when any of them changed (size, mtime, inode) between the start of their copy and the end of the SQLite copy:
  so the files are never newer than the SQLite copy, and the log entries they lack are still in it (Chroma prunes
  its log only up to what every segment has persisted) and are applied when the restored store opens.
- **Write gate**: both happen under the store's write gate (:class:`rag.store.disk.WriteGate`), so a running
  ingest is caught between two batches (it waits until the copy is done); whole batches only, each file's
  manifest entry after its records, exactly the state an interrupted ingest leaves, which a re-run finishes.
- **Keyword index** (``store/keyword/``, ``keyword-cache/*/``): under its ``flock``, so a manifest and the
  segments it names are copied together (it is derived state: an index behind the store is caught up on open).
- **Everything else** (articles unless excluded, ``ocr-cache/``, ``query-models/``, ``feedback.jsonl``): files as
  they are; the caches are written by rename, so a copy sees whole files. Locks, temporary files, the
  ``serve.json`` marker and REST job records are left out.

A Chroma server store (``NEWSQA_CHROMA_HOST``) keeps its records in the server's persist directory, which only the
server's own backup covers (docs/deploy.md); the backup then holds what newsqa adds: the data dir's caches,
keyword index and articles, and the manifest with the store's state at the time.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.errors import BackupError
from rag.settings import Settings
from rag.store.disk import WriteGate
from rag.store.format import STORE_FORMAT, stored_format

log = logging.getLogger(__name__)

#: The manifest file of a backup folder.
MANIFEST = "newsqa-backup.json"
#: Version of the backup folder layout (manifest keys, paths).
BACKUP_FORMAT = 1
#: Chroma's SQLite file inside the embedded store folder.
SQLITE_FILE = "chroma.sqlite3"
#: Copies of the HNSW folders tried before giving up when Chroma keeps rewriting them.
HNSW_ATTEMPTS = 5
#: SQLite pages copied per step of the online backup (the source's lock is released between steps).
SQLITE_STEP_PAGES = 4096
_CHUNK = 1 << 20
_SKIP_NAMES = {"lock", "serve.json", ".rest-jobs", "ingest.lock", "batch.lock"}
_SKIP_SUFFIXES = (".lock", "-journal", "-wal", "-shm", ".tmp")

Progress = Callable[[str], None]


def copy_hashed(src: Path, dst: Path) -> tuple[int, str]:
    """Copy ``src`` to ``dst`` (parents made) in one read, returning ``(bytes, sha256 hex)`` of what was copied."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while block := fin.read(_CHUNK):
            digest.update(block)
            fout.write(block)
            size += len(block)
    shutil.copystat(src, dst)
    return size, digest.hexdigest()


def file_hash(path: Path) -> tuple[int, str]:
    """``(bytes, sha256 hex)`` of ``path``."""
    with open(path, "rb") as fin:
        digest = hashlib.file_digest(fin, "sha256")
        return fin.tell(), digest.hexdigest()


def _skipped(name: str) -> bool:
    return name in _SKIP_NAMES or name.endswith(_SKIP_SUFFIXES) or ".tmp" in name


def _walk(root: Path, skip_dirs: set[Path]) -> Iterator[Path]:
    """Files under ``root`` (relative, sorted, following links) except skipped names and ``skip_dirs``."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not _skipped(d) and here / d not in skip_dirs)
        for name in sorted(filenames):
            if not _skipped(name):
                yield (here / name).relative_to(root)


class _Writer:
    """Files copied into a backup folder, with their manifest rows."""

    def __init__(self, source: Path, dest: Path) -> None:
        self.source, self.dest = source, dest
        self.rows: dict[str, dict[str, Any]] = {}

    def copy(self, rel: Path) -> None:
        with suppress(FileNotFoundError):  # removed meanwhile (a replaced cache file, a deleted article)
            self.add(rel, copy_hashed(self.source / rel, self.dest / rel))

    def add(self, rel: Path, hashed: tuple[int, str] | None = None) -> None:
        size, sha = hashed or file_hash(self.dest / rel)
        self.rows[rel.as_posix()] = {"path": rel.as_posix(), "size": size, "sha256": sha}

    def drop(self, prefix: str) -> None:
        for key in [k for k in self.rows if k.startswith(prefix)]:
            del self.rows[key]


def sqlite_snapshot(src: Path, dst: Path) -> None:
    """Copy the SQLite database ``src`` to ``dst`` with the online backup API and check the copy
    (``PRAGMA quick_check``). Raises BackupError naming ``src`` when the copy is damaged."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(str(src), timeout=60)
    target = sqlite3.connect(str(dst))
    try:
        source.backup(target, pages=SQLITE_STEP_PAGES)
        verdict = target.execute("PRAGMA quick_check").fetchone()[0]
    finally:
        target.close()
        source.close()
    if verdict != "ok":
        raise BackupError(f"{src}: the copy fails SQLite's quick_check ({verdict})")


def _stat_tree(folders: list[Path]) -> dict[str, tuple[int, int, int]]:
    out = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                st = path.stat()
                out[str(path)] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return out


def _copy_store(store_dir: Path, writer: _Writer, progress: Progress) -> None:
    """Chroma's HNSW folders, then its SQLite file, repeated until the HNSW files held still (module docstring)."""
    rel_store = store_dir.relative_to(writer.source)
    for attempt in range(1, HNSW_ATTEMPTS + 1):
        folders = sorted(p for p in store_dir.iterdir() if p.is_dir() and p.name != "keyword" and not _skipped(p.name))
        before = _stat_tree(folders)
        writer.drop(f"{rel_store.as_posix()}/")
        for folder in folders:
            for rel in _walk(folder, set()):
                writer.copy(rel_store / folder.name / rel)
        progress(f"copying {SQLITE_FILE} (SQLite online backup)")
        sqlite_snapshot(store_dir / SQLITE_FILE, writer.dest / rel_store / SQLITE_FILE)
        writer.add(rel_store / SQLITE_FILE)
        if _stat_tree(folders) == before:
            return
        log.info("Chroma rewrote an HNSW index while it was copied (attempt %d); copying again", attempt)
        for folder in folders:
            shutil.rmtree(writer.dest / rel_store / folder.name, ignore_errors=True)
        time.sleep(0.5 * attempt)
    raise BackupError(f"{store_dir}: Chroma kept rewriting its HNSW files during {HNSW_ATTEMPTS} copies; try again")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("newsqa")
    except PackageNotFoundError:
        return "unknown"


def _check_dest(settings: Settings, dest: Path) -> bool:
    """Raise BackupError unless ``dest`` is absent or an empty folder outside the data dir; True if it existed."""
    data = settings.data_dir.resolve()
    target = dest.resolve()
    if target == data or data in target.parents or target in data.parents:
        raise BackupError(f"backup folder {dest}: must be outside the data dir {settings.data_dir} (and not hold it)")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"backup folder {dest}: exists and is not empty; give a new or empty folder")
    return target.exists()


def write_backup(settings: Settings, dest: Path, state: Callable[[], dict[str, Any]], *,
                 articles: bool = True, gate_timeout: float = 3600.0,
                 progress: Progress | None = None) -> dict[str, Any]:
    """Back up ``settings.data_dir`` into the folder ``dest`` (absent or empty) and return the manifest.

    ``state()`` reads the store's state record and counts (``{"state": ..., "counts": ...}``, by the caller's
    open :class:`rag.store.store.Store`); it is called under the write gate. ``articles`` False leaves
    ``articles/`` out. Waits ``gate_timeout`` seconds at most for a batch being written. Raises BackupError
    (naming the folder or file) and OSError from the filesystem; on an error the files written are removed.
    """
    say = progress or (lambda message: log.info("%s", message))
    existed = _check_dest(settings, dest)
    source = settings.data_dir
    store_dir = None if settings.chroma_host else settings.store_dir
    keyword_dirs = [p for p in [settings.store_dir / "keyword", *sorted((source / "keyword-cache").glob("*"))]
                    if p.is_dir()]
    skip = {*keyword_dirs, *([store_dir] if store_dir else [])}
    if not articles:
        skip.add(source / "articles")
    writer = _Writer(source, dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        say(f"copying the files of {source} (articles, caches, query models)")
        for rel in _walk(source, skip) if source.is_dir() else ():
            writer.copy(rel)
        gate = WriteGate(settings)
        with gate.hold(gate_timeout, waiting=lambda: say("waiting for the running ingest to finish its batch")):
            snapshot = state()
            if store_dir is not None and (store_dir / SQLITE_FILE).exists():
                _copy_store(store_dir, writer, say)
            for folder in keyword_dirs:  # under the keyword index's flock (rag.retrieval.keyword_sync.save)
                with open(folder / "lock", "a") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    for rel in _walk(folder, set()):
                        writer.copy(folder.relative_to(source) / rel)
        found = stored_format(snapshot["state"])
        manifest = {
            "kind": "newsqa-backup", "backup_format": BACKUP_FORMAT,
            "store_format": STORE_FORMAT if found is None else found,
            "created": datetime.now(UTC).isoformat(timespec="seconds"), "newsqa": _version(), "data_dir": str(source),
            "store": f"Chroma server {settings.chroma_host}:{settings.chroma_port}" if settings.chroma_host
            else "embedded", "collection": settings.collection, "articles": articles, **snapshot,
            "files": sorted(writer.rows.values(), key=lambda r: r["path"]),
        }
        tmp = dest / f"{MANIFEST}.tmp"
        tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), "utf-8")
        os.replace(tmp, dest / MANIFEST)
    except BaseException:
        if existed:
            for child in dest.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        else:
            shutil.rmtree(dest, ignore_errors=True)
        raise
    return manifest
