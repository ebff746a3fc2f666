"""The article listing: which articles the archive holds, newest first, filtered by date and publication; and the
reports of a time and newspaper on a topic (:func:`find_reports`, for questions about what was reported).

Listed from the keyword index (:class:`rag.retrieval.keyword.BM25Index`), which keeps each live chunk's id
(``<article_id>:<n>``), source, publication and date: ordering and paging a ten-year archive need no scan of the
article records; only the page shown is read from Chroma.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
from llama_index.core.schema import NodeWithScore

from rag.filters import ArchiveFilter
from rag.models import ArticleInfo, ArticlePage, PublicationInfo
from rag.retrieval.keyword import BM25Index
from rag.retrieval.segments import Segment
from rag.store.store import Store

#: Most articles per page of the listing.
MAX_LIMIT = 100


def list_articles(index: BM25Index, store: Store, archive_filter: ArchiveFilter | None, offset: int = 0,
                  limit: int = 20) -> ArticlePage:
    """Articles passing ``archive_filter`` (strict part: since/until/publication, resolved), newest first, then
    undated ones by source; ``offset``/``limit`` page them (``limit`` 1..:data:`MAX_LIMIT`).

    Raises ValueError for an offset below 0 or a limit outside 1..MAX_LIMIT (front-ends validate first).
    """
    if offset < 0 or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"offset >= 0 and 1 <= limit <= {MAX_LIMIT} (got {offset}, {limit})")
    first: dict[str, tuple[str, str]] = {}
    chunks: dict[str, int] = {}
    for seg, _, rows in _live_rows(index, archive_filter):
        published, sources = seg.field_values("published"), seg.field_values("source")
        for r in rows:
            article_id = seg.ids[r].rpartition(":")[0] or seg.ids[r]
            chunks[article_id] = chunks.get(article_id, 0) + 1
            first.setdefault(article_id, ((published[r] or "")[:10], sources[r] or ""))
    dated = sorted((a for a, (p, _s) in first.items() if p), key=lambda a: (first[a][0], first[a][1], a),
                   reverse=True)
    undated = sorted((a for a, (p, _s) in first.items() if not p), key=lambda a: (first[a][1], a))
    ordered = dated + undated
    page_ids = ordered[offset : offset + limit]
    items: list[ArticleInfo] = []
    if page_ids:
        got = store.articles.get(ids=page_ids, include=["metadatas"])
        metas = dict(zip(got["ids"], got["metadatas"], strict=True))
        for article_id in page_ids:
            meta = metas.get(article_id)
            if meta is None:  # removed since the index view was taken
                continue
            items.append(ArticleInfo(
                article_id=article_id, title=str(meta.get("title", "")), source=str(meta.get("source", "")),
                position=int(meta.get("position") or 0), published=_opt(meta.get("published")),
                publication=_opt(meta.get("publication")), page=_opt(meta.get("page")),
                story_id=_opt(meta.get("story_id")),
                chunks=len(json.loads(str(meta.get("chunk_ids") or "[]"))) or chunks.get(article_id, 0),
            ))
    return ArticlePage(total=len(ordered), offset=offset, limit=limit, items=items)


def list_publications(index: BM25Index) -> list[PublicationInfo]:
    """Every publication of the live chunks in ``index``, with its article count (an article counts once, from
    the chunk ids ``<article_id>:<n>``), earliest and latest date and undated articles; most articles first, then
    by name; articles without a publication last, as one entry with ``publication`` None."""
    seen: dict[str, tuple[str | None, str]] = {}
    for seg, _, rows in _live_rows(index, None):
        publications, published = seg.field_values("publication"), seg.field_values("published")
        for r in rows:
            article_id = seg.ids[r].rpartition(":")[0] or seg.ids[r]
            seen.setdefault(article_id, (publications[r] or None, (published[r] or "")[:10]))
    groups: dict[str | None, list[str]] = {}
    for publication, day in seen.values():
        groups.setdefault(publication, []).append(day)
    rows_out = []
    for publication, days in groups.items():
        dated = sorted(d for d in days if d)
        rows_out.append(PublicationInfo(publication=publication, articles=len(days), undated=len(days) - len(dated),
                                        first=dated[0] if dated else None, last=dated[-1] if dated else None))
    return sorted(rows_out, key=lambda p: (p.publication is None, -p.articles, p.publication or ""))


def _opt(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _live_rows(index: BM25Index, archive_filter: ArchiveFilter | None, scores: np.ndarray | None = None,
               ) -> Iterator[tuple[Segment, int, list[int]]]:
    """``(segment, its offset, row numbers)`` of the live chunks passing the strict part of ``archive_filter``
    and, with ``scores`` (one per chunk of ``index``), scoring above 0; segments with none are skipped."""
    for s, (seg, dead) in enumerate(zip(index.segments, index.dead, strict=True)):
        keep = ~np.asarray(dead, dtype=bool)
        if archive_filter is not None and archive_filter.strict:
            keep &= archive_filter.row_mask(seg)
        if scores is not None:
            keep &= scores[index.offsets[s] : index.offsets[s] + seg.n] > 0
        if keep.any():
            yield seg, index.offsets[s], np.flatnonzero(keep).tolist()


def find_reports(index: BM25Index, archive_filter: ArchiveFilter | None, tokens: list[str], limit: int,
                 ) -> list[NodeWithScore]:
    """At most ``limit`` reports passing the strict part of ``archive_filter`` (resolved; since/until/publication),
    one chunk node each, one report per story (reprints collapse to the first met).

    With ``tokens`` (normalised query tokens), only reports with a chunk the keyword index scores above 0 for them,
    best first by the BM25 score of their best chunk (that chunk is returned); without, every report, newest first
    (then by article id, undated ones last), with its first chunk (score 0). Ties go to the newer report.
    """
    scores = index.scores(tokens) if tokens else None
    best: dict[str, tuple[float, str, str, str]] = {}  # article -> (score, published, chunk id, story)
    for seg, offset, rows in _live_rows(index, archive_filter, scores):
        published, sources, stories = (seg.field_values(f) for f in ("published", "source", "story_id"))
        for r in rows:
            article_id, _, number = seg.ids[r].rpartition(":")
            score = float(scores[offset + r]) if scores is not None else -float(number or 0)
            if article_id not in best or score > best[article_id][0]:
                day = (published[r] or "")[:10]
                best[article_id] = (score, day, seg.ids[r], stories[r] or f"{sources[r]}#{article_id}")
    order = sorted(best, key=lambda a: (best[a][0] if scores is not None else 0.0, best[a][1], a), reverse=True)
    chosen: list[str] = []
    stories_seen: set[str] = set()
    for article_id in order:
        story = best[article_id][3]
        if story not in stories_seen:
            stories_seen.add(story)
            chosen.append(best[article_id][2])
        if len(chosen) >= limit:
            break
    nodes = index.nodes_for(chosen)
    return [NodeWithScore(node=n, score=max(best[c.rpartition(":")[0]][0], 0.0))
            for c, n in zip(chosen, nodes, strict=True) if n is not None]
