"""Incremental ingest: discover files, diff against the manifest, load/clean/segment/chunk, embed, upsert.

Crash safety: a file's manifest entry (its sha256) is written only after its articles and chunks are stored, and
its old records are deleted before new ones are written; so an ingest killed at any point leaves files that the
next run sees as new or changed and redoes, and chunks whose source is in neither the manifest nor the folder
(orphans) are deleted. Chunk ids are deterministic (``<article_id>:<n>``), so redoing never duplicates.

One ingest at a time per store: the embedded store uses a ``FileLock`` in its folder (:class:`FileIngestLock`); a
Chroma server store, shared by several machines, uses a lease record kept with the collection
(:class:`IngestLease`): any machine's ingest sees it, a live holder renews it, and a crashed holder's lease expires
after ``LEASE_TTL_SECONDS`` (or at once when the holder provably ran on this machine and is gone).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from filelock import FileLock, Timeout
from llama_index.core.schema import BaseNode, NodeRelationship, RelatedNodeInfo, TextNode

from ingest.chunk import chunk_text
from ingest.clean import clean_page
from ingest.loaders import LoadError, discover_files, load_text
from ingest.segment import segment_articles
from rag.embedding import Embedder
from rag.errors import IngestLockedError, InputError, StoreUnavailableError
from rag.models import IngestSummary
from rag.settings import Settings
from rag.store import Store, holder_is_dead, process_identity
from rag.textnorm import normalize, tokenize

log = logging.getLogger(__name__)

#: Chunks embedded per write batch: big enough for efficient encoding across many small files.
BATCH_CHUNKS = 256

Progress = Callable[[int, int, str], None]

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
    (times in seconds on the Chroma server's clock) via :meth:`rag.store.Store.acquire_lease`; a daemon thread
    renews it every ``renew_seconds``; :meth:`release` deletes it. A lease whose holder crashed expires after
    ``ttl_seconds``; when the holder ran on this machine (same boot and pid namespace) and its process is gone, it
    is taken over at once. If a renewal finds the lease taken over, or renewals fail for longer than the TTL,
    :meth:`check` raises IngestLockedError and the ingest stops; running it again finishes the work.

    Race window (Chroma has no compare-and-swap, see :meth:`rag.store.Store.renew_lease`): a holder that stalls
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


@dataclass
class _FileWork:
    source: str
    sha256: str
    articles: list[dict] = field(default_factory=list)
    nodes: list[TextNode] = field(default_factory=list)
    embed_texts: list[str] = field(default_factory=list)


def article_id_for(text: str) -> str:
    """Stable article id: first 16 hex digits of SHA-1 over the article's normalised text."""
    return hashlib.sha1(normalize(text).encode("utf-8")).hexdigest()[:16]


def _source_key(path: Path, root: Path, articles_dir: Path) -> str:
    resolved = path.resolve()
    for base in (articles_dir.resolve(), root.resolve() if root.is_dir() else root.resolve().parent):
        if resolved.is_relative_to(base):
            return resolved.relative_to(base).as_posix()
    return path.name


def _scope_prefixes(roots: list[Path], articles_dir: Path) -> list[str] | None:
    """Manifest keys an ingest of ``roots`` may remove; None = everything (the articles folder itself)."""
    prefixes: list[str] = []
    base = articles_dir.resolve()
    for root in roots:
        r = root.resolve()
        if r == base:
            return None
        if r.is_relative_to(base):
            rel = r.relative_to(base).as_posix()
            prefixes.append(rel + "/" if r.is_dir() else rel)
    return prefixes


def build_file_work(source: str, sha256: str, text: str, settings: Settings) -> _FileWork:
    """Clean, segment and chunk one page into article records and (un-embedded) chunk nodes."""
    work = _FileWork(source, sha256)
    seen: set[str] = set()
    for segment in segment_articles(clean_page(text)):
        body = segment.text.strip()
        if not body:
            continue
        article_id = article_id_for(segment.title + "\n" + body)
        if article_id in seen:  # the same article printed twice on one page
            continue
        seen.add(article_id)
        chunks = chunk_text(body, settings.chunk_size, settings.chunk_min, settings.chunk_overlap_sentences)
        chunk_ids = [f"{article_id}:{n}" for n in range(len(chunks))]
        work.articles.append({
            "article_id": article_id, "title": segment.title, "source": source,
            "position": segment.position, "text": body, "chunk_ids": chunk_ids,
        })
        for n, chunk in enumerate(chunks):
            # Title enhancement: the headline is embedded and indexed with every chunk of its article.
            search_text = normalize(f"{segment.title}\n{chunk}")
            node = TextNode(
                id_=chunk_ids[n], text=chunk,
                metadata={
                    "article_id": article_id, "title": segment.title, "source": source,
                    "position": segment.position, "chunk_index": n,
                    "tokens": " ".join(tokenize(search_text, normalized=True)),
                },
                relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=f"file:{source}")},
            )
            work.nodes.append(node)
            work.embed_texts.append(search_text)
    return work


class Ingestor:
    """Runs one incremental ingest against a :class:`Store` (see module docstring).

    ``get_embedder`` is called only when something must be embedded, so an unchanged corpus re-ingests without
    loading a model. Raises :class:`IngestLockedError` when another ingest holds the lock, :class:`InputError` for a
    path that does not exist, :class:`rag.errors.ModelMismatchError` when the store was built with another model.
    """

    def __init__(self, settings: Settings, store: Store, get_embedder: Callable[[], Embedder]) -> None:
        self.settings = settings
        self.store = store
        self.get_embedder = get_embedder
        self._held: IngestLock | None = None

    def lock(self) -> IngestLock:
        """The ingest lock: a lease in the store for a Chroma server store (shared by every machine using it), a
        file lock ``<store folder>/ingest.lock`` for the embedded store."""
        if self.settings.chroma_host:
            return IngestLease(self.store)
        return FileIngestLock(self.settings.store_dir / "ingest.lock")

    def run(self, paths: list[Path] | None = None, progress: Progress | None = None, rebuild: bool = False) -> IngestSummary:
        """Ingest ``paths`` (files or folders; default the articles folder) and return the summary.

        Raises IngestLockedError when another ingest holds the lock, or when this one lost it (server store).
        """
        lock = self.lock()
        lock.acquire()
        self._held = lock
        try:
            if rebuild:
                self.store.wipe()
            return self._run(paths, progress)
        finally:
            self._held = None
            lock.release()

    def _check_lock(self) -> None:
        if self._held is not None:
            self._held.check()

    def _run(self, paths: list[Path] | None, progress: Progress | None) -> IngestSummary:
        started = time.perf_counter()
        summary = IngestSummary()
        articles_dir = self.settings.articles_dir
        roots = list(paths) if paths else [articles_dir]
        if not paths:
            articles_dir.mkdir(parents=True, exist_ok=True)
        for root in roots:
            if not root.exists():
                raise InputError(f"{root}: no such file or folder")
        files: dict[str, Path] = {}
        for root in roots:
            for path in discover_files([root]):
                files.setdefault(_source_key(path, root, articles_dir), path)

        manifest = self.store.manifest()
        scope = _scope_prefixes(roots, articles_dir)

        def in_scope(key: str) -> bool:
            return scope is None or any(key == p or key.startswith(p) for p in scope)

        todo: list[tuple[str, Path, str, bool]] = []
        for key, path in sorted(files.items()):
            try:
                sha = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError as exc:
                summary.failures[key] = f"{key}: cannot read file: {exc.strerror or exc}"
                continue
            old = manifest.get(key)
            if old is not None and old.get("sha256") == sha:
                summary.files_unchanged += 1
            else:
                todo.append((key, path, sha, old is not None))

        changed_anything = False
        stale = {k for k in manifest if k not in files and in_scope(k)}
        stale |= {s for s in self.store.chunk_sources() if s not in manifest and s not in files and in_scope(s)}
        for key in sorted(stale):
            self._check_lock()
            summary.chunks_removed += self.store.remove_source(key)
            summary.files_removed += key in manifest
            changed_anything = True

        batch: list[_FileWork] = []
        for done, (key, path, sha, existed) in enumerate(todo, 1):
            if progress:
                progress(done, len(todo), key)
            try:
                work = build_file_work(key, sha, load_text(path), self.settings)
                if not work.nodes:
                    raise LoadError(f"{key}: no article text found")
            except LoadError as exc:
                summary.failures[key] = str(exc)
                continue
            except Exception as exc:  # one bad file never stops the ingest
                log.exception("ingest of %s failed", key)
                summary.failures[key] = f"{key}: {type(exc).__name__}: {exc}"
                continue
            summary.files_changed += existed
            summary.files_new += not existed
            batch.append(work)
            if sum(len(w.nodes) for w in batch) >= BATCH_CHUNKS:
                self._write(batch, summary)
                changed_anything = True
                batch = []
        if batch:
            self._write(batch, summary)
            changed_anything = True

        summary.files_failed = len(summary.failures)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        self._check_lock()
        if changed_anything:
            self.store.set_state(version=uuid.uuid4().hex, last_ingest=now)
        elif self.store.state()["last_ingest"] is None:
            self.store.set_state(last_ingest=now)
        summary.seconds = round(time.perf_counter() - started, 3)
        return summary

    def _write(self, batch: list[_FileWork], summary: IngestSummary) -> None:
        embedder = self.get_embedder()
        self.store.check_model(embedder.name, embedder.dimension)
        texts = [t for w in batch for t in w.embed_texts]
        vectors = embedder.embed_documents(texts)
        summary.chunks_embedded += len(texts)
        row = 0
        for work in batch:
            for node in work.nodes:
                node.embedding = vectors[row].tolist()
                row += 1
        self._check_lock()
        if self.store.state()["embedding_model"] is None or self.store.counts()["chunks"] == 0:
            self.store.set_state(embedding_model=embedder.name, dimension=embedder.dimension)
        # One write per collection for the whole batch: per-file round trips dominated small-file ingests.
        # The manifest entries go last, so a crash in between leaves files that the next run redoes.
        summary.chunks_removed += self.store.remove_chunks_of([w.source for w in batch])
        owners = self.store.article_sources([a["article_id"] for w in batch for a in w.articles])
        articles: list[dict] = []
        nodes: list[BaseNode] = []
        manifests: list[tuple[str, str, int, int]] = []
        for work in batch:
            keep = set()
            for article in work.articles:
                owner = owners.setdefault(article["article_id"], work.source)
                if owner == work.source:
                    keep.add(article["article_id"])
            if len(keep) < len(work.articles):
                log.info("%s: %d article(s) already stored from another file, skipped",
                         work.source, len(work.articles) - len(keep))
            kept_articles = [a for a in work.articles if a["article_id"] in keep]
            kept_nodes = [n for n in work.nodes if n.metadata["article_id"] in keep]
            articles.extend(kept_articles)
            nodes.extend(kept_nodes)
            manifests.append((work.source, work.sha256, len(kept_articles), len(kept_nodes)))
            summary.chunks_added += len(kept_nodes)
        self.store.add_articles(articles)
        if nodes:
            self.store.vector_store.add(nodes)
        self.store.set_manifests(manifests)
