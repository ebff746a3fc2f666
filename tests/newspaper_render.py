"""Render article text to newspaper-like page images, keeping the text as OCR ground truth (dev/test only).

``render_pages(articles, style) -> RenderedDoc``: ``articles`` is a list of :class:`Article` (headline lines and
paragraphs); the result holds RGB ``PIL.Image`` pages and ``truth``, the rendered text in reading order
(headlines, photo captions and paragraphs, one per line). Layout: each article gets its headline across the page
(bold, 1.6x body size) or, with ``style.vertical_headline``, stacked vertically left of its columns; its body flows
into ``style.columns`` balanced columns with 2-character first-line indents, continued on the next page when the
page is full. ``style.photo`` puts a grey noisy "photo" with a one-line caption at the top of each article's first
column. ``style.noise`` adds Gaussian pixel noise; save as JPEG for compression artefacts (:func:`save`).

Fonts: Noto Sans/Serif CJK from Debian's ``fonts-noto-cjk`` (installed by ``make setup``); :func:`find_font`
returns None when they are missing, and tests skip naming the package.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FONT_DIRS = (Path("/usr/share/fonts/opentype/noto"), Path("/usr/share/fonts/truetype/noto"))
FONT_PACKAGE = "fonts-noto-cjk"


@dataclass
class Article:
    """``headlines``: headline lines (kicker, title ...); ``paragraphs``: body paragraphs; ``caption``: photo text."""

    headlines: list[str]
    paragraphs: list[str]
    caption: str = ""


@dataclass
class Style:
    columns: int = 2
    body_px: int = 22
    width: int = 1400
    height: int = 2000
    vertical_headline: bool = False
    photo: bool = False
    noise: float = 0.0  # std of Gaussian pixel noise (0-255 scale)
    seed: int = 0


@dataclass
class RenderedDoc:
    pages: list[Any] = field(default_factory=list)
    truth: list[str] = field(default_factory=list)  # headlines / captions / paragraphs in reading order
    lines: list[tuple[int, str]] = field(default_factory=list)  # (0-based page, drawn text) in reading order

    def page_truth(self, page: int) -> str:
        """The text drawn on one page, in reading order (paragraphs cut at the page end)."""
        return "\n".join(text for p, text in self.lines if p == page)


def find_font(bold: bool = False) -> Path | None:
    """The Noto Sans CJK (bold) collection, else Noto Serif CJK, else None."""
    names = (["NotoSansCJK-Bold.ttc", "NotoSerifCJK-Bold.ttc"] if bold else []) + [
        "NotoSansCJK-Regular.ttc", "NotoSerifCJK-Regular.ttc"]
    for folder in FONT_DIRS:
        for name in names:
            if (folder / name).exists():
                return folder / name
    return None


def parse_page(text: str) -> list[Article]:
    """A sample page (``## `` headline lines, one paragraph per line) -> articles; a run of headlines opens one."""
    articles: list[Article] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("## "):
            if not articles or articles[-1].paragraphs:
                articles.append(Article([], []))
            articles[-1].headlines.append(line[3:].strip())
        else:
            if not articles:
                articles.append(Article([], []))
            articles[-1].paragraphs.append(line)
    return [a for a in articles if a.paragraphs or a.headlines]


def _wrap(text: str, per_line: int, indent: int) -> list[tuple[str, int]]:
    """``(line text, indent in characters)`` pieces of one paragraph, ``per_line`` full-width cells a line."""
    lines, first, pos = [], True, 0
    while pos < len(text):
        room = per_line - (indent if first else 0)
        lines.append((text[pos:pos + room], indent if first else 0))
        pos += room
        first = False
    return lines


def render_pages(articles: list[Article], style: Style) -> RenderedDoc:
    """Lay out ``articles`` on as many pages as needed (see the module docstring)."""
    from PIL import Image, ImageDraw, ImageFont

    regular, bold = find_font(), find_font(bold=True)
    if regular is None or bold is None:
        raise RuntimeError(f"no CJK font: install {FONT_PACKAGE}")
    s = style.body_px
    body = ImageFont.truetype(str(regular), s, index=2)  # index 2 in the collections: SC
    head_px = int(s * 1.6)
    head = ImageFont.truetype(str(bold), head_px, index=2)
    small = ImageFont.truetype(str(regular), int(s * 0.85), index=2)
    rng = random.Random(style.seed)
    margin, gutter, line_h = 2 * s, int(2.4 * s), int(s * 1.45)
    doc = RenderedDoc()
    page: Any = None
    draw: Any = None
    y = 0

    def new_page() -> None:
        nonlocal page, draw, y
        page = Image.new("RGB", (style.width, style.height), "white")
        draw = ImageDraw.Draw(page)
        doc.pages.append(page)
        y = margin

    new_page()
    for art in articles:
        left = margin
        vertical = style.vertical_headline and art.headlines and all(len(h) <= 14 for h in art.headlines)
        if y + head_px * 2 + 4 * line_h > style.height - margin:
            new_page()
        top = y
        if vertical:
            x = margin
            for h in art.headlines:
                doc.lines.append((len(doc.pages) - 1, h))
                for i, ch in enumerate(h):
                    draw.text((x, top + i * int(head_px * 1.1)), ch, font=head, fill="black")
                x += int(head_px * 1.5)
            left = x + gutter
            doc.truth.extend(art.headlines)
        else:
            for h in art.headlines:
                doc.lines.append((len(doc.pages) - 1, h))
                draw.text((margin, y), h, font=head, fill="black")
                y += int(head_px * 1.5)
            doc.truth.extend(art.headlines)
            y += s // 2
        col_w = (style.width - margin - left - gutter * (style.columns - 1)) // style.columns
        per_line = col_w // s
        lines: list[tuple[str, int] | tuple[str, int, str]] = []
        if style.photo and art.paragraphs:
            caption = art.caption or ("图为" + (art.headlines or art.paragraphs)[0])[: per_line - 2]
            art.caption = caption
            lines.extend([("", 0, "photo")] * 4)
            lines.append((caption, 0, "caption"))
            doc.truth.append(caption)
        for para in art.paragraphs:
            lines.extend(_wrap(para, per_line, 2))
            doc.truth.append(para)
        first_block = True
        while lines:
            avail = (style.height - margin - y) // line_h
            if avail < 4:
                new_page()
                avail = (style.height - margin - y) // line_h
                left = margin if not first_block else left
                col_w = (style.width - margin - left - gutter * (style.columns - 1)) // style.columns
            take = min(len(lines), avail * style.columns)
            per_col = -(-take // style.columns)
            chunk, lines = lines[:take], lines[take:]
            for c in range(style.columns):
                cx = left + c * (col_w + gutter)
                if c:  # a thin column rule in the middle of the gutter, as newspapers print
                    rx = cx - gutter // 2
                    draw.line([(rx, y), (rx, y + (-(-take // style.columns)) * line_h)], fill=(150, 150, 150))
                cy = y
                for item in chunk[c * per_col:(c + 1) * per_col]:
                    if len(item) == 3 and item[2] == "photo":
                        shade = rng.randint(90, 180)
                        box = (cx, cy, cx + col_w, cy + line_h)
                        draw.rectangle(box, fill=(shade, shade, shade))
                    elif len(item) == 3:
                        draw.text((cx, cy), item[0], font=small, fill="black")
                        doc.lines.append((len(doc.pages) - 1, item[0]))
                    else:
                        draw.text((cx + item[1] * s, cy), item[0], font=body, fill="black")
                        doc.lines.append((len(doc.pages) - 1, item[0]))
                    cy += line_h
            used = per_col * line_h
            if vertical and first_block:
                used = max(used, sum(1 for _ in art.headlines[0]) * int(head_px * 1.1))
            y += used + line_h
            first_block = False
        y = max(y, top) + s
    if style.noise:
        doc.pages = [_noisy(p, style.noise, style.seed + i) for i, p in enumerate(doc.pages)]
    return doc


def _noisy(page: Any, std: float, seed: int) -> Any:
    import numpy as np
    from PIL import Image

    arr = np.asarray(page).astype(np.float32)
    arr += np.random.default_rng(seed).normal(0, std, arr.shape[:2])[..., None]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def save(doc: RenderedDoc, path: Path, quality: int = 70) -> Path:
    """Write the pages: ``.pdf`` (image-only, one page each), ``.tif`` (multi-frame), else the first page
    (``.jpg``/``.jpeg`` at ``quality``, ``.png``, ``.webp``)."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        # Fixed dates: the same render gives the same bytes, so OCR caches keyed by file hash stay valid.
        fixed = time.gmtime(1_704_067_200)  # 2024-01-01 UTC
        doc.pages[0].save(path, "PDF", resolution=200.0, save_all=True, append_images=doc.pages[1:],
                          creationDate=fixed, modDate=fixed)
    elif suffix in (".tif", ".tiff"):
        doc.pages[0].save(path, save_all=True, append_images=doc.pages[1:], compression="tiff_deflate")
    elif suffix in (".jpg", ".jpeg"):
        doc.pages[0].save(path, quality=quality)
    else:
        doc.pages[0].save(path)
    return path
