"""The keyword leg: Okapi BM25 over the pre-segmented jieba tokens stored with each chunk, its document frequencies
(the IDF the answerer weighs question words with), and its llama-index retriever.

The index is a list of immutable :class:`rag.retrieval.segments.Segment` s (raw term frequencies, memory-mapped
from disk) plus a dead-chunk mask per segment; scores are computed at query time with exactly the arithmetic of
bm25s (Lucene IDF, k1=1.5, b=0.75, float32 results), so an index grown by appending segments ranks exactly like one
rebuilt from scratch, and like the bm25s index it replaces. Keeping it in step with the store is
:mod:`rag.retrieval.keyword_sync`. llama-index's own BM25 retriever is not used: its tokenizer drops all CJK text.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from rag.retrieval.segments import Segment
from rag.store.chunk_vectors import record_to_node
from rag.store.store import Store
from rag.text.normalize import tokenize

K1, B = 1.5, 0.75
#: Score arrays of terms with long posting lists are kept per index view, up to this many bytes in all.
CACHE_MAX_BYTES = 96 * 2**20
CACHE_MIN_BYTES = 16 * 2**10

#: A keyword-leg filter: given a segment, the boolean mask of its chunks that may be returned.
RowFilter = Callable[[Segment], np.ndarray]


class DocFreq:
    """Token -> number of live chunks containing it, by :meth:`get` (tokens of no live chunk are absent)."""

    def __init__(self, vocab: dict[str, int], df: np.ndarray) -> None:
        self._vocab, self._df = vocab, df

    def get(self, token: str, default: int = 0) -> int:
        gid = self._vocab.get(token)
        if gid is None or gid >= len(self._df):
            return default
        value = int(self._df[gid])
        return value if value > 0 else default


class BM25Index:
    """One consistent view of the keyword index: segments, their dead masks, vocabulary and document frequencies.

    Immutable once built (a refresh makes a new one sharing the segments). ``version``, ``epoch`` and ``seq`` say
    which store state it reflects (see :mod:`rag.store.changes`).
    """

    def __init__(self, store: Store, segments: list[Segment], dead: list[np.ndarray], vocab: dict[str, int],
                 df: np.ndarray, *, version: object = None, epoch: str | None = None, seq: int = 0) -> None:
        self.store = store
        self.segments, self.dead = segments, dead
        self.vocab = vocab  # shared, append-only: ids >= len(df) are terms this view does not know
        self.df_array = df
        self.df = DocFreq(vocab, df)
        self.version, self.epoch, self.seq = version, epoch, seq
        self._distinct: dict[str, frozenset[str]] = {}
        self.n_docs = sum(seg.n - int(d.sum()) for seg, d in zip(segments, dead, strict=True))
        self.total_length = sum(int(np.asarray(seg.lengths, dtype=np.int64)[~d].sum())
                                for seg, d in zip(segments, dead, strict=True))
        self.offsets = np.cumsum([0] + [seg.n for seg in segments]).tolist()
        self._where: dict[str, tuple[int, int]] | None = None
        self._norms: list[np.ndarray] | None = None
        self._cache: dict[int, list[np.ndarray]] = {}  # term -> per-segment float32 scores of its postings
        self._cached_bytes = 0

    @property
    def n_rows(self) -> int:
        return int(self.offsets[-1])

    def locate(self) -> dict[str, tuple[int, int]]:
        """``{chunk id: (segment, row)}`` of the live chunks (built on first use)."""
        if self._where is None:
            where: dict[str, tuple[int, int]] = {}
            for s, (seg, d) in enumerate(zip(self.segments, self.dead, strict=True)):
                for row in np.flatnonzero(~d).tolist():
                    where[seg.ids[row]] = (s, row)
            self._where = where
        return self._where

    def nodes_for(self, chunk_ids: list[str]) -> list[TextNode | None]:
        """The chunk nodes with these ids, read from Chroma in one call (order kept)."""
        if not chunk_ids:
            return []
        got = self.store.chunks.get(ids=chunk_ids, include=["documents", "metadatas"])
        by_id = {i: record_to_node(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"],
                                                                 strict=True)}
        # A chunk deleted by an ingest since the index was refreshed is skipped (None), like a stale dense hit.
        return [by_id.get(i) for i in chunk_ids]

    def idf(self, token: str) -> float:
        """BM25 IDF ``ln(1 + (N - df + 0.5) / (df + 0.5))``; tokens absent from the corpus get the largest value."""
        n = max(self.n_docs, 1)
        d = self.df.get(token, 0)
        return math.log(1.0 + (n - d + 0.5) / (d + 0.5))

    def scores(self, tokens: list[str]) -> np.ndarray:
        """float32 BM25 score of every row (dead rows included, score 0), as bm25s computes it."""
        out = np.zeros(self.n_rows, dtype=np.float32)
        if not self.n_docs:
            return out
        for token in tokens:  # repeated query tokens count again, as in bm25s
            gid = self.vocab.get(token)
            if gid is None or gid >= len(self.df_array) or self.df_array[gid] <= 0:
                continue
            parts = self._term_scores(gid)
            for seg, part, offset in zip(self.segments, parts, self.offsets, strict=False):
                if len(part):  # through the segment's view: row numbers may be uint16, offsets exceed it
                    out[offset : offset + seg.n][seg.postings(gid)[0]] += part
        return out

    def _term_scores(self, gid: int) -> list[np.ndarray]:
        """Per segment, the float32 score of term ``gid`` in each of its postings (0 for dead chunks), computed as
        bm25s does: ``float32(float64(idf32) * tf / (k1 * ((1 - b) + b * len / avgdl) + tf))``. Long posting lists
        are cached for the life of this view (frequent question words recur)."""
        cached = self._cache.get(gid)
        if cached is not None:
            return cached
        if self._norms is None:
            avgdl = self.total_length / self.n_docs
            self._norms = [K1 * ((1 - B) + (B * np.asarray(seg.lengths, dtype=np.float64)) / avgdl)
                           for seg in self.segments]
        df = int(self.df_array[gid])
        idf = np.float32(math.log(1 + (self.n_docs - df + 0.5) / (df + 0.5))).astype(np.float64)
        parts = []
        for seg, dead, norms in zip(self.segments, self.dead, self._norms, strict=True):
            docs, tfs = seg.postings(gid)
            tf = tfs.astype(np.float64)
            part = (idf * (tf / (norms[docs] + tf))).astype(np.float32)
            if len(part) and dead.any():
                part[dead[docs]] = 0
            parts.append(part)
        size = sum(p.nbytes for p in parts)
        if size > CACHE_MIN_BYTES and self._cached_bytes + size <= CACHE_MAX_BYTES:
            self._cache[gid] = parts
            self._cached_bytes += size
        return parts

    def search(self, tokens: list[str], top_k: int, allow: RowFilter | set[str] | None = None,
               ) -> list[tuple[str, float]]:
        """``[(chunk id, score)]`` best first (ties by chunk id, descending), only chunks with a positive score.

        ``allow`` restricts the chunks that may be returned, before ranking: a set of chunk ids, or a
        :data:`RowFilter` (:meth:`rag.filters.ArchiveFilter.row_mask`: metadata fields kept in the segments).
        """
        if not self.n_docs or not tokens:
            return []
        scores = self.scores(tokens)
        if isinstance(allow, set | frozenset):  # chunk ids: through the id map, not a scan of every segment
            keep = np.zeros(self.n_rows, dtype=bool)
            where = self.locate()
            keep[[self.offsets[s] + r for s, r in (where[i] for i in allow if i in where)]] = True
            scores[~keep] = 0
        elif allow is not None:
            for seg, offset in zip(self.segments, self.offsets, strict=False):
                scores[offset : offset + seg.n][~allow(seg)] = 0
        rows = np.flatnonzero(scores > 0)  # few: selecting among them beats argpartition over every row
        if top_k <= 0 or not len(rows):
            return []
        if len(rows) > top_k:
            floor = scores[rows][np.argpartition(scores[rows], -top_k)[-top_k:]].min()
            # every row tied with the k-th score competes, so the order never depends on the row layout
            rows = rows[scores[rows] >= floor]
        ranked = sorted(((float(scores[r]), self.chunk_id(int(r))) for r in rows.tolist()), reverse=True)
        return [(cid, s) for s, cid in ranked[:top_k]]

    def share(self, allow: RowFilter) -> float:
        """The fraction (0..1) of live chunks that ``allow`` lets through (0 for an empty index)."""
        if not self.n_docs:
            return 0.0
        passing = sum(int(np.count_nonzero(allow(seg) & ~dead)) for seg, dead in zip(self.segments, self.dead,
                                                                                    strict=True))
        return passing / self.n_docs

    def distinct(self, name: str) -> frozenset[str]:
        """The values of metadata field ``name`` (one of ``FILTER_FIELDS``) in this view's segments: the stored
        publication names, the publication dates (removed chunks' values may linger until a merge)."""
        if name not in self._distinct:
            self._distinct[name] = frozenset(v for seg in self.segments for v in seg.fields.get(name, ((), []))[1])
        return self._distinct[name]

    def chunk_id(self, row: int) -> str:
        s = int(np.searchsorted(self.offsets, row, side="right")) - 1
        return self.segments[s].ids[row - self.offsets[s]]


class BM25Retriever(BaseRetriever):
    """Sparse leg: normalised jieba tokens of the query against :class:`BM25Index`."""

    def __init__(self, index: BM25Index, top_k: int, allow: RowFilter | set[str] | None = None) -> None:
        super().__init__()
        self.index = index
        self.top_k = top_k
        self.allow = allow

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        tokens = tokenize(query_bundle.query_str)
        hits = self.index.search(tokens, self.top_k, self.allow)
        nodes = self.index.nodes_for([i for i, _ in hits])
        return [NodeWithScore(node=n, score=s) for n, (_, s) in zip(nodes, hits, strict=True) if n is not None]
