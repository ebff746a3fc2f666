"""Geometry of OCR crops: detected quads to rectangles, stacked detections of one vertical line joined, and a
vertical strip cut into character cells laid side by side for the horizontal recogniser (:mod:`ingest.ocr`).

Shapes: rectangles are ``(x0, y0, x1, y1)`` page pixels (floats); crops are ``(h, w, 3)`` BGR ``uint8`` arrays.
"""

from __future__ import annotations

import numpy as np

from ingest.layout import VERTICAL_RATIO

Rect = tuple[float, float, float, float]
#: Stacked detections join into one vertical line when their widths agree within this ratio, they overlap
#: horizontally by this share of the narrower one, and the gap between them is under this share of their width.
STACK_WIDTH_RATIO = 0.75
STACK_OVERLAP = 0.7
STACK_GAP = 0.5


def page_rect(quad: np.ndarray, w: int, h: int) -> Rect:
    """The axis-aligned pixel rectangle ``(x0, y0, x1, y1)`` of a detected quad, clipped to the page."""
    x0, y0 = max(0, int(quad[:, 0].min())), max(0, int(quad[:, 1].min()))
    x1, y1 = min(w, int(np.ceil(quad[:, 0].max()))), min(h, int(np.ceil(quad[:, 1].max())))
    return (float(x0), float(y0), float(x1), float(y1))


def merge_vertical_stacks(rects: list[Rect]) -> list[Rect]:
    """Detections that are pieces of one vertical line, joined: ``[(x0, y0, x1, y1)]`` -> fewer rectangles.

    PP-OCRv4's detector, trained mostly on horizontal lines, often returns a letter-spaced vertical headline as one
    box per character or per pair (冰 / 雪 / 皇后, each about as tall as wide, the last overlapping the one above).
    Recognised apart they become one-character "lines"; a box that overlaps its neighbour also brings that
    neighbour's strokes into its crop (雪's foot + 皇's top read as 百). A chain of boxes of about the same width
    (:data:`STACK_WIDTH_RATIO`), in the same column (:data:`STACK_OVERLAP`), each no wider than tall, with gaps under
    :data:`STACK_GAP` of their width, is one line when the chain ends up at least ``VERTICAL_RATIO`` taller than wide.
    Horizontal lines are wide and never chain this way.
    """
    def squareish(r: Rect) -> bool:
        return (r[3] - r[1]) >= 0.8 * (r[2] - r[0])

    def joins(top: Rect, below: Rect) -> bool:
        wa, wb = top[2] - top[0], below[2] - below[0]
        overlap = min(top[2], below[2]) - max(top[0], below[0])
        return (min(wa, wb) >= STACK_WIDTH_RATIO * max(wa, wb) and overlap >= STACK_OVERLAP * min(wa, wb)
                and below[1] - top[3] <= STACK_GAP * min(wa, wb) and below[1] > top[1])

    order = sorted(range(len(rects)), key=lambda i: rects[i][1])
    used: set[int] = set()
    out: list[Rect] = []
    for i in order:
        if i in used:
            continue
        chain = [rects[i]]
        used.add(i)
        if squareish(rects[i]):
            for j in order:
                if j not in used and squareish(rects[j]) and joins(chain[-1], rects[j]):
                    chain.append(rects[j])
                    used.add(j)
        union = (min(r[0] for r in chain), chain[0][1], max(r[2] for r in chain), max(r[3] for r in chain))
        if len(chain) > 1 and union[3] - union[1] >= VERTICAL_RATIO * (union[2] - union[0]):
            out.append(union)
        else:
            out.extend(chain)  # pieces that do not make a vertical line stay as detected
    return out


def crop_rect(bgr: np.ndarray, rect: Rect) -> np.ndarray | None:
    """Crop of a pixel rectangle (pages are upright), restacked when vertical; None when too small."""
    x0, y0, x1, y1 = (int(v) for v in rect)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    crop = bgr[y0:y1, x0:x1]
    if (y1 - y0) >= VERTICAL_RATIO * (x1 - x0):
        crop = _restack_vertical(crop)
    return crop


def vertical_cells(ink: np.ndarray, width: int) -> list[tuple[int, int]]:
    """Character cells ``[(top, bottom)]`` (rows) of a vertical strip from its ink per row ``(h,)`` int.

    Vertical headlines are set on a fixed pitch close to the strip's ``width``: for each character count ``n``
    from ``round(h / width) - 1`` to ``round(h / width) + 2`` the cuts go to the blank row nearest ``i * h / n``
    (within a third of a pitch), else to the row with least ink there; the count whose cuts cross the least ink
    wins, then the one whose cuts sit nearest their pitch marks (a fixed pitch puts every gap on its mark; a wrong
    count finds blank rows only far from them). The detector's box is wider than the glyphs (纽西兰鸡毛松: 232 px
    high, 44 px wide, six characters at a 39 px pitch), so ``round(h / width)`` alone can be one short. Cutting
    at every blank run instead splits characters whose parts stand apart (皇 = 白 over 王, 二, 旱).
    """
    h = len(ink)
    guess = h / max(width, 1)
    best: tuple[int, float, list[int]] | None = None
    for n in range(max(1, round(guess) - 1), round(guess) + 3):
        cuts, crossed, off = _pitch_cuts(ink, n)
        if best is None or (crossed, off) < best[:2]:
            best = (crossed, off, cuts)
    cuts = best[2] if best else [0, h]
    return [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if b > a and ink[a:b].any()]


def _pitch_cuts(ink: np.ndarray, n: int) -> tuple[list[int], int, float]:
    """Cut rows ``[0, ..., h]`` for ``n`` characters on a fixed pitch, the ink the cuts cross (pixels) and their
    mean distance from their pitch marks (in pitches)."""
    h = len(ink)
    pitch = h / n
    cuts, crossed, off = [0], 0, 0.0
    for i in range(1, n):
        target = i * pitch
        lo, hi = max(cuts[-1] + 1, int(target - pitch / 3)), min(h - 1, int(target + pitch / 3))
        if lo > hi:
            continue
        window = np.arange(lo, hi + 1)
        blank = window[ink[lo : hi + 1] == 0]
        pool = blank if len(blank) else window[ink[lo : hi + 1] == ink[lo : hi + 1].min()]
        cut = int(pool[np.argmin(np.abs(pool - target))])
        crossed += int(ink[cut])
        off += abs(cut - target) / pitch
        cuts.append(cut)
    cuts.append(h)
    return cuts, crossed, off / max(1, len(cuts) - 2)


def _restack_vertical(crop: np.ndarray) -> np.ndarray:
    """A vertical text strip ``(h, w, 3)`` -> its characters side by side ``(w, ~h, 3)``, top one leftmost."""
    w = crop.shape[1]
    ink = (crop.mean(axis=2) < 128).sum(axis=1)  # dark pixels per row
    cells = vertical_cells(ink, w) or [(0, crop.shape[0])]
    pad = max(2, w // 8)
    white = np.full((w, pad, 3), 255, dtype=crop.dtype)
    pieces = []
    for a, b in cells:
        rows = np.nonzero(ink[a:b])[0]  # vertical_cells keeps only cells with ink
        a, b = a + int(rows[0]), a + int(rows[-1]) + 1
        cell = np.full((w, w, 3), 255, dtype=crop.dtype)
        piece = crop[a:b][:w]
        top = (w - piece.shape[0]) // 2
        cell[top:top + piece.shape[0]] = piece
        pieces.extend([cell, white])
    return np.concatenate(pieces, axis=1)


__all__ = ["Rect", "crop_rect", "merge_vertical_stacks", "page_rect", "vertical_cells"]
