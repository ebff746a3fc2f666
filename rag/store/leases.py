"""Lease records in a store's ``-state`` collection: the ingest lock of a Chroma server store.

:class:`LeaseRecords` is a base class of :class:`rag.store.store.Store` (it needs the store's ``state_collection``);
:func:`process_identity` and :func:`holder_is_dead` describe lease holders so that a holder that crashed on this
machine can be taken over at once. The lock built on them is :class:`ingest.locks.IngestLease`.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rag.store.connection import ChromaConnection

log = logging.getLogger(__name__)

#: Prefix of lease record ids in the ``-state`` collection.
LEASE_PREFIX = "lease:"
#: The vector stored with records that need none (Chroma requires one): 1-d zero.
DUMMY_VECTOR = [0.0]


class LeaseRecords(ChromaConnection):
    """Named leases (``lease:<name>`` records) with expiry on the store's clock; see :meth:`acquire_lease`."""

    state_collection: Any  # set by Store

    def server_time(self) -> float:
        """Seconds since the epoch by the store's clock: the Chroma server's (its heartbeat) in server mode, so
        that lease expiry never depends on clock skew between machines; this machine's for the embedded store."""
        if not self.server_mode:
            return time.time()
        return float(self.call("client", "heartbeat")) / 1e9

    def lease(self, name: str) -> dict[str, Any] | None:
        """The lease record ``name`` (``owner``, ``beat``, ``acquired_at``, ``expires_at`` ... ) or None."""
        got = self.state_collection.get(ids=[LEASE_PREFIX + name], include=["metadatas"])
        return dict(got["metadatas"][0]) if got["ids"] else None

    def acquire_lease(self, name: str, owner: str, ttl_seconds: float, info: dict[str, Any],
                      takeover: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any] | None:
        """Try to take lease ``name`` for ``owner`` (a unique id per acquisition) for ``ttl_seconds`` (server clock).

        Returns None when ``owner`` now holds the lease, else the holder's record (plus ``expires_in`` seconds).
        A lease past its expiry, or one for which ``takeover(record)`` is True (its holder is known dead), is
        replaced. ``info`` (str/int/float values) is stored in the record for error messages.

        Chroma has no compare-and-swap; two of its operations are used as atomic primitives instead (both are
        applied in one order by the server): ``add`` of an existing id is ignored (insert-if-absent: of several
        concurrent acquirers exactly one record lands and everybody reads the same winner back), and ``delete``
        with a ``where`` filter on ``owner`` and ``beat`` removes a stale lease only if it is still the same
        record (a holder that renewed meanwhile keeps it). See :meth:`renew_lease` for the remaining window.
        """
        lease_id = LEASE_PREFIX + name
        now = self.server_time()
        current = self.lease(name)
        if current is not None and current.get("owner") != owner:
            expires = float(current.get("expires_at") or 0.0)
            if expires > now and not (takeover and takeover(current)):
                return {**current, "expires_in": max(0.0, expires - now)}
            log.warning("taking over the %s lease of %s (pid %s): %s", name, current.get("host"), current.get("pid"),
                        "expired" if expires <= now else "its process is gone")
            self.state_collection.delete(
                ids=[lease_id],
                where={"$and": [{"owner": {"$eq": str(current.get("owner"))}},
                                {"beat": {"$eq": int(current.get("beat") or 0)}}]},
            )
        record = {**info, "owner": owner, "beat": 0, "acquired_at": now, "expires_at": now + ttl_seconds}
        self.state_collection.add(ids=[lease_id], embeddings=[DUMMY_VECTOR], metadatas=[record])
        holder = self.lease(name)
        if holder is not None and holder.get("owner") == owner:
            return None
        if holder is None:  # deleted between our add and read: somebody else's conditional delete; retry later
            return {"owner": "?", "host": "?", "pid": "?", "expires_in": 0.0}
        return {**holder, "expires_in": max(0.0, float(holder.get("expires_at") or 0.0) - now)}

    def renew_lease(self, name: str, owner: str, ttl_seconds: float, beat: int) -> bool:
        """Extend ``owner``'s lease to ``ttl_seconds`` from now (server clock); False when it is no longer ours.

        Read, ``update`` (which merges only ``expires_at`` and ``beat``, never the owner), read again. The window
        Chroma's lack of compare-and-swap leaves: a holder that stalls for longer than the TTL (a frozen VM, a
        network partition) can have its lease taken over while it still runs; it learns so at its next renewal
        (at most one renewal interval later, see :class:`ingest.locks.IngestLease`) and stops, and its update
        in that window only extends the new holder's expiry. Two ingests may write in that interval; both write
        idempotent, content-addressed records, and re-running ingest repairs anything left inconsistent.
        """
        lease_id = LEASE_PREFIX + name
        current = self.lease(name)
        if current is None or current.get("owner") != owner:
            return False
        now = self.server_time()
        self.state_collection.update(ids=[lease_id], metadatas=[{"expires_at": now + ttl_seconds, "beat": beat}])
        after = self.lease(name)
        return after is not None and after.get("owner") == owner

    def release_lease(self, name: str, owner: str) -> None:
        """Delete the lease if ``owner`` holds it (a conditional delete: someone else's lease is left alone)."""
        self.state_collection.delete(ids=[LEASE_PREFIX + name], where={"owner": {"$eq": owner}})


def process_identity() -> dict[str, Any]:
    """``{"host", "pid", "node", "pid_start"}`` of this process, stored in lease records.

    ``node`` (Linux boot id + pid namespace) identifies the process table ``pid`` belongs to, and ``pid_start``
    (clock ticks after boot) tells a live process from a reused pid; both are "" / 0 where /proc is absent.
    """
    node, start = "", 0
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        node = f"{boot}/{os.readlink('/proc/self/ns/pid')}"
        start = _pid_start(os.getpid())
    except OSError:
        node, start = "", 0
    return {"host": socket.gethostname(), "pid": os.getpid(), "node": node, "pid_start": start}


def _pid_start(pid: int) -> int:
    """Start time of ``pid`` in clock ticks after boot (field 22 of /proc/<pid>/stat). Raises OSError."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    return int(stat.rsplit(")", 1)[1].split()[19])


def holder_is_dead(record: dict[str, Any]) -> bool:
    """True only when the lease holder provably ran in this process table and is gone (pid absent or reused)."""
    me = process_identity()
    if not me["node"] or record.get("node") != me["node"]:
        return False  # another machine or container: only expiry can tell
    try:
        return _pid_start(int(record.get("pid") or 0)) != int(record.get("pid_start") or -1)
    except (OSError, ValueError, IndexError):
        return True
