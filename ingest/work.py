"""The preparing stage of an ingest: a file's text cleaned, segmented into articles, chunked and tokenised
(:func:`build_file_work`), source keys and article ids, and the bounded prefetch thread that runs it ahead of
encoding (see :mod:`ingest.pipeline`).
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

from ingest.chunk import chunk_text
from ingest.clean import HEADING_PREFIX, clean_page
from ingest.dating import ArchiveDates
from ingest.masthead import read_masthead
from ingest.metadata import PageMeta
from ingest.near_duplicates import BAND_KEYS, StorySignature, signature
from ingest.segment import segment_articles
from rag.settings import Settings
from rag.text.dateline import lead_outlet, parse_dateline, strip_lead
from rag.text.event_dates import event_dates
from rag.text.normalize import normalize, tokenize
from rag.text.sentences import split_sentences

#: Characters of an article's first sentence kept with each of its chunks (``lead`` metadata).
LEAD_MAX_CHARS = 120


@dataclass
class _FileWork:
    source: str
    sha256: str
    articles: list[dict] = field(default_factory=list)
    nodes: list[TextNode] = field(default_factory=list)
    embed_texts: list[str] = field(default_factory=list)
    #: article_id -> its near-duplicate signature (the story id is assigned when the batch is written).
    signatures: dict[str, StorySignature] = field(default_factory=dict)


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


def build_file_work(source: str, sha256: str, text: str, settings: Settings,
                    meta: PageMeta | None = None, archive: ArchiveDates | None = None) -> _FileWork:
    """Clean, segment and chunk one page into article records and (un-embedded) chunk nodes.

    ``meta``: the file-level metadata (:func:`ingest.metadata.source_metadata`); the page text adds what it still
    lacks: masthead lines (:mod:`ingest.masthead`), then a dateline header (:mod:`rag.text.dateline`), taken off
    first, whose date and outlet count as ``dateline``, then per article the outlet its lead names (``lead``).
    Articles and chunks carry ``published``/``publication``/``page`` with ``<field>_from`` when known and
    ``published_day`` (``YYYYMMDD``, 0 = unknown); chunks also their event dates (``event_dates``, ``event_min``,
    ``event_max``: :func:`rag.text.event_dates.event_dates`, month-days resolved against ``published``). The
    dateline's ``原标题`` becomes the first article's headline. A dateline with a day but no year takes the year
    the folder's dated reports around that day agree on (``archive``, :mod:`ingest.dating`; ``published_from:
    archive``); other unknown values are left out, never guessed.
    """
    work = _FileWork(source, sha256)
    seen: set[str] = set()
    dateline = parse_dateline(text)
    page = dateline.body if dateline.title is None else f"{HEADING_PREFIX}{dateline.title}\n{dateline.body}"
    page_meta = meta.copy() if meta else PageMeta()
    page_meta.add("masthead", read_masthead(text))
    for name in ("published", "publication"):
        page_meta.add(dateline.provenance.get(name, "dateline"), {name: getattr(dateline, name)})
    if archive is not None and dateline.month_day and "published" not in page_meta.values:
        page_meta.add("archive", {"published": archive.published_for(source, dateline.month_day)})
    for segment in segment_articles(clean_page(page)):
        body = segment.text.strip()
        if not body:
            continue
        article_id = article_id_for(segment.title + "\n" + body)
        if article_id in seen:  # the same article printed twice on one page
            continue
        seen.add(article_id)
        chunks = chunk_text(body, settings.chunk_size, settings.chunk_min, settings.chunk_overlap_sentences)
        # The lead names who and what a report is about; later chunks' sentences lean on it (see rag.answering).
        lead = next((s.strip() for s in split_sentences(strip_lead(body)) if s.strip()), "")[:LEAD_MAX_CHARS]
        chunk_ids = [f"{article_id}:{n}" for n in range(len(chunks))]
        # The page names the outlet that printed it; an article's own lead (中新网…电) is the fallback.
        article_meta = page_meta.copy()
        article_meta.add("lead", {"publication": lead_outlet(body)})
        record = article_meta.record()
        published = article_meta.values.get("published")
        work.signatures[article_id] = sig = signature(normalize(strip_lead(body)))
        work.articles.append({
            "article_id": article_id, "title": segment.title, "source": source,
            "position": segment.position, "text": body, "chunk_ids": chunk_ids, **record,
            "story_sig": sig.encode(), **dict(zip(BAND_KEYS, sig.band_keys(), strict=True)),
        })
        for n, chunk in enumerate(chunks):
            # Title enhancement: the headline is embedded and indexed with every chunk of its article.
            search_text = normalize(f"{segment.title}\n{chunk}")
            node = TextNode(
                id_=chunk_ids[n], text=chunk,
                metadata={
                    "article_id": article_id, "title": segment.title, "source": source,
                    "position": segment.position, "chunk_index": n, **record, "lead": lead,
                    **event_dates(chunk, published).metadata(),
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
