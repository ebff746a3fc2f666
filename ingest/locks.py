"""Ingest locks: one ingest at a time per store.

The embedded store uses a ``FileLock`` in its folder (:class:`FileIngestLock`; the OS frees it when the holder
dies). A Chroma server store, shared by several machines, uses a lease record kept with the collection
(:class:`IngestLease`): any machine's ingest sees it, a live holder renews it, and a crashed holder's lease expires
after ``LEASE_TTL_SECONDS`` (or at once when the holder provably ran on this machine and is gone).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Protocol

from filelock import FileLock, Timeout

from rag.errors import IngestLockedError, StoreUnavailableError
from rag.store.leases import holder_is_dead, process_identity
from rag.store.store import Store

log = logging.getLogger(__name__)

#: Name of the ingest lease record in the store's ``-state`` collection (server store).
INGEST_LEASE = "ingest"
#: Seconds (Chroma server clock) an ingest lease lives without renewal: a crashed ingest on another machine blocks
#: new ingests at most this long.
LEASE_TTL_SECONDS = 60.0
#: Seconds between renewals of a held lease (a holder must miss TTL / interval = 6 renewals to lose it).
LEASE_RENEW_SECONDS = 10.0
_LOCKED = "another ingest is already running on this store"


class IngestLock(Protocol):
    """What :meth:`Ingestor.run` needs from a lock: ``acquire`` (raises IngestLockedError when held elsewhere),
    ``check`` (raises IngestLockedError when the lock was lost meanwhile) and ``release``."""

    def acquire(self) -> None: ...

    def check(self) -> None: ...

    def release(self) -> None: ...


class FileIngestLock:
    """The embedded store's ingest lock: a ``FileLock`` on ``path``; the OS frees it when the holder dies."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = FileLock(str(path), timeout=0)

    def acquire(self) -> None:
        """Take the lock now or raise IngestLockedError."""
        try:
            self._lock.acquire()
        except Timeout as exc:
            raise IngestLockedError(f"{_LOCKED}; wait for it to finish and try again") from exc

    def check(self) -> None:
        """A file lock cannot be lost while held: never raises."""

    def release(self) -> None:
        """Release the lock."""
        self._lock.release()


class IngestLease:
    """The ingest lock of a Chroma server store: lease record ``lease:ingest`` in the ``-state`` collection.

    :meth:`acquire` writes ``{owner (a new uuid), host, pid, node, pid_start, acquired_at, expires_at, beat}``
    (times in seconds on the Chroma server's clock) via :meth:`rag.store.store.Store.acquire_lease`; a daemon thread
    renews it every ``renew_seconds``; :meth:`release` deletes it. A lease whose holder crashed expires after
    ``ttl_seconds``; when the holder ran on this machine (same boot and pid namespace) and its process is gone, it
    is taken over at once. If a renewal finds the lease taken over, or renewals fail for longer than the TTL,
    :meth:`check` raises IngestLockedError and the ingest stops; running it again finishes the work.

    Race window (Chroma has no compare-and-swap, see :meth:`rag.store.store.Store.renew_lease`): a holder that stalls
    for more than ``ttl_seconds`` can overlap with the ingest that took over, for at most one renewal interval
    plus one write batch.
    """

    def __init__(self, store: Store, ttl_seconds: float = LEASE_TTL_SECONDS, renew_seconds: float = LEASE_RENEW_SECONDS,
                 name: str = INGEST_LEASE) -> None:
        if not 0 < renew_seconds < ttl_seconds:
            raise ValueError(f"renew_seconds must be in (0, ttl_seconds), got {renew_seconds} and {ttl_seconds}")
        self.store = store
        self.ttl_seconds = ttl_seconds
        self.renew_seconds = renew_seconds
        self.name = name
        self.owner: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost: str | None = None
        self._renewed_at = 0.0

    def acquire(self) -> None:
        """Take the lease or raise IngestLockedError naming the holder; StoreUnavailableError when unreachable."""
        owner = uuid.uuid4().hex
        holder = self.store.acquire_lease(self.name, owner, self.ttl_seconds, process_identity(), holder_is_dead)
        if holder is not None:
            raise IngestLockedError(
                f"{_LOCKED} (host {holder.get('host')}, pid {holder.get('pid')}; its lease runs out in "
                f"{float(holder.get('expires_in') or 0):.0f} s unless renewed); wait for it to finish and try again"
            )
        self.owner, self._lost, self._renewed_at = owner, None, time.monotonic()
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew_loop, name="ingest-lease", daemon=True)
        self._thread.start()
        log.info("ingest lease taken on the %s", self.store.where)

    def _renew_loop(self) -> None:
        beat = 0
        while not self._stop.wait(self.renew_seconds):
            beat += 1
            owner = self.owner
            if owner is None:
                return
            try:
                still_ours = self.store.renew_lease(self.name, owner, self.ttl_seconds, beat)
            except StoreUnavailableError as exc:
                log.warning("cannot renew the ingest lease: %s", exc)
                if time.monotonic() - self._renewed_at > self.ttl_seconds:
                    self._lost = f"the lease could not be renewed for {self.ttl_seconds:.0f} s"
                continue
            if not still_ours:
                self._lost = "its lease expired and another ingest took over"
                log.error("this ingest lost its lock on the %s: %s", self.store.where, self._lost)
                return
            self._renewed_at = time.monotonic()

    def check(self) -> None:
        """Raise IngestLockedError when the lease was lost (see the class docstring)."""
        if self._lost is not None:
            raise IngestLockedError(
                f"this ingest lost its lock on the store ({self._lost}) and stopped; run ingest again to finish"
            )

    def release(self) -> None:
        """Stop renewing and delete the lease if still ours (if the server is gone, it expires by itself)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.renew_seconds + 5)
            self._thread = None
        owner, self.owner = self.owner, None
        if owner is None:
            return
        try:
            self.store.release_lease(self.name, owner)
        except StoreUnavailableError as exc:
            log.warning("cannot release the ingest lease (it expires in at most %.0f s): %s", self.ttl_seconds, exc)

    def __enter__(self) -> IngestLease:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
