"""Keeping the keyword index in step with the store: full build, catch-up from the change log, merge, persistence.

The index is derived state. A process opens the copy persisted on local disk (``<store>/keyword`` for the
embedded store, ``$NEWSQA_DATA_DIR/keyword-cache/<server>-<collection>`` for a Chroma server), which costs reading
the chunk ids and the vocabulary (the postings are memory-mapped), then catches up with the store: the change log
(:mod:`rag.store.changes`) names the chunks written or deleted since the index's ``(epoch, seq)``; written ones
are read back from Chroma and appended as a new segment, deleted ones are marked dead. Only when the log cannot
say (another epoch, pruned entries, a writer without the log) is the index rebuilt from all chunk records.
Small segments are merged once there are :data:`MAX_SMALL_SEGMENTS` of them, and a segment with more than
:data:`MAX_DEAD_SHARE` dead chunks is compacted. Several processes may share one folder: files are written once
under new names and ``manifest.json`` is replaced atomically (under an ``flock``), so a reader always sees one
complete index.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from rag.retrieval.keyword import BM25Index
from rag.retrieval.segments import Segment, build_segment, merge_segments
from rag.store.store import Store

log = logging.getLogger(__name__)

FORMAT = 1
#: Chunks per segment of a full build (bounded memory while building).
SEGMENT_ROWS = 50_000
MAX_SMALL_SEGMENTS = 8
MAX_DEAD_SHARE = 0.3
#: Files no manifest names any more are deleted after this many seconds (readers may still be opening them).
ORPHAN_SECONDS = 600


def index_dir(store: Store) -> Path:
    """Where this process keeps the persisted keyword index of ``store``."""
    settings = store.settings
    if not store.server_mode:
        return Path(settings.store_dir) / "keyword"
    name = f"{settings.chroma_host}-{settings.chroma_port}-{settings.collection}".replace("/", "_")
    return Path(settings.data_dir) / "keyword-cache" / name


def _tokens(meta: dict[str, Any]) -> list[str]:
    return str(meta.get("tokens", "")).split()


def full_build(store: Store, state: dict[str, Any]) -> BM25Index:
    """The index of every chunk record in the store, at ``state`` (read before the chunks)."""
    vocab: dict[str, int] = {}
    segments: list[Segment] = []
    batch: list[tuple[str, list[str], dict[str, Any]]] = []
    for ids, _docs, metas in store.iter_chunk_tokens():
        batch.extend((i, _tokens(m), m) for i, m in zip(ids, metas, strict=True))
        if len(batch) >= SEGMENT_ROWS:
            segments.append(build_segment(batch, vocab))
            batch = []
    if batch or not segments:
        segments.append(build_segment(batch, vocab))
    df = np.zeros(len(vocab), dtype=np.int32)
    for seg in segments:
        counts = np.diff(np.asarray(seg.indptr))
        df[: len(counts)] += counts.astype(np.int32)
    dead = [np.zeros(seg.n, dtype=bool) for seg in segments]
    return BM25Index(store, segments, dead, vocab, df, version=state["version"], epoch=state.get("log_epoch"),
                     seq=int(state.get("log_seq") or 0))


def catch_up(index: BM25Index, store: Store, state: dict[str, Any]) -> BM25Index | None:
    """``index`` brought to ``state`` from the change log, or None when the log cannot do it (rebuild)."""
    # the log must cover the store's current version (not so after a writer without the log), in our epoch
    if not state.get("log_epoch") or state.get("log_version") != state.get("version") or (
            state.get("log_epoch") != index.epoch):
        return None
    target = int(state.get("log_seq") or 0)
    entries = store.changes.read(index.seq, target)
    if entries is None:
        return None
    removed: set[str] = set()
    put: dict[str, None] = {}
    for op, ids in entries:
        removed.update(ids)  # a put replaces any live copy, a del removes it
        if op == "put":
            put.update(dict.fromkeys(ids))
        else:
            for i in ids:
                put.pop(i, None)
    if len(put) > max(index.n_docs, 1000):
        return None  # cheaper to rebuild
    got_ids, metas = store.chunk_metadatas(list(put))
    where = dict(index.locate())
    dead = list(index.dead)
    touched: dict[int, list[int]] = {}
    for chunk_id in removed:
        loc = where.pop(chunk_id, None)
        if loc is not None:
            touched.setdefault(loc[0], []).append(loc[1])
    vocab = index.vocab
    for s, rows in touched.items():
        mask = dead[s].copy()
        mask[rows] = True
        dead[s] = mask
    new_terms: list[np.ndarray] = [index.segments[s].terms_of_rows(np.asarray(rows)) for s, rows in touched.items()]
    segments = list(index.segments)
    if got_ids:
        seg = build_segment(((i, _tokens(m), m) for i, m in zip(got_ids, metas, strict=True)), vocab)
        for row, chunk_id in enumerate(seg.ids):
            where[chunk_id] = (len(segments), row)
        segments.append(seg)
        dead.append(np.zeros(seg.n, dtype=bool))
    new_df = np.zeros(len(vocab), dtype=np.int32)
    new_df[: len(index.df_array)] = index.df_array
    for terms in new_terms:
        np.subtract.at(new_df, terms, 1)
    if got_ids:
        counts = np.diff(np.asarray(segments[-1].indptr))
        new_df[: len(counts)] += counts.astype(np.int32)
    merged, dead = _merge(segments, dead, len(vocab))
    out = BM25Index(store, merged, dead, vocab, new_df, version=state["version"], epoch=index.epoch, seq=target)
    if merged is segments:
        # Nothing merged: the old segments plus the delta, so the id map carries over. A segment count alone cannot
        # say so: compacting one segment keeps the count and moves its rows (and puts it last).
        out._where = where
    return out


def _merge(segments: list[Segment], dead: list[np.ndarray], n_terms: int) -> tuple[list[Segment], list[np.ndarray]]:
    small = [i for i, seg in enumerate(segments) if seg.n < SEGMENT_ROWS]
    merge = set(small) if len(small) >= MAX_SMALL_SEGMENTS else set()
    merge |= {i for i, (seg, d) in enumerate(zip(segments, dead, strict=True)) if seg.n and d.mean() > MAX_DEAD_SHARE}
    if not merge:
        return segments, dead
    merged = merge_segments([(segments[i], dead[i]) for i in sorted(merge)], n_terms)
    keep = [i for i in range(len(segments)) if i not in merge]
    log.info("keyword index: merged %d segments into one of %d chunks", len(merge), merged.n)
    return [segments[i] for i in keep] + [merged], [dead[i] for i in keep] + [np.zeros(merged.n, dtype=bool)]


# --- persistence ----------------------------------------------------------------------------------------------
def _collection_id(store: Store) -> str:
    return str(store.chunks.id)


def load(store: Store, folder: Path) -> BM25Index | None:
    """The index persisted in ``folder`` for this store, or None (absent, unreadable, another collection)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
        if manifest.get("format") != FORMAT or manifest.get("collection") != _collection_id(store):
            return None
        terms = (folder / manifest["vocab"]).read_text("utf-8").split("\n")[: int(manifest["n_terms"])]
        vocab = dict(zip(terms, range(len(terms)), strict=False))
        df = np.array(np.load(folder / manifest["df"]), dtype=np.int32)
        segments = [Segment.load(folder, s["name"]) for s in manifest["segments"]]
        dead = [np.array(np.load(folder / s["dead"]), dtype=bool) if s.get("dead") else np.zeros(seg.n, dtype=bool)
                for s, seg in zip(manifest["segments"], segments, strict=True)]
    except (OSError, ValueError, KeyError) as exc:
        log.info("keyword index in %s not usable (%s): rebuilding", folder, exc)
        return None
    return BM25Index(store, segments, dead, vocab, df, version=manifest["version"], epoch=manifest["epoch"],
                     seq=int(manifest["seq"]))


def save(index: BM25Index, folder: Path) -> None:
    """Persist ``index`` in ``folder`` (new files only, then an atomic manifest); never raises for disk errors."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                current: dict[str, Any] | None = dict(json.loads((folder / "manifest.json").read_text("utf-8")))
            except (OSError, ValueError):
                current = None
            if current and current.get("epoch") == index.epoch and current.get("collection") == _collection_id(
                    index.store) and (int(current.get("seq", -1)), current.get("version") == index.version) >= (
                    index.seq, True):
                return  # another process persisted this index, or a newer one
            tag = uuid.uuid4().hex[:12]
            entries = []
            old_dead = {s["name"]: s.get("dead") for s in (current or {}).get("segments", [])}
            for seg, dead in zip(index.segments, index.dead, strict=True):
                if not (folder / seg.name).exists():
                    seg.save(folder)
                name = None
                if dead.any():
                    name = old_dead.get(seg.name)
                    if not name or not np.array_equal(np.load(folder / name), dead):
                        name = f"dead-{seg.name}-{tag}.npy"
                        np.save(folder / name, dead)
                entries.append({"name": seg.name, "dead": name})
            terms = [""] * len(index.df_array)
            for term, gid in list(index.vocab.items()):
                if gid < len(terms):
                    terms[gid] = term
            vocab_name, df_name = f"vocab-{tag}.txt", f"df-{tag}.npy"
            (folder / vocab_name).write_text("\n".join(terms), "utf-8")
            np.save(folder / df_name, index.df_array)
            manifest = {"format": FORMAT, "collection": _collection_id(index.store), "epoch": index.epoch,
                        "seq": index.seq, "version": index.version, "vocab": vocab_name, "n_terms": len(terms),
                        "df": df_name, "segments": entries, "n_docs": index.n_docs, "saved_at": time.time()}
            tmp = folder / f"manifest.{tag}.tmp"
            tmp.write_text(json.dumps(manifest), "utf-8")
            os.replace(tmp, folder / "manifest.json")
            _remove_orphans(folder, manifest)
    except OSError as exc:
        log.warning("could not persist the keyword index in %s: %s", folder, exc)


def _remove_orphans(folder: Path, manifest: dict[str, Any]) -> None:
    import shutil

    used = {manifest["vocab"], manifest["df"], "manifest.json", "lock"}
    for s in manifest["segments"]:
        used.add(s["name"])
        if s.get("dead"):
            used.add(s["dead"])
    cutoff = time.time() - ORPHAN_SECONDS
    for path in folder.iterdir():
        if path.name in used or path.stat().st_mtime > cutoff:
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
