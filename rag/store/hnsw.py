"""The HNSW index of the chunk collection: its configuration from the settings, and keeping an existing store's
``ef_search`` in step with them.

Chroma (1.x) builds one HNSW graph (hnswlib) per collection. Three numbers set its recall, speed and memory:

- ``max_neighbors`` (hnswlib's ``M``, ``NEWSQA_HNSW_M``): links per vector; more links, higher recall at the same
  search effort, and ``8 * M`` bytes per chunk in memory for them (hnswlib's base layer keeps ``2 M`` 4-byte
  links a vector; the upper layers hold a few percent of the vectors). Fixed when the collection is created.
- ``ef_construction`` (``NEWSQA_HNSW_EF_CONSTRUCTION``): candidates kept while inserting; a better graph for a
  slower build. Fixed when the collection is created.
- ``ef_search`` (``NEWSQA_HNSW_EF_SEARCH``): candidates kept while searching; recall against query time. Chroma
  lets it change on an existing collection (``collection.modify(configuration=...)``), and a process applies it
  when it loads the index (measured with chromadb 1.5.9: a process that already queried the collection keeps the
  value it loaded with until it reopens the store; ``newsqa serve`` opens the store before its first question).

:func:`chunk_configuration` is what a new chunk collection is created with; :func:`apply_search_settings` runs
when a store opens its collections. Figures per setting: docs/benchmarks.md ("Dense recall").
"""

from __future__ import annotations

import logging
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

from rag.settings import Settings

log = logging.getLogger(__name__)

#: Chroma's default ``sync_threshold`` (1000) lets up to 1000 records wait unpersisted, and every write then costs
#: more the longer that backlog is: writing the 519 benchmark chunks in 256-record batches took 1.28 s with it and
#: 0.96 s with 100, and one more record 250 ms against 18 ms (bench/NOTES.md, section 6). Query latency is
#: unchanged; ``batch_size`` stays Chroma's 100.
SYNC_THRESHOLD = 100

#: How long opening a store waits for SQLite's write lock (``database is locked``, SQLITE_BUSY) before it gives up
#: setting ``ef_search``: another process's ingest may be writing, and chromadb's embedded client can release its
#: connections a moment after ``close()`` (seen once in a CI run: a store reopened right after one was closed).
LOCK_WAIT_SECONDS = 5.0


def _is_lock_error(exc: BaseException) -> bool:
    return "database is locked" in str(exc)


def chunk_configuration(settings: Settings) -> dict[str, Any]:
    """The Chroma ``configuration`` of a new chunk collection: cosine space, the settings' ``M``,
    ``ef_construction`` and ``ef_search``, and the write tuning of :data:`SYNC_THRESHOLD`."""
    return {"hnsw": {
        "space": "cosine", "max_neighbors": settings.hnsw_m, "ef_construction": settings.hnsw_ef_construction,
        "ef_search": settings.hnsw_ef_search, "sync_threshold": SYNC_THRESHOLD,
    }}


def hnsw_of(collection: Any) -> dict[str, Any]:
    """The collection's current HNSW configuration as Chroma reports it (``{"space", "max_neighbors",
    "ef_construction", "ef_search", ...}``); ``{}`` when it reports none (a SPANN index, an old server)."""
    config = getattr(collection, "configuration_json", None) or {}
    return dict(config.get("hnsw") or {})


def apply_search_settings(collection: Any, settings: Settings, where: str) -> None:
    """Give the existing chunk ``collection`` the settings' ``ef_search`` when it has another one (one metadata
    write; the next process to load the index searches with it), and warn, naming ``newsqa ingest --rebuild``,
    when its ``M`` or ``ef_construction`` differ from the settings (those only change by rebuilding the index).

    Waits up to :data:`LOCK_WAIT_SECONDS` while SQLite's write lock is held elsewhere. Never raises: a store that
    cannot be changed (a read-only folder, a server that refuses) keeps answering with its own ``ef_search``, and
    a warning names the reason. ``where`` names the store in messages.
    """
    current = hnsw_of(collection)
    if not current:
        return
    wanted = settings.hnsw_ef_search
    if current.get("ef_search") != wanted:
        try:
            for attempt in Retrying(retry=retry_if_exception(_is_lock_error), reraise=True,
                                    stop=stop_after_delay(LOCK_WAIT_SECONDS), wait=wait_exponential(0.05, max=1)):
                with attempt:
                    collection.modify(configuration={"hnsw": {"ef_search": wanted}})
            log.info("HNSW ef_search of the %s: %s -> %s (NEWSQA_HNSW_EF_SEARCH)", where, current.get("ef_search"),
                     wanted)
        except Exception as exc:  # any Chroma or transport error: answering must go on
            log.warning("cannot set HNSW ef_search %s on the %s (%s: %s); it searches with %s", wanted, where,
                        type(exc).__name__, str(exc)[:200], current.get("ef_search"))
    built = (current.get("max_neighbors"), current.get("ef_construction"))
    if built != (settings.hnsw_m, settings.hnsw_ef_construction):
        log.warning(
            "the %s's HNSW index was built with M %s and ef_construction %s; the settings ask for M %s and "
            "ef_construction %s (NEWSQA_HNSW_M, NEWSQA_HNSW_EF_CONSTRUCTION), which only a rebuilt index gets: run "
            "`newsqa ingest --rebuild` (it re-embeds nothing, vectors come from the embedding cache). Answers work "
            "meanwhile with the index as built.", where, *built, settings.hnsw_m, settings.hnsw_ef_construction)
