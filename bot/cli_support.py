"""What every ``newsqa`` command shares: the output consoles, settings with clean configuration errors, logging.

- Output never hard-wraps: rich's consoles wrap at 80 columns when the output is not a terminal (a pipe, a file),
  splitting numbers and paths; ``soft_wrap`` leaves line breaking to whatever shows the text.
- Configuration errors print one line naming the variable, its value and where it came from
  (:func:`rag.settings_check.load_settings`) and exit with status 2, without a traceback; unknown ``NEWSQA_``
  variables print a warning with the nearest known name.
- Logs go to stderr. On a terminal through rich's handler on the same console as the ingest progress bar, so log
  lines print above the bar instead of through it.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import typer
from rich.console import Console

from rag.errors import ConfigError, NewsQAError
from rag.settings import Settings
from rag.settings_check import load_settings

#: Standard output (answers, summaries) and standard error (progress, warnings, errors); neither wraps lines.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

#: Third-party loggers kept at WARNING whatever the level: they log every request or load at INFO.
NOISY_LOGGERS = ("httpx", "httpcore", "chromadb", "sentence_transformers", "urllib3", "jieba", "bm25s")


def fail(exc: Exception, code: int = 1) -> typer.Exit:
    """Print ``error: <exc>`` on stderr and return the :class:`typer.Exit` to raise (status ``code``)."""
    err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
    return typer.Exit(code)


def settings_or_exit(**overrides: Any) -> Settings:
    """:class:`Settings` from the environment, ``.env`` and ``overrides``; on a configuration error prints the
    message and exits with status 2. Warnings about unknown ``NEWSQA_`` variables go to stderr."""
    try:
        settings, warnings = load_settings(**overrides)
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(2) from None
    for warning in warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}", markup=True, highlight=False)
    return settings


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler writing to whatever ``sys.stderr`` is when a record is emitted (a test runner swaps it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(settings: Settings, quiet: bool = False) -> None:
    """Log to stderr at ``settings.log_level``; with ``quiet`` (``newsqa ask`` without ``-v``) only errors,
    unless ``NEWSQA_LOG_LEVEL`` was set explicitly. On a terminal the handler is rich's, sharing the console of
    the progress bar; otherwise plain lines with a timestamp. Replaces the handler an earlier call added (a test
    runner invokes many commands in one process) and leaves other handlers alone."""
    level = logging.getLevelName(settings.log_level)
    if quiet and "log_level" not in settings.model_fields_set:
        level = logging.ERROR
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "newsqa_cli", False)]:
        root.removeHandler(old)
    handler: logging.Handler
    if err.is_terminal:
        from rich.logging import RichHandler

        handler = RichHandler(console=err, show_path=False, markup=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    else:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    setattr(handler, "newsqa_cli", True)  # noqa: B010  (marks the handler this module added)
    handler.setLevel(level)
    root.addHandler(handler)
    root.setLevel(min(root.level or logging.WARNING, level))
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, level))
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def build_settings(quiet: bool = False, **overrides: Any) -> Settings:
    """:func:`settings_or_exit` then :func:`configure_logging`: what each command calls first."""
    settings = settings_or_exit(**overrides)
    configure_logging(settings, quiet)
    return settings


__all__ = ["NewsQAError", "build_settings", "configure_logging", "err", "fail", "out", "settings_or_exit"]
