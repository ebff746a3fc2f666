"""``newsqa restore``: a backup folder (:mod:`rag.store.backup`) into an empty data dir, checked file by file.

Nothing is written to the data dir before the whole backup has been checked against its manifest: every file
listed must exist with its size (a missing or truncated file is refused by name before any copy), and each copy's
sha256 must match (a damaged file is refused by name). The files go to a hidden folder inside the data dir first
and are moved into place at the end, so a failed restore leaves the data dir as it was (empty). A backup of a
newer store format than this newsqa reads is refused, naming both versions (see :mod:`rag.store.format`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from rag.errors import BackupError
from rag.store.backup import BACKUP_FORMAT, MANIFEST, copy_hashed
from rag.store.format import STORE_FORMAT

log = logging.getLogger(__name__)

_STAGING = ".newsqa-restore"


def read_manifest(src: Path) -> dict[str, Any]:
    """The manifest of backup folder ``src``. Raises BackupError naming ``src`` when it is not a complete newsqa
    backup (no manifest: the backup never finished), is of an unknown layout or a newer store format."""
    path = src / MANIFEST
    if not src.is_dir():
        raise BackupError(f"backup {src}: no such folder")
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except FileNotFoundError as exc:
        raise BackupError(f"backup {src}: {MANIFEST} is missing, so it is not a complete newsqa backup") from exc
    except (OSError, ValueError) as exc:
        raise BackupError(f"backup {src}: {MANIFEST} cannot be read ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("kind") != "newsqa-backup" or not isinstance(
            manifest.get("files"), list):
        raise BackupError(f"backup {src}: {MANIFEST} is not a newsqa backup manifest")
    if int(manifest.get("backup_format") or 0) > BACKUP_FORMAT:
        raise BackupError(f"backup {src}: backup format {manifest['backup_format']} is newer than this newsqa's "
                          f"({BACKUP_FORMAT}); restore it with the newsqa that made it")
    if int(manifest.get("store_format") or 1) > STORE_FORMAT:
        raise BackupError(f"backup {src}: store format {manifest['store_format']}, written by a newer newsqa; this "
                          f"newsqa reads store format {STORE_FORMAT} and older")
    return manifest


def _relative(src: Path, raw: object) -> PurePosixPath:
    rel = PurePosixPath(str(raw))
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise BackupError(f"backup {src}: {MANIFEST} lists an unsafe path {raw!r}")
    return rel


def verify_backup(src: Path, manifest: dict[str, Any]) -> int:
    """Check that every file of ``manifest`` is in ``src`` with its recorded size; returns the total bytes.
    Raises BackupError naming the first missing or truncated file (hashes are checked while copying)."""
    total = 0
    for row in manifest["files"]:
        rel = _relative(src, row.get("path"))
        path = src / rel
        if not path.is_file():
            raise BackupError(f"backup {src} is damaged: {rel} is missing")
        size, want = path.stat().st_size, int(row["size"])
        if size != want:
            what = "truncated" if size < want else "longer than recorded"
            raise BackupError(f"backup {src} is damaged: {rel} is {what} ({size} of {want} bytes)")
        total += want
    return total


def check_empty(data_dir: Path) -> None:
    """Raise BackupError naming ``data_dir`` and some of what it holds unless it is absent or empty."""
    if data_dir.exists() and not data_dir.is_dir():
        raise BackupError(f"data dir {data_dir}: is a file, not a folder")
    held = sorted(p.name for p in data_dir.iterdir()) if data_dir.exists() else []
    if held:
        shown = ", ".join(held[:5]) + (" ..." if len(held) > 5 else "")
        raise BackupError(f"data dir {data_dir} is not empty (it holds {shown}); restore only into an empty data "
                          "dir: move it away or set NEWSQA_DATA_DIR to a new folder")


def restore_backup(src: Path, data_dir: Path, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Restore backup folder ``src`` into ``data_dir`` (absent or empty) and return its manifest.

    Raises BackupError naming the data dir (not empty), the backup (incomplete, newer) or the damaged file; the
    data dir is left empty then. OSError from the filesystem (a full disk) also leaves it empty.
    """
    say = progress or (lambda message: log.info("%s", message))
    check_empty(data_dir)
    manifest = read_manifest(src)
    total = verify_backup(src, manifest)
    say(f"restoring {len(manifest['files'])} files ({total / 2**20:.1f} MiB) into {data_dir}")
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = data_dir / _STAGING
    try:
        for row in manifest["files"]:
            rel = _relative(src, row["path"])
            size, sha = copy_hashed(src / rel, staging / rel)
            if sha != row["sha256"] or size != int(row["size"]):
                raise BackupError(f"backup {src} is damaged: {rel} does not match its sha256 in {MANIFEST}")
        for child in sorted(staging.iterdir()) if staging.exists() else []:
            os.replace(child, data_dir / child.name)
        shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        for child in list(data_dir.iterdir()):
            shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
        raise
    return manifest
