"""Scanned pages as page text plus a confidence report: ``load_scan(path, sha256, cache) -> ScanText``.

Between :mod:`ingest.ocr` (boxes per page, cached by file hash) and the text pipeline: every page's boxes go
through :func:`ingest.ocr_text.respace_page` (spaces between Latin words from the cached ink gaps) and
:mod:`ingest.layout` for reading order, pages are joined by a blank line, and the result is what
:func:`ingest.clean.clean_page` gets, exactly like a text file's content.

Confidence (PP-OCRv4's per-character probabilities, in [0, 1]; text-layer PDF characters count as 1.0):
characters below :data:`LOW_CHAR_CONFIDENCE` are counted per page and per article; a page whose mean is below
:data:`LOW_PAGE_CONFIDENCE` is named in :attr:`ScanText.warnings`. :func:`article_confidence` maps the reading
order blocks back to the segmented articles (a block belongs to the first article whose text holds its
opening characters), so each article gets its own mean and low-character count.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from ingest.layout import Block, order_blocks, page_text
from ingest.loaders import LoadError
from ingest.ocr import OcrCache, OcrError, ocr_files
from ingest.ocr_correct import correct_confusions, restore_openers, unify_code_variants
from ingest.ocr_text import respace_page

#: A character recognised with less probability than this is "low confidence" (correct characters on clean
#: renders score > 0.95; misreads mostly < 0.8).
LOW_CHAR_CONFIDENCE = 0.8
#: A page whose mean character confidence is below this is named as a warning (a poor scan or photo).
LOW_PAGE_CONFIDENCE = 0.85
_SPACE = re.compile(r"\s+")
# The recogniser cannot tell a half-width comma or point in a number from a full-width one: 6,476 is read 6，476.
_DIGIT_PUNCT = re.compile(r"(?<=[0-9])[，．](?=[0-9])")
_PROBE_CHARS = 12


@dataclass
class ScanText:
    """One scanned (or text-layer PDF) file as page text.

    Attributes:
        text: pages in reading order, joined by a blank line (``## `` headline lines, a paragraph per line).
        blocks: the reading-order blocks of all pages, for :func:`article_confidence`.
        ocr_pages: pages that went through OCR (0 for a born-digital PDF).
        page_confidence: mean character confidence per OCR'd page (1-based page number -> mean).
        low_chars: characters below :data:`LOW_CHAR_CONFIDENCE` in the file.
        warnings: human-readable warnings (low-confidence pages).
    """

    text: str
    blocks: list[Block] = field(default_factory=list)
    ocr_pages: int = 0
    page_confidence: dict[int, float] = field(default_factory=dict)
    low_chars: int = 0
    warnings: list[str] = field(default_factory=list)


def load_scan(path: Path, sha256: str, cache: OcrCache, name: str | None = None) -> ScanText:
    """Page text of an image or PDF (OCR'd now unless ``cache`` has it). Raises LoadError naming ``name``."""
    name = name or path.name
    pages = cache.get(sha256)
    if pages is None:
        failed = ocr_files([(path, sha256)], cache)
        if failed:
            raise LoadError(f"{name}: {next(iter(failed.values()))}")
        pages = cache.get(sha256)
        if pages is None:  # cache folder not writable: OCR again would be wasted work, so say so
            raise LoadError(f"{name}: OCR result could not be cached in {cache.folder}")
    scan = ScanText(text="")
    page_blocks: list[list[Block]] = []
    for number, boxes in enumerate(pages, 1):
        # Spaces between Latin words from the cached ink gaps (inserted with a confidence each).
        blocks = order_blocks(respace_page(boxes))
        for block in blocks:  # same length: per-character confidences stay aligned
            block.text = _DIGIT_PUNCT.sub(lambda m: "," if m.group() == "，" else ".", block.text)
        if confs_of(blocks):
            fix_confusions(blocks)
        page_blocks.append(blocks)
        confs = [c for b in boxes for c in b.confs]
        if not confs:
            continue
        scan.ocr_pages += 1
        mean = statistics.fmean(confs)
        scan.page_confidence[number] = round(mean, 4)
        scan.low_chars += sum(1 for c in confs if c < LOW_CHAR_CONFIDENCE)
        if mean < LOW_PAGE_CONFIDENCE:
            scan.warnings.append(f"{name}: page {number}: low OCR confidence (mean {mean:.2f}); check the scan")
    unify_code_variants([b for blocks in page_blocks for b in blocks if b.confs])
    for blocks in page_blocks:
        scan.blocks.extend(blocks)
    texts = [page_text(blocks) for blocks in page_blocks]
    scan.text = "\n\n".join(t for t in texts if t.strip())
    if not scan.text.strip():
        kind = "PDF" if path.suffix.lower() == ".pdf" else "image"
        raise LoadError(f"{name}: no text found ({kind} without a text layer and OCR found nothing)")
    return scan


def confs_of(blocks: list[Block]) -> bool:
    """True when the blocks were OCR'd (text-layer PDF blocks carry no confidences)."""
    return any(b.confs for b in blocks)


def fix_confusions(blocks: list[Block]) -> None:
    """Put right look-alike misreads (:func:`ingest.ocr_correct.correct_confusions`) and corner brackets read as
    a stroke (:func:`ingest.ocr_correct.restore_openers`) in a page's blocks, in place.

    The page's blocks are corrected as one text in reading order, so a word cut between two columns (自 / 己的)
    is seen whole; lengths stay, so confidences stay aligned."""
    joined = "\n".join(b.text for b in blocks)
    confs: list[float] = []
    for b in blocks:
        confs.extend(b.confs if len(b.confs) == len(b.text) else [1.0] * len(b.text))
        confs.append(1.0)
    fixed = restore_openers(correct_confusions(joined, confs[:-1]))
    start = 0
    for b in blocks:
        b.text = fixed[start : start + len(b.text)]
        start += len(b.text) + 1


def article_confidence(article_texts: list[str], blocks: list[Block]) -> list[tuple[float, int]]:
    """Per article: ``(mean character confidence, characters below LOW_CHAR_CONFIDENCE)``; (1.0, 0) for an article
    no block maps to."""
    flat = [_SPACE.sub("", t) for t in article_texts]
    sums = [[0.0, 0, 0] for _ in article_texts]
    for block in blocks:
        probe = _SPACE.sub("", block.text)[:_PROBE_CHARS]
        if not probe or not block.confs:
            continue
        for i, text in enumerate(flat):
            if probe in text:
                sums[i][0] += sum(block.confs)
                sums[i][1] += len(block.confs)
                sums[i][2] += sum(1 for c in block.confs if c < LOW_CHAR_CONFIDENCE)
                break
    return [(round(s / n, 4) if n else 1.0, int(low)) for s, n, low in sums]


__all__ = ["LOW_CHAR_CONFIDENCE", "LOW_PAGE_CONFIDENCE", "OcrCache", "OcrError", "ScanText", "article_confidence",
           "load_scan"]
