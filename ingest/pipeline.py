"""Incremental ingest: discover files, diff against the manifest, load/clean/segment/chunk, embed, upsert.

Crash safety: a file's manifest entry (its sha256) is written only after its articles and chunks are stored, and
its old records are deleted before new ones are written; so an ingest killed at any point leaves files that the
next run sees as new or changed and redoes, and chunks whose source is in neither the manifest nor the folder
(orphans) are deleted. Chunk ids are deterministic (``<article_id>:<n>``), so redoing never duplicates. The
store's ``writes_complete`` flag is cleared before an ingest writes and set when it ends, so the orphan search
(a scan of every chunk record) runs only after an interrupted ingest.

Two stages overlap: a preparing thread reads, cleans, segments, chunks and tokenises files into batches while the
calling thread embeds the previous batch and writes it to Chroma. jieba runs on one core and torch releases the
GIL while it computes, so preparing costs encoding little. Writes are not overlapped: the embedded Chroma store
holds the GIL while it writes, and encoding beside a write measured slower than the two in series (bench/NOTES.md,
section 6).

One ingest at a time per store: see :mod:`ingest.locks`.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.schema import BaseNode, NodeRelationship, RelatedNodeInfo, TextNode

from ingest.chunk import chunk_text
from ingest.clean import clean_page
from ingest.loaders import LoadError, discover_files, load_text
from ingest.locks import FileIngestLock, IngestLease, IngestLock
from ingest.ocr import OcrCache, needs_ocr, ocr_files
from ingest.scans import article_confidence, load_scan
from ingest.segment import segment_articles
from rag.embedding import Embedder
from rag.errors import InputError
from rag.models import IngestSummary
from rag.settings import Settings
from rag.store import ManifestEntry, Store
from rag.textnorm import normalize, tokenize

log = logging.getLogger(__name__)

#: Chunks embedded and written per batch: enough for efficient encoding and few Chroma calls, few enough that a
#: crash loses little work (a file's records are kept only once its whole batch is written).
BATCH_CHUNKS = 256
#: Prepared batches the preparing thread may run ahead of encoding (bounds memory).
PREFETCH_BATCHES = 2

Progress = Callable[[int, int, str], None]

__all__ = ["BATCH_CHUNKS", "FileIngestLock", "IngestLease", "Ingestor", "article_id_for", "build_file_work"]


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


class _Prefetch:
    """Runs ``produce`` (a generator function) in a daemon thread and yields its items through a bounded queue.

    An exception in the producer is re-raised in the consumer; :meth:`close` (also on the consumer's early exit)
    stops the producer at its next item.
    """

    _DONE = object()

    def __init__(self, produce: Callable[[], Iterator[Any]], maxsize: int, name: str) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(produce,), name=name, daemon=True)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, produce: Callable[[], Iterator[Any]]) -> None:
        try:
            for item in produce():
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put(exc)
            return
        self._put(self._DONE)

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self._queue.get()
            if item is self._DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop the producer and wait for its thread."""
        self._stop.set()
        self._thread.join()


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

        ``progress(done, total, file)`` is called (from the preparing thread) as each changed file is prepared;
        embedding and writing trail it by at most a few batches. Raises IngestLockedError when another ingest
        holds the lock, or when this one lost it (server store).
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
        # Orphans (chunks or articles of a source without a manifest entry) exist only after an interrupted
        # ingest; finding them reads every chunk record (seconds at 100k chunks), so only then.
        was_complete = self.store.state()["writes_complete"] is True
        if not was_complete:
            stale |= {s for s in self.store.chunk_sources()
                      if s not in manifest and s not in files and in_scope(s)}
        opened = bool(stale or todo)
        if opened:
            self._check_lock()
            self.store.set_state(writes_complete=False)
        for key in sorted(stale):
            self._check_lock()
            summary.chunks_removed += self.store.remove_source(key)
            summary.files_removed += key in manifest
            changed_anything = True

        if todo:
            self._ocr(todo, summary, progress)
            changed_anything |= self._embed_and_write(todo, summary, progress)
        if changed_anything:
            redo = self._sharers_to_redo(files)
            if redo:
                log.info("%d file(s) share articles whose stored copy is gone: ingesting them again", len(redo))
                self._embed_and_write(redo, summary, progress, count_files=False)

        summary.files_failed = len(summary.failures)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        self._check_lock()
        if changed_anything:
            self.store.set_state(version=uuid.uuid4().hex, last_ingest=now, writes_complete=True)
        elif opened or not was_complete or self.store.state()["last_ingest"] is None:
            self.store.set_state(last_ingest=now, writes_complete=True)
        summary.seconds = round(time.perf_counter() - started, 3)
        return summary

    def _ocr(self, todo: list[tuple[str, Path, str, bool]], summary: IngestSummary, progress: Progress | None) -> None:
        """OCR every page of the images and scanned PDFs in ``todo`` not yet in the OCR cache, on
        ``settings.ocr_workers`` processes, before anything is prepared; ``progress`` is called per page
        (``"OCR <file> page n"``). A file that cannot be read is a failure in ``summary``."""
        scans = [(path, sha) for _key, path, sha, _ in todo if needs_ocr(path)]
        if not scans:
            return
        keys = {str(path): key for key, path, _sha, _ in todo}

        def page_progress(done: int, total: int, page: str) -> None:
            if progress:
                progress(done, total, f"OCR {page}")

        failed = ocr_files(scans, OcrCache(self.settings.ocr_cache_dir), self.settings.ocr_workers, page_progress)
        for path, message in failed.items():
            summary.failures[keys[path]] = f"{keys[path]}: {message}"

    def _load(self, key: str, path: Path, sha: str, summary: IngestSummary) -> _FileWork:
        """Read, clean, segment and chunk one file; scans (and PDFs) through the OCR cache, with the per-article
        OCR confidence put on the article records (``ocr_confidence``, ``ocr_low_chars``)."""
        if not needs_ocr(path):
            return build_file_work(key, sha, load_text(path), self.settings)
        scan = load_scan(path, sha, OcrCache(self.settings.ocr_cache_dir), key)
        work = build_file_work(key, sha, scan.text, self.settings)
        if scan.ocr_pages:
            for article, (mean, low) in zip(work.articles, article_confidence(
                    [a["text"] for a in work.articles], scan.blocks), strict=True):
                article["ocr_confidence"], article["ocr_low_chars"] = mean, low
                log.info("%s: article %r: OCR confidence %.3f, %d low-confidence characters",
                         key, article["title"][:30], mean, low)
            summary.ocr_pages += scan.ocr_pages
            summary.ocr_low_confidence_chars += scan.low_chars
            if scan.warnings:
                summary.warnings[key] = "; ".join(scan.warnings)
                for warning in scan.warnings:
                    log.warning("%s", warning)
        return work

    def _sharers_to_redo(self, files: dict[str, Path]) -> list[tuple[str, Path, str, bool]]:
        """Files in ``files`` whose shared articles (see :class:`rag.store.ManifestEntry`) are no longer stored:
        the file that held the stored copy was deleted, or changed and dropped the article."""
        manifest = self.store.manifest()
        sharers = {key: str(entry["shared"]).split() for key, entry in manifest.items()
                   if entry.get("shared") and key in files}
        if not sharers:
            return []
        stored = self.store.article_sources(sorted({a for ids in sharers.values() for a in ids}))
        # The recorded hash is kept: if the file changed meanwhile, the next run sees the difference and redoes it.
        return [(key, files[key], str(manifest[key]["sha256"]), True) for key, ids in sorted(sharers.items())
                if any(a not in stored for a in ids)]

    def _prepare(self, todo: list[tuple[str, Path, str, bool]], summary: IngestSummary,
                 progress: Progress | None, count_files: bool = True) -> Iterator[list[_FileWork]]:
        """Batches of prepared files (at least ``BATCH_CHUNKS`` chunks each but the last); failures go to
        ``summary`` (and so do new/changed file counts when ``count_files``). Runs in the preparing thread."""
        batch: list[_FileWork] = []
        size = 0
        for done, (key, path, sha, existed) in enumerate(todo, 1):
            if key in summary.failures:  # its OCR already failed
                continue
            if progress:
                progress(done, len(todo), key)
            try:
                work = self._load(key, path, sha, summary)
                if not work.nodes:
                    raise LoadError(f"{key}: no article text found")
            except LoadError as exc:
                summary.failures[key] = str(exc)
                continue
            except Exception as exc:  # one bad file never stops the ingest
                log.exception("ingest of %s failed", key)
                summary.failures[key] = f"{key}: {type(exc).__name__}: {exc}"
                continue
            if count_files:
                summary.files_changed += existed
                summary.files_new += not existed
            batch.append(work)
            size += len(work.nodes)
            if size >= BATCH_CHUNKS:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch

    def _embed_and_write(self, todo: list[tuple[str, Path, str, bool]], summary: IngestSummary,
                         progress: Progress | None, count_files: bool = True) -> bool:
        """Prepare ``todo`` in the preparing thread, embed and write it batch by batch here; True when anything was
        written. An error in either stage stops the ingest (crash safety as in the module docstring)."""
        prepared = _Prefetch(lambda: self._prepare(todo, summary, progress, count_files), PREFETCH_BATCHES,
                             "ingest-prepare")
        embedder: Embedder | None = None
        wrote = False
        try:
            for batch in prepared:
                if embedder is None:
                    embedder = self.get_embedder()
                    self.store.check_model(embedder.name, embedder.dimension)
                    if self.store.state()["embedding_model"] is None or self.store.counts()["chunks"] == 0:
                        self.store.set_state(embedding_model=embedder.name, dimension=embedder.dimension)
                texts = [t for w in batch for t in w.embed_texts]
                vectors = embedder.embed_documents(texts)
                summary.chunks_embedded += len(texts)
                self._check_lock()
                self._write(batch, vectors, summary)
                wrote = True
        finally:
            prepared.close()
        return wrote

    def _write(self, batch: list[_FileWork], vectors: np.ndarray, summary: IngestSummary) -> None:
        """Store one embedded batch; ``vectors``: ``(chunks, dim)`` float32, one row per node in batch order."""
        row = 0
        for work in batch:
            for node in work.nodes:
                node.embedding = vectors[row].tolist()
                row += 1
        # One write per collection for the whole batch: per-file round trips dominated small-file ingests.
        # The manifest entries go last, so a crash in between leaves files that the next run redoes.
        summary.chunks_removed += self.store.remove_chunks_of([w.source for w in batch])
        owners = self.store.article_sources([a["article_id"] for w in batch for a in w.articles])
        articles: list[dict] = []
        nodes: list[BaseNode] = []
        manifests: list[ManifestEntry] = []
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
            shared = tuple(a["article_id"] for a in work.articles if a["article_id"] not in keep)
            manifests.append(ManifestEntry(work.source, work.sha256, len(kept_articles), len(kept_nodes), shared))
            summary.chunks_added += len(kept_nodes)
        self.store.add_articles(articles)
        if nodes:
            self.store.vector_store.add(nodes)
        self.store.set_manifests(manifests)
