"""Free space on the data dir's filesystem against the ingest reserve, and the write gate of an embedded store.

**Reserve.** An ingest checks the free space before each batch (:func:`check_reserve`) and stops cleanly below
``NEWSQA_DISK_RESERVE_MB`` (see ``rag.settings.DISK_RESERVE_MB`` for how the default was sized), as
Elasticsearch's disk watermarks stop shard allocation: a store filled to the last byte cannot even be read, since
Chroma applies its write-ahead log to the metadata segment before a read and that needs space. Stopping between
batches leaves only whole batches written (each file's manifest entry is written after its records), so the
store answers from what it holds and a re-run after space is freed finishes the ingest.

**Write gate.** :class:`WriteGate` is a file lock ``<store>/batch.lock`` of an embedded store: an ingest holds it
while it writes a batch (records, embedding-cache entries, state) and releases it between batches;
``newsqa backup`` (:mod:`rag.store.backup`) holds it while it copies, so the copy is taken at a batch boundary
and the ingest waits meanwhile. The OS releases the lock of a process that dies.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from rag.errors import BackupError, DiskReserveError
from rag.settings import Settings

log = logging.getLogger(__name__)

MIB = 1024 * 1024
#: Name of the write gate's lock file in the embedded store's folder.
GATE_FILE = "batch.lock"


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged process may still write on the filesystem holding ``path`` (``statvfs`` ``f_bavail``
    times the fragment size, via :func:`shutil.disk_usage`); ``path`` or its nearest existing parent. Raises
    OSError when none exists."""
    probe = Path(path).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return int(shutil.disk_usage(probe).free)


def check_reserve(settings: Settings, probe: Callable[[Path], int] = free_bytes) -> int:
    """The free bytes on the filesystem an ingest fills: the embedded store's, or the data dir (OCR and keyword
    caches) with a Chroma server, whose own disk only its operator can watch. Raises :class:`DiskReserveError`
    naming the data dir, the free space and the reserve when they are below ``settings.disk_reserve_mb`` MiB (0
    disables the check; returns -1 then). ``probe(folder)`` measures free bytes (default :func:`free_bytes`)."""
    reserve = settings.disk_reserve_mb * MIB
    if reserve <= 0:
        return -1
    free = probe(settings.data_dir if settings.chroma_host else settings.store_dir)
    if free < reserve:
        raise DiskReserveError(
            f"ingest stopped: the filesystem of data dir {settings.data_dir} has {free / MIB:.0f} MiB free, below the "
            f"reserve of {settings.disk_reserve_mb} MiB (NEWSQA_DISK_RESERVE_MB). Batches written so far are kept and "
            "the store still answers; free space (or move the data dir to a larger disk) and run `newsqa ingest` "
            "again to finish"
        )
    return free


class WriteGate:
    """The write gate of an embedded store (see the module docstring); a no-op for a Chroma server store, where
    newsqa has no files of the store to copy. Re-entrant within one thread."""

    def __init__(self, settings: Settings) -> None:
        self.path: Path | None = None if settings.chroma_host else settings.store_dir / GATE_FILE
        self._lock: Any = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = FileLock(str(self.path))

    @contextmanager
    def hold(self, timeout: float = -1, waiting: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold the gate for the ``with`` block; waits ``timeout`` seconds at most (-1 = as long as it takes),
        calling ``waiting()`` once when it must wait. Raises BackupError naming the lock file on a timeout."""
        if self._lock is None:
            yield
            return
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            if waiting is not None:
                waiting()
            try:
                self._lock.acquire(timeout=timeout)
            except Timeout as exc:
                raise BackupError(f"{self.path}: still held after {timeout:.0f} s (an ingest writing a batch)") from exc
        try:
            yield
        finally:
            self._lock.release()
