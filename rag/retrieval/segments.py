"""Immutable posting segments of the keyword index, persisted as memory-mapped ``.npy`` files.

A :class:`Segment` holds some chunks: their ids, token counts (document lengths), per-field value codes (for
metadata filters inside the keyword leg) and an inverted index over the index-wide term ids, stored as raw term
frequencies in CSC form (``indptr`` by term, then ``docs``/``tfs``). Scores are computed at query time from the
current corpus statistics (:mod:`rag.retrieval.keyword`), which is what lets an index grow by appending small
segments and still score exactly like one rebuilt from scratch: bm25s bakes N, df and the mean length into every
stored score, so one added chunk would change them all.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Chunk metadata keys kept per chunk for filters inside the keyword leg (present ones only).
FILTER_FIELDS = ("source", "published", "publication", "story_id", "event_min", "event_max")


@dataclass
class Segment:
    """Chunks ``0..n-1`` of one segment (see the module docstring). Arrays may be memory-mapped (read-only)."""

    name: str
    ids: list[str]
    lengths: np.ndarray  # int32 (n,)
    indptr: np.ndarray  # int64 (terms+1,): postings of term t are docs[indptr[t]:indptr[t+1]]
    docs: np.ndarray  # uint16 when the segment has at most 65,536 chunks, else int32 (postings,)
    tfs: np.ndarray  # uint8 / uint16 / int32, the narrowest that holds the largest (postings,)
    fields: dict[str, tuple[np.ndarray, list[str]]] = field(default_factory=dict)  # codes (n,), values

    @property
    def n(self) -> int:
        return len(self.ids)

    def postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """``(docs, tfs)`` of term id ``term`` (empty when the segment does not know it)."""
        if term + 1 >= len(self.indptr):
            return self.docs[:0], self.tfs[:0]
        start, end = int(self.indptr[term]), int(self.indptr[term + 1])
        return self.docs[start:end], self.tfs[start:end]

    def field_values(self, name: str) -> list[str | None]:
        """The value of metadata field ``name`` for every chunk (None where absent)."""
        if name not in self.fields:
            return [None] * self.n
        codes, values = self.fields[name]
        table: list[str | None] = [*values, None]
        return [table[c] for c in codes.tolist()]

    def terms_of_rows(self, rows: np.ndarray) -> np.ndarray:
        """Term ids of every posting of these chunks, one per (term, chunk) pair (for document frequencies)."""
        if not len(rows) or not len(self.docs):
            return np.zeros(0, dtype=np.int64)
        hit = np.isin(self.docs, rows)
        positions = np.flatnonzero(hit)
        return np.searchsorted(self.indptr, positions, side="right") - 1

    # --- persistence ------------------------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        """Write the segment to ``folder/<name>/`` (a new folder; files are never rewritten)."""
        path = folder / self.name
        tmp = folder / f".{self.name}.{uuid.uuid4().hex}.tmp"
        tmp.mkdir(parents=True)
        (tmp / "ids.txt").write_text("\n".join(self.ids), "utf-8")
        for key in ("lengths", "indptr", "docs", "tfs"):
            np.save(tmp / f"{key}.npy", np.ascontiguousarray(getattr(self, key)))
        for key, (codes, _values) in self.fields.items():
            np.save(tmp / f"field-{key}.npy", codes)
        (tmp / "fields.json").write_text(json.dumps({k: v for k, (_c, v) in self.fields.items()},
                                                    ensure_ascii=False), "utf-8")
        tmp.rename(path)

    @classmethod
    def load(cls, folder: Path, name: str) -> Segment:
        """The segment saved as ``folder/<name>/``, its arrays memory-mapped."""
        path = folder / name
        text = (path / "ids.txt").read_text("utf-8")
        ids = text.split("\n") if text else []
        arrays = {key: np.load(path / f"{key}.npy", mmap_mode="r") for key in ("lengths", "indptr", "docs", "tfs")}
        values = json.loads((path / "fields.json").read_text("utf-8"))
        fields = {k: (np.load(path / f"field-{k}.npy", mmap_mode="r"), list(v)) for k, v in values.items()}
        return cls(name=name, ids=ids, fields=fields, **arrays)


def _narrow_docs(docs: np.ndarray, n: int) -> np.ndarray:
    """Row numbers as uint16 when the segment has at most 65,536 rows (a full-build segment has 50,000), else
    int32. With :func:`_narrow_tfs` this halves the postings (6 -> 3 bytes each): 730 -> ~370 MB on disk and in
    the page cache of a serving process at 1,000,000 chunks (docs/benchmarks.md)."""
    return docs.astype(np.uint16 if n <= 2**16 else np.int32)


def _narrow_tfs(tfs: np.ndarray) -> np.ndarray:
    """Term frequencies in the narrowest unsigned type that holds the largest (uint8 for nearly every segment)."""
    top = int(tfs.max(initial=0))
    return tfs.astype(np.uint8 if top < 2**8 else np.uint16 if top < 2**16 else np.int32)


def new_name() -> str:
    return f"seg-{uuid.uuid4().hex[:16]}"


def build_segment(docs: Iterable[tuple[str, Sequence[str], dict[str, Any]]], vocab: dict[str, int]) -> Segment:
    """A segment of ``docs`` (``(chunk id, tokens, metadata)``), adding unseen terms to ``vocab`` (in place)."""
    ids: list[str] = []
    lengths: list[int] = []
    all_terms: list[int] = []
    raw_fields: dict[str, list[Any]] = {k: [] for k in FILTER_FIELDS}
    get = vocab.get
    for chunk_id, tokens, meta in docs:
        ids.append(chunk_id)
        lengths.append(len(tokens))
        for t in tokens:
            gid = get(t)
            if gid is None:
                gid = vocab[t] = len(vocab)
            all_terms.append(gid)
        for key in FILTER_FIELDS:
            raw_fields[key].append(meta.get(key))
    n_terms = len(vocab)
    n = max(len(ids), 1)
    terms = np.array(all_terms, dtype=np.int64)
    rows = np.repeat(np.arange(len(ids), dtype=np.int64), np.asarray(lengths, dtype=np.int64))
    # unique (term, row) pairs sorted by term then row, with their counts: the CSC postings
    keys, tf = np.unique(terms * n + rows, return_counts=True)
    post_terms = keys // n
    post_docs = _narrow_docs(keys % n, len(ids))
    indptr = _indptr(post_terms, n_terms)
    return Segment(new_name(), ids, np.asarray(lengths, dtype=np.int32), indptr, post_docs, _narrow_tfs(tf),
                   _encode_fields(raw_fields))


def _indptr(terms: np.ndarray, n_terms: int) -> np.ndarray:
    """CSC column pointers of postings whose term ids are ``terms``."""
    indptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(np.bincount(terms, minlength=n_terms), out=indptr[1:])
    return indptr


def _encode_fields(columns: dict[str, list[Any]]) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Per field: codes into the sorted distinct values (``len(values)`` = absent); absent fields are left out."""
    fields: dict[str, tuple[np.ndarray, list[str]]] = {}
    for key, column in columns.items():
        if any(v is not None for v in column):
            values = sorted({str(v) for v in column if v is not None})
            code = {v: i for i, v in enumerate(values)}
            fields[key] = (np.array([code[str(v)] if v is not None else len(values) for v in column],
                                    dtype=np.int32), values)
    return fields


def merge_segments(parts: list[tuple[Segment, np.ndarray]], n_terms: int) -> Segment:
    """One segment holding the live chunks of ``parts`` (``(segment, dead mask)``), in order."""
    ids: list[str] = []
    lengths: list[np.ndarray] = []
    terms_all: list[np.ndarray] = []
    docs_all: list[np.ndarray] = []
    tfs_all: list[np.ndarray] = []
    field_cols: dict[str, list[str | None]] = {k: [] for k in FILTER_FIELDS}
    offset = 0
    for seg, dead in parts:
        keep = ~dead
        new_row = np.cumsum(keep) - 1 + offset
        ids.extend(i for i, k in zip(seg.ids, keep.tolist(), strict=True) if k)
        lengths.append(np.asarray(seg.lengths)[keep])
        for key in FILTER_FIELDS:
            field_cols[key].extend(v for v, k in zip(seg.field_values(key), keep.tolist(), strict=True) if k)
        docs = np.asarray(seg.docs)
        alive = keep[docs]
        terms = np.repeat(np.arange(len(seg.indptr) - 1, dtype=np.int64), np.diff(np.asarray(seg.indptr)))
        terms_all.append(terms[alive])
        docs_all.append(new_row[docs[alive]].astype(np.int64))
        tfs_all.append(np.asarray(seg.tfs)[alive].astype(np.int32))
        offset += int(keep.sum())
    terms = np.concatenate(terms_all) if terms_all else np.zeros(0, dtype=np.int64)
    docs = np.concatenate(docs_all) if docs_all else np.zeros(0, dtype=np.int64)
    tfs = np.concatenate(tfs_all) if tfs_all else np.zeros(0, dtype=np.int32)
    order = np.lexsort((docs, terms))
    indptr = _indptr(terms, n_terms)
    return Segment(new_name(), ids, np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int32), indptr,
                   _narrow_docs(docs[order], len(ids)), _narrow_tfs(tfs[order]), _encode_fields(dict(field_cols)))
