"""The ``newsqa ingest`` progress display: one rich progress row per ingest stage, with counts, elapsed time and ETA.

The pipeline reports ``progress(stage, done, total, item)`` (:data:`rag.models.IngestProgressFn`) from two threads
(the preparing thread reads and chunks files while the calling thread embeds and writes); rich's
:class:`~rich.progress.Progress` is thread-safe and redraws on its own thread, so the rows keep moving while a
batch is embedded. Log records go through rich's handler on the same console (:mod:`bot.cli_support`), so they
print above the rows.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from rag.models import INGEST_STAGES

#: How each stage is shown (the stage names are :data:`rag.models.INGEST_STAGES`).
STAGE_LABELS = {
    "ocr": "OCR",
    "prepare": "read + chunk",
    "embed": "embed + write",
    "export": "query model",
    "index": "keyword index",
}


class IngestProgressBar:
    """Context manager whose instance is the ingest's progress callback: ``bar(stage, done, total, item)``.

    A stage gets its row on its first report; ``total`` may grow (the chunks to embed are known only once every
    file is chunked). A finished row keeps its count and elapsed time; ``transient`` removes all rows at the end.
    """

    def __init__(self, console: Console, transient: bool = False) -> None:
        self._progress = Progress(
            TextColumn("{task.fields[label]:<13}"), BarColumn(bar_width=30), MofNCompleteColumn(),
            TextColumn("{task.fields[unit]:<6}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            TextColumn("{task.description}", style="dim"),
            console=console, transient=transient, refresh_per_second=4,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> IngestProgressBar:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()

    def __call__(self, stage: str, done: int, total: int, item: str) -> None:
        """Show ``done`` of ``total`` for ``stage`` with ``item`` (the file or page at work) beside it."""
        task = self._tasks.get(stage)
        if task is None:
            task = self._progress.add_task(
                "", total=max(total, 1), label=STAGE_LABELS.get(stage, stage), unit=INGEST_STAGES.get(stage, ""))
            self._tasks[stage] = task
        finished = total > 0 and done >= total
        self._progress.update(task, completed=done, total=max(total, 1), description="" if finished else item[-60:])
