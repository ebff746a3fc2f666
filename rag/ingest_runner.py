"""The protocol of the ingest pipeline as the core calls it (:meth:`rag.service.NewsQA.ingest`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from rag.models import IngestProgressFn, IngestSummary
from rag.retrieval.embedding import Embedder
from rag.settings import Settings
from rag.store.store import Store


class IngestRunner(Protocol):
    """Runs one incremental ingest of ``paths`` into ``store`` (``embedder()`` loads the model when a file needs
    embedding); the ingest pipeline implements it (:func:`ingest.pipeline.run_ingest`). The core never imports the
    pipeline: front-ends pass it in (:func:`bot.service.build_service`)."""

    def __call__(self, settings: Settings, store: Store, embedder: Callable[[], Embedder], paths: list[Path] | None,
                 progress: IngestProgressFn | None, rebuild: bool) -> IngestSummary: ...
