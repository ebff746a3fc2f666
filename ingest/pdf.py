"""PDF pages as positioned text lines (text layer) or page images (for OCR), with pypdfium2 (PDFium's bindings).

Shapes: ``text_layer(data) -> list[list[TextBox] | None]``: one entry per page, the page's text lines in PDF
points with y downwards from the page top, or None when the page has no text layer (a scan: OCR it with
:mod:`ingest.ocr`). ``render_page(data, index, dpi) -> PIL.Image`` rasterises one page.

Lines are built from PDFium's per-character boxes in content-stream order: a character continues the current
line when it sits right of the previous one on the same line (or below it, for vertical text) within 1.5
character sizes; anything else starts a new line. The lines then go through :mod:`ingest.layout` for reading
order, like OCR boxes.
"""

from __future__ import annotations

from typing import Any

from ingest.layout import TextBox

#: A page with fewer text-layer characters than this (page numbers, a stray mark) is treated as a scan.
MIN_PAGE_CHARS = 3


class PdfError(Exception):
    """PDFium could not open the document (``str``: why)."""


def open_pdf(data: bytes) -> Any:
    """A ``pypdfium2.PdfDocument``; raises :class:`PdfError` for a broken or password-protected file."""
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as err:
        raise PdfError(str(err)) from err


def text_layer(data: bytes) -> list[list[TextBox] | None]:
    """Per page: its text-layer lines (points, y down) or None when it has (almost) no text layer."""
    doc = open_pdf(data)
    try:
        pages: list[list[TextBox] | None] = []
        for index in range(len(doc)):
            page = doc[index]
            textpage = page.get_textpage()
            boxes = _lines(textpage, page.get_height())
            pages.append(boxes if sum(len(b.text.strip()) for b in boxes) >= MIN_PAGE_CHARS else None)
            textpage.close()
            page.close()
        return pages
    finally:
        doc.close()


def page_count(data: bytes) -> int:
    """Number of pages."""
    doc = open_pdf(data)
    try:
        return len(doc)
    finally:
        doc.close()


def render_page(data: bytes, index: int, dpi: int = 200) -> Any:
    """Page ``index`` (0-based) as an RGB ``PIL.Image`` at ``dpi``."""
    doc = open_pdf(data)
    try:
        page = doc[index]
        image = page.render(scale=dpi / 72).to_pil().convert("RGB")
        page.close()
        return image
    finally:
        doc.close()


def _lines(textpage: Any, height: float) -> list[TextBox]:
    boxes: list[TextBox] = []
    cur: list[tuple[str, float, float, float, float]] = []

    def flush() -> None:
        if cur and "".join(c[0] for c in cur).strip():
            boxes.append(TextBox(min(c[1] for c in cur), min(c[2] for c in cur), max(c[3] for c in cur),
                                 max(c[4] for c in cur), "".join(c[0] for c in cur).strip()))
        cur.clear()

    for i in range(textpage.count_chars()):
        ch = textpage.get_text_range(i, 1)
        if ch in ("\r", "\n", "\x02", ""):
            flush()
            continue
        left, bottom, right, top = textpage.get_charbox(i)
        x0, y0, x1, y1 = left, height - top, right, height - bottom
        if ch.isspace():
            if cur:
                cur.append((" ", *cur[-1][1:]))  # spaces have no reliable box: take the previous character's
            continue
        if cur:
            px0, py0, px1, py1 = cur[-1][1:]
            size = max(py1 - py0, px1 - px0, 1.0)
            same_line = min(py1, y1) - max(py0, y0) > 0.3 * size and -0.5 * size <= x0 - px1 <= 1.5 * size
            below = min(px1, x1) - max(px0, x0) > 0.3 * size and -0.5 * size <= y0 - py1 <= 1.0 * size
            if not (same_line or below):
                flush()
        cur.append((ch, x0, y0, x1, y1))
    flush()
    return boxes
