"""OCR of page images and image-only PDF pages with RapidOCR, cached by file hash.

Engine: RapidOCR (``rapidocr-onnxruntime``, Apache-2.0, https://github.com/RapidAI/RapidOCR), whose wheel ships
the PP-OCRv4 Chinese detection and recognition models (PaddleOCR, Apache-2.0) as ONNX files; it runs offline on
CPU through onnxruntime. It is imported lazily, so ingesting text files never loads it. We call its detector and
recogniser ourselves (no angle classifier: pages are upright) to get one box per text line and a confidence per
character, plus the ink gaps between consecutive characters (:mod:`ingest.ocr_text`: spaces between Latin
words are put back from them at load time). A vertical line of text (box 1.5x taller than wide, after joining
the per-character boxes the detector gives a letter-spaced headline) is cut into fixed-pitch character cells
at blank rows of its ink profile and the cells laid side by side, so the horizontal recogniser reads it
top-to-bottom.

Shapes: :func:`ocr_image` takes an RGB ``uint8`` array ``(height, width, 3)`` and returns
:class:`ingest.layout.TextBox` lines in pixels, ``confs`` per character in [0, 1]. :func:`file_pages` returns,
per page of an image file (TIFF: per frame) or PDF, the page's boxes; PDF pages with a text layer are read from
it (points), the others rendered at :data:`PDF_DPI` and OCR'd. Results are cached as JSON in
``<cache_dir>/<sha256 of the file>.json`` (:class:`OcrCache`), so re-ingesting a file, or changing the chunk size,
never runs OCR again; layout and cleanup run on the cached boxes each time.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from ingest.layout import VERTICAL_RATIO, TextBox
from ingest.loaders import error_reason
from ingest.ocr_geometry import crop_rect, merge_vertical_stacks, page_rect
from ingest.ocr_text import ink_gaps

IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp"})
#: Resolution at which image-only PDF pages are rendered for OCR (body text ~25 px high at 9 pt).
PDF_DPI = 200
#: Bump when the cached box format or the OCR procedure changes: older cache files are ignored.
CACHE_VERSION = 4  # 2: boxes carry ink gaps; 3: stacked detections of a vertical line joined, fixed-pitch cells; 4: pitch chosen by fit
#: Recognised text with a mean confidence below this is dropped as noise (photo texture, rules).
MIN_LINE_CONFIDENCE = 0.5
ENGINE_NAME = "rapidocr-onnxruntime/PP-OCRv4"
#: Longest page side (pixels) the text detector sees; larger pages are scaled down for detection only.
DET_MAX_SIDE = 2560

#: (done pages, total pages, "file page n/m") after each OCR'd page.
PageProgress = Callable[[int, int, str], None]

_engine: Any = None


class OcrError(Exception):
    """A page image could not be read or OCR'd (``str``: why)."""


@dataclass(frozen=True)
class PageJob:
    """One page to OCR: ``kind`` "image" (``index`` = frame) or "pdf" (``index`` = page), of file ``path``."""

    path: str
    kind: str
    index: int


def _get_engine(threads: int | None = None) -> Any:
    global _engine
    if _engine is None:
        from rapidocr_onnxruntime import RapidOCR  # lazy: heavy import, only for scans

        n = threads or -1
        # No dilation of the detector's text map: with it, lines of neighbouring columns merge across the gutter.
        _engine = RapidOCR(use_cls=False, intra_op_num_threads=n, inter_op_num_threads=1,
                           det_use_dilation=False, det_limit_type="max", det_limit_side_len=DET_MAX_SIDE)
    return _engine


def ocr_image(rgb: np.ndarray, threads: int | None = None) -> list[TextBox]:
    """Text lines of one page image ``(h, w, 3)`` RGB uint8 -> boxes in pixels with per-character confidence."""
    engine = _get_engine(threads)
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    dt_boxes, _ = engine.text_det(bgr)
    if dt_boxes is None or len(dt_boxes) == 0:
        return []
    crops, rects = [], []  # crops at page scale: gaps measured in them are page pixels
    h, w = bgr.shape[:2]
    for rect in merge_vertical_stacks([page_rect(np.asarray(q, dtype=np.float32), w, h) for q in dt_boxes]):
        crop = crop_rect(bgr, rect)
        if crop is not None:
            crops.append(crop)
            rects.append(rect)
    if not crops:
        return []
    results, _ = engine.text_rec(crops, True)
    boxes = []
    for crop, rect, res in zip(crops, rects, results, strict=True):
        text, mean = str(res[0]), float(res[1])
        if not text.strip() or mean < MIN_LINE_CONFIDENCE:
            continue
        confs = _char_confs(res, text, mean)
        x0, y0, x1, y1 = rect
        # A restacked vertical crop's characters are cells laid out by us: no gaps (no spaces in vertical text).
        gaps = () if (y1 - y0) >= VERTICAL_RATIO * (x1 - x0) else ink_gaps(crop, res, text)
        boxes.append(TextBox(*rect, text=text, confs=confs, gaps=gaps))
    return boxes


def _char_confs(res: Any, text: str, mean: float) -> tuple[float, ...]:
    try:
        confs = [float(c) for c in res[2][4]]
    except (IndexError, TypeError, ValueError):
        confs = []
    if len(confs) != len(text):
        confs = [mean] * len(text)
    return tuple(round(c, 4) for c in confs)


# --- files, pages and cache -------------------------------------------------------------------------------------


def page_jobs(path: Path, data: bytes) -> tuple[list[list[TextBox] | None], list[PageJob]]:
    """Pages of ``path`` (image or PDF): boxes already known (PDF text layer) or None, and the OCR jobs for the
    None pages. Raises :class:`OcrError` for an unreadable file."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        from ingest.pdf import PdfError, text_layer

        try:
            pages = text_layer(data)
        except PdfError as err:
            raise OcrError(f"cannot parse PDF: {error_reason(err)}") from err
        return pages, [PageJob(str(path), "pdf", i) for i, p in enumerate(pages) if p is None]
    frames = _frame_count(data)
    return [None] * frames, [PageJob(str(path), "image", i) for i in range(frames)]


def _frame_count(data: bytes) -> int:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            return int(getattr(img, "n_frames", 1))
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise OcrError(f"cannot read image: {error_reason(err)}") from err


def run_job(job: PageJob, threads: int | None = None) -> list[TextBox]:
    """OCR one page (in this process). Raises :class:`OcrError` when the page cannot be decoded."""
    from PIL import Image, UnidentifiedImageError

    data = Path(job.path).read_bytes()
    try:
        if job.kind == "pdf":
            from ingest.pdf import render_page

            image = render_page(data, job.index, PDF_DPI)
        else:
            with Image.open(io.BytesIO(data)) as img:
                img.seek(job.index)
                image = img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, EOFError) as err:
        raise OcrError(f"cannot read page {job.index + 1}: {error_reason(err)}") from err
    return ocr_image(np.asarray(image), threads)


def _worker_job(job: PageJob, threads: int) -> list[TextBox]:
    return run_job(job, threads)


def run_jobs(jobs: list[PageJob], workers: int = 1, progress: PageProgress | None = None) -> list[list[TextBox] | OcrError]:
    """OCR ``jobs`` with ``workers`` processes (1 = here); a failed page gives its :class:`OcrError`."""
    out: list[list[TextBox] | OcrError] = []
    total = len(jobs)

    def report(done: int, job: PageJob) -> None:
        if progress:
            progress(done, total, f"{Path(job.path).name} page {job.index + 1}")

    if workers <= 1 or total <= 1:
        for done, job in enumerate(jobs, 1):
            try:
                out.append(run_job(job))
            except OcrError as err:
                out.append(err)
            except Exception as err:  # an engine error on one odd page must not stop the ingest
                out.append(OcrError(f"OCR failed on page {job.index + 1} ({type(err).__name__}: {error_reason(err)})"))
            report(done, job)
        return out
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_worker_job, job, threads) for job in jobs]
        for done, (job, future) in enumerate(zip(jobs, futures, strict=True), 1):
            try:
                out.append(future.result())
            except OcrError as err:
                out.append(err)
            except Exception as err:  # includes a worker process that died (BrokenProcessPool)
                out.append(OcrError(f"OCR failed on page {job.index + 1} ({type(err).__name__}: {error_reason(err)})"))
            report(done, job)
    return out


class OcrCache:
    """OCR results by file hash: ``<folder>/<sha256>.json`` = ``{"version", "engine", "pages": [[box...]...]}``,
    a box ``[x0, y0, x1, y1, text, [conf...], [gap...]]`` (gaps: :attr:`TextBox.gaps`, pixels). Written
    atomically (temp file + rename)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, sha256: str) -> Path:
        return self.folder / f"{sha256}.json"

    def get(self, sha256: str) -> list[list[TextBox]] | None:
        """The cached pages, or None (missing, unreadable or from another cache version)."""
        try:
            data = json.loads(self.path(sha256).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        if data.get("version") != CACHE_VERSION:
            return None
        return [[TextBox(b[0], b[1], b[2], b[3], b[4], tuple(b[5]), tuple(b[6])) for b in page] for page in data["pages"]]

    def put(self, sha256: str, pages: list[list[TextBox]]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        payload = {"version": CACHE_VERSION, "engine": ENGINE_NAME,
                   "pages": [[[b.x0, b.y0, b.x1, b.y1, b.text, list(b.confs), list(b.gaps)] for b in page] for page in pages]}
        tmp = self.path(sha256).with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(payload, ensure_ascii=False), "utf-8")
        tmp.replace(self.path(sha256))


def needs_ocr(path: Path) -> bool:
    """Whether ``path`` goes through :func:`ocr_files` (images, and PDFs: their pages may be scans)."""
    return path.suffix.lower() in IMAGE_SUFFIXES or path.suffix.lower() == ".pdf"


def ocr_files(files: list[tuple[Path, str]], cache: OcrCache, workers: int = 1,
              progress: PageProgress | None = None) -> dict[str, str]:
    """Make sure every ``(path, sha256)`` has a cache entry, OCR'ing all missing pages together on ``workers``
    processes; returns ``{str(path): error}`` for the files that failed (nothing cached for them)."""
    failures: dict[str, str] = {}
    known: dict[str, tuple[str, list[list[TextBox] | None]]] = {}
    jobs: list[PageJob] = []
    for path, sha in files:
        if cache.get(sha) is not None:
            continue
        try:
            pages, file_jobs = page_jobs(path, path.read_bytes())
        except (OcrError, OSError) as err:
            failures[str(path)] = str(err)
            continue
        known[str(path)] = (sha, pages)
        jobs.extend(file_jobs)
    for job, result in zip(jobs, run_jobs(jobs, workers, progress), strict=True):
        if isinstance(result, OcrError):
            failures.setdefault(job.path, str(result))
        else:
            known[job.path][1][job.index] = result
    for name, (sha, pages) in known.items():
        if name not in failures:
            try:
                cache.put(sha, [p or [] for p in pages])
            except OSError as err:
                failures[name] = f"cannot write the OCR cache in {cache.folder} ({err.strerror or err})"
    return failures
