"""The OCR stage of an ingest: scans (page images, PDFs without a text layer) OCR'd before preparing, then every
file read into a :class:`ingest.work._FileWork` through the OCR cache when it needs one (see :mod:`ingest.ocr`)."""

from __future__ import annotations

import logging
from pathlib import Path

from ingest.dating import ArchiveDates
from ingest.loaders import load_text
from ingest.metadata import content_sha, source_metadata
from ingest.ocr import OcrCache, needs_ocr, ocr_files
from ingest.scans import article_confidence, load_scan
from ingest.work import _FileWork, build_file_work
from rag.models import IngestProgressFn, IngestSummary
from rag.settings import Settings

log = logging.getLogger(__name__)

Progress = IngestProgressFn


def ocr_todo(settings: Settings, todo: list[tuple[str, Path, str, bool]], summary: IngestSummary,
             progress: Progress | None) -> None:
    """OCR every page of the images and scanned PDFs in ``todo`` not yet in the OCR cache, on
    ``settings.ocr_workers`` processes, before anything is prepared; ``progress("ocr", done, total, page)`` is
    called per page (``"<file> page n"``). A file that cannot be read is a failure in ``summary``."""
    scans = [(path, content_sha(sha)) for _key, path, sha, _ in todo if needs_ocr(path)]
    if not scans:
        return
    keys = {str(path): key for key, path, _sha, _ in todo}

    def page_progress(done: int, total: int, page: str) -> None:
        if progress:
            progress("ocr", done, total, page)

    failed = ocr_files(scans, OcrCache(settings.ocr_cache_dir), settings.ocr_workers, page_progress)
    for path, message in failed.items():
        summary.failures[keys[path]] = f"{keys[path]}: {message}"


def load_work(settings: Settings, key: str, path: Path, sha: str, summary: IngestSummary,
              archive: ArchiveDates | None = None) -> _FileWork:
    """Read, clean, segment and chunk one file with its metadata (:mod:`ingest.metadata`); scans (and PDFs)
    through the OCR cache, with the per-article OCR confidence put on the article records (``ocr_confidence``,
    ``ocr_low_chars``). ``sha``: the file's manifest fingerprint (:func:`ingest.metadata.file_fingerprint`);
    ``archive``: the run's dated reports, for datelines without a year (:mod:`ingest.dating`)."""
    if not needs_ocr(path):
        meta, text = source_metadata(path, key, load_text(path), settings)
        return build_file_work(key, sha, text, settings, meta, archive)
    scan = load_scan(path, content_sha(sha), OcrCache(settings.ocr_cache_dir), key)
    meta, text = source_metadata(path, key, scan.text, settings)
    work = build_file_work(key, sha, text, settings, meta, archive)
    if scan.ocr_pages:
        for article, (mean, low) in zip(work.articles, article_confidence(
                [a["text"] for a in work.articles], scan.blocks), strict=True):
            article["ocr_confidence"], article["ocr_low_chars"] = mean, low
            log.info("%s: article %r: OCR confidence %.3f, %d low-confidence characters",
                     key, article["title"][:30], mean, low)
        summary.ocr_pages += scan.ocr_pages
        summary.ocr_low_confidence_chars += scan.low_chars
        if scan.warnings:
            summary.warnings[key] = "; ".join(scan.warnings)
            for warning in scan.warnings:
                log.warning("%s", warning)
    return work
