"""``newsqa backup DEST`` and ``newsqa restore SRC``: operations on a whole data dir.

The work is :mod:`rag.store.backup` and :mod:`rag.store.restore`; this module opens the store for the state the
manifest records, prints one summary line and maps errors to ``error: ...`` with a non-zero exit.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli_support import err, fail, out
from rag.errors import BackupError, NewsQAError
from rag.settings import Settings


def _store_snapshot(settings: Settings) -> Callable[[], dict[str, Any]]:
    def read() -> dict[str, Any]:
        from rag.store.store import Store

        store = Store(settings)
        try:
            return {"state": store.state(), "counts": store.counts()}
        finally:
            store.close()

    return read


def _mib(files: list[dict[str, Any]]) -> float:
    return sum(int(f["size"]) for f in files) / 2**20


def backup_command(settings_of: Callable[..., Settings]) -> Callable[..., None]:
    """The ``backup`` command, building its settings with ``settings_of()``."""

    def backup(
        dest: Annotated[Path, typer.Argument(help="New or empty folder to write the backup to (outside the data dir).")],
        no_articles: Annotated[bool, typer.Option(
            "--no-articles", help="Leave DATA_DIR/articles out (when the page files are backed up elsewhere).")] = False,
        wait: Annotated[float, typer.Option(
            "--wait", min=0, help="Seconds to wait at most for a running ingest to finish the batch it writes.")] = 3600,
    ) -> None:
        """Back up the data dir (store, keyword index, caches, articles) with a manifest of sizes and sha256
        hashes, while `newsqa serve` answers; a running ingest pauses at its next batch boundary meanwhile."""
        from rag.store.backup import SQLITE_FILE, write_backup

        settings = settings_of()
        try:
            if not settings.chroma_host and not (settings.store_dir / SQLITE_FILE).is_file():
                raise BackupError(f"data dir {settings.data_dir}: no store to back up ({settings.store_dir / SQLITE_FILE}"
                                  " does not exist; run `newsqa ingest` first)")
            manifest = write_backup(settings, dest, _store_snapshot(settings), articles=not no_articles,
                                    gate_timeout=wait, progress=lambda m: err.print(m, highlight=False))
        except (NewsQAError, OSError) as exc:
            raise fail(exc) from exc
        counts, state = manifest["counts"], manifest["state"]
        mid = " (taken between two batches of a running ingest: run `newsqa ingest` after a restore to finish it)" \
            if state.get("writes_complete") is False else ""
        server = (f"; the records themselves are on the {manifest['store']}: back up its persist directory too "
                  "(docs/deploy.md)") if settings.chroma_host else ""
        out.print(f"backup of {settings.data_dir} in {dest}: {len(manifest['files'])} files, "
                  f"{_mib(manifest['files']):.1f} MiB; store format {manifest['store_format']}, {counts['chunks']} "
                  f"chunks, {counts['articles']} articles, {counts['files']} files{mid}{server}",
                  highlight=False, soft_wrap=True)

    return backup


def restore_command(settings_of: Callable[..., Settings]) -> Callable[..., None]:
    """The ``restore`` command, building its settings with ``settings_of()``."""

    def restore(
        src: Annotated[Path, typer.Argument(help="A backup folder written by `newsqa backup`.")],
    ) -> None:
        """Restore a backup into the data dir (NEWSQA_DATA_DIR), which must be empty; every file is checked
        against the backup's manifest (size and sha256) and a damaged or missing one is refused by name."""
        from rag.store.restore import restore_backup

        settings = settings_of()
        try:
            manifest = restore_backup(src, settings.data_dir, progress=lambda m: err.print(m, highlight=False))
        except (NewsQAError, OSError) as exc:
            raise fail(exc) from exc
        notes = []
        if not manifest.get("articles", True):
            notes.append(f"the backup holds no articles: put the page files back in {settings.articles_dir} before "
                         "`newsqa ingest`, which otherwise removes the chunks of files it cannot find")
        if manifest["state"].get("writes_complete") is False:
            notes.append("it was taken during an ingest: run `newsqa ingest` to finish that ingest")
        if manifest.get("store") != "embedded":
            notes.append(f"the records were on the {manifest['store']}: restore its persist directory from the "
                         "server's own backup")
        out.print(f"restored {len(manifest['files'])} files ({_mib(manifest['files']):.1f} MiB) of the backup of "
                  f"{manifest['created']} into {settings.data_dir}" + "".join(f"; {n}" for n in notes),
                  highlight=False, soft_wrap=True)

    return restore


__all__ = ["backup_command", "restore_command"]
