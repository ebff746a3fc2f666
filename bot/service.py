"""The core service with the ingest pipeline wired in: what every entry point (CLI, REST, Telegram) builds.

:class:`rag.service.NewsQA` never imports :mod:`ingest`; it runs an ingest through the
:class:`rag.service.IngestRunner` it is given, and this module gives it the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rag.models import IngestProgressFn, IngestSummary
from rag.retrieval.embedding import Embedder
from rag.service import NewsQA
from rag.settings import Settings
from rag.store.store import Store


def build_service(settings: Settings, embedder: Embedder | None = None) -> NewsQA:
    """``NewsQA(settings, embedder)`` whose :meth:`~rag.service.NewsQA.ingest` runs :mod:`ingest.pipeline`."""
    return NewsQA(settings, embedder=embedder, ingest_runner=pipeline_runner)


def pipeline_runner(
    settings: Settings, store: Store, embedder: Callable[[], Embedder], paths: list[Path] | None,
    progress: IngestProgressFn | None, rebuild: bool,
) -> IngestSummary:
    """:func:`ingest.pipeline.run_ingest`, imported on first use (the loaders pull in pypdf and BeautifulSoup)."""
    from ingest.pipeline import run_ingest

    return run_ingest(settings, store, embedder, paths, progress, rebuild)
