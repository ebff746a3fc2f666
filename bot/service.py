"""The core service with the ingest pipeline wired in: what every entry point (CLI, REST, Telegram) builds.

:class:`rag.service.NewsQA` never imports :mod:`ingest`; it runs an ingest through the
:class:`rag.service.IngestRunner` it is given, and this module gives it the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from rag.models import IngestProgressFn, IngestSummary
from rag.retrieval.embedding import Embedder
from rag.service import NewsQA
from rag.settings import Settings
from rag.store.store import Store


def build_service(settings: Settings, embedder: Embedder | None = None, serving: bool = False) -> NewsQA:
    """``NewsQA(settings, embedder)`` whose :meth:`~rag.service.NewsQA.ingest` runs :mod:`ingest.pipeline`.

    ``serving``: the process answers questions (``newsqa serve``); its ingest jobs then embed passages in a
    worker process (:func:`serving_runner`) unless ``settings.ingest_worker`` is off or an embeddings server
    (``embedding_base_url``) does the work anyway.
    """
    worker = serving and settings.ingest_worker and not settings.embedding_base_url
    return NewsQA(settings, embedder=embedder, ingest_runner=serving_runner if worker else pipeline_runner)


def pipeline_runner(
    settings: Settings, store: Store, embedder: Callable[[], Embedder], paths: list[Path] | None,
    progress: IngestProgressFn | None, rebuild: bool,
) -> IngestSummary:
    """:func:`ingest.pipeline.run_ingest`, imported on first use (the loaders pull in pypdf and BeautifulSoup)."""
    from ingest.pipeline import run_ingest

    return run_ingest(settings, store, embedder, paths, progress, rebuild)


def serving_runner(
    settings: Settings, store: Store, embedder: Callable[[], Embedder], paths: list[Path] | None,
    progress: IngestProgressFn | None, rebuild: bool,
) -> IngestSummary:
    """:func:`pipeline_runner` with passages embedded by a :class:`~rag.retrieval.embedders.worker.
    PassageWorkerEmbedder` (``settings.ingest_worker_threads`` threads, nice +10; started on the first batch that
    needs the model, stopped when the ingest ends) and questions still by ``embedder()``."""
    from rag.retrieval.embedders.worker import PassageWorkerEmbedder
    from rag.retrieval.embedding import load_passage_embedder

    made: list[PassageWorkerEmbedder] = []

    def passages() -> Embedder:
        if not made:
            made.append(PassageWorkerEmbedder(embedder(), partial(load_passage_embedder, settings),
                                              settings.ingest_worker_threads))
        return made[0]

    try:
        return pipeline_runner(settings, store, passages, paths, progress, rebuild)
    finally:
        for worker in made:
            worker.close()
