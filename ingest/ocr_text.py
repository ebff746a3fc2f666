"""Spaces inside a recognised line from the recogniser's per-character positions and the ink gaps between them.

PP-OCRv4's recogniser is a CTC model: it emits one label per output column (``T`` columns over the resized line
image) and never places a space between Latin words reliably (``Kaji Dha`` is read ``KajiDha``). Each decoded
character sits at the column where CTC fired (``res[2][2]`` of ``text_rec(crops, True)`` in
``rapidocr-onnxruntime`` 1.4.4, ``res[2][0]`` = columns covering the crop's own width after unpadding). So:

* at OCR time, :func:`ink_gaps` maps those columns to crop pixels and measures, between each pair of
  consecutive characters, the widest run of paper between their inks (pixels, at page scale: crops are not
  resized); :mod:`ingest.ocr` caches the gaps with the box (restacked vertical crops get none);
* at load time, :func:`respace_page` inserts a space between two Latin letters / digits (or a letter's
  ``.,;:!?)`` and one) whose gap is at least :data:`SPACE_GAP` body character sizes of the page, so the threshold
  can change without running OCR again. CJK neighbours never get a space.

Quotes are left as read: on the bench renders the recogniser keeps ``“``/``”`` and ASCII ``"`` apart (the CMRC
passages use both), so pairing ASCII quotes into curly ones would add errors, not remove them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ingest.layout import HEADLINE_SIZE_RATIO, TextBox, body_size

#: A gap between two Latin letters / digits at least this many body sizes wide is a space. Measured on the bench
#: renders (Noto Sans CJK at 22 px, body size 20-23 px; 1,376 letter pairs whose spacing the truth shows): inside a
#: word up to 0.23 (stem to stem, ``u|n``; all but one at most 0.20), across a space from 0.217 (headlines,
#: against their own height) and mostly 0.26-0.35; 0.22 misses one space and adds one, 0.24 adds none but misses
#: three, 0.20 adds 19. Integer-pixel runs gave 3-5 px inside words and 5-9 px across spaces at 22 px.
SPACE_GAP = 0.22
#: ... except between a letter that ends in a vertical stem and one that starts with one (``u|n``, ``u|l``, ``a|m``):
#: the sidebearings of two stems leave the widest gaps inside words. Measured on 60 CMRC renders (1,411 pairs):
#: such in-word pairs up to 0.244 (205 pairs), spaces between them from 0.333 (four of 16 spaces are drawn
#: narrower than any gap, 0.13-0.16, and are lost at any threshold); 0.22 put wrong spaces into
#: ``Fou ndation`` and ``Pu lse``. Stems by letter shape (sans and serif fonts alike).
STEM_PAIR_GAP = 0.26
_RIGHT_STEM = frozenset("adhijlmnquIHJMNU")
_LEFT_STEM = frozenset("bhiklmnpruBDEFHIKLMNPRU")
#: Grey levels (0-255) of full ink and of paper for :func:`ink_gaps`; paper noise (σ 12 on the noisy renders)
#: stays above PAPER_LEVEL.
INK_LEVEL = 96
PAPER_LEVEL = 208
_ALNUM = re.compile(r"[A-Za-z0-9]")
# Half-width punctuation after a Latin letter (``W. Mellon``, ``Inc., Ltd``; not ``32.16``, where a narrow digit
# leaves a wide gap); full-width punctuation carries its own room.
_LATIN_PUNCT_END = re.compile(r"[.,;:!?)]")
_LETTER = re.compile(r"[A-Za-z]")


def char_columns(res: Any, text: str) -> tuple[list[float], float] | None:
    """Per character of ``text``: its CTC column, and the number of columns across the crop; None when the
    recogniser's word info does not line up with the text (then no gaps are measured)."""
    try:
        total = float(res[2][0])
        cols = [float(c) for word in res[2][2] for c in word]
    except (IndexError, TypeError, ValueError):
        return None
    if len(cols) != len(text) or total <= 0:
        return None
    return cols, total


def ink_gaps(crop: np.ndarray, res: Any, text: str) -> tuple[float, ...]:
    """Widest paper run (crop pixels, fractional) between each pair of consecutive characters of a horizontal
    line ``crop`` ``(h, w, 3)``; ``len(text) - 1`` values, or () when positions are unknown.

    A pixel column counts by its darkest pixel: 1 at :data:`PAPER_LEVEL` or lighter, 0 at :data:`INK_LEVEL` or
    darker, linear between, so an anti-aliased glyph edge counts in part (ties between pairs a pixel apart are
    split; on the bench renders whole pixels separated words as well at their best threshold).
    """
    found = char_columns(res, text)
    if found is None or len(text) < 2:
        return ()
    cols, total = found
    w = crop.shape[1]
    darkest = crop.min(axis=2).min(axis=0).astype(np.float32)  # (w,) grey 0-255
    paper = np.clip((darkest - INK_LEVEL) / (PAPER_LEVEL - INK_LEVEL), 0.0, 1.0)
    xs = [min(w - 1, max(0, int((c + 0.5) * w / total))) for c in cols]
    gaps = []
    for a, b in zip(xs, xs[1:], strict=False):
        run = best = 0.0
        for v in paper[a:b + 1]:
            run = run + float(v) if v > 0 else 0.0
            best = max(best, run)
        gaps.append(round(best, 2))
    return tuple(gaps)


def respace_page(boxes: Sequence[TextBox], threshold: float | None = None) -> list[TextBox]:
    """A page's boxes with spaces put back (:func:`respace`) where the gap is ``threshold`` (default
    :data:`SPACE_GAP`) body sizes or more."""
    threshold = SPACE_GAP if threshold is None else threshold
    size = body_size(boxes)
    return [respace(b, threshold * line_scale(b, size)) for b in boxes]


def line_scale(box: TextBox, size: float) -> float:
    """The character size a box's gaps are measured against: the page's body ``size`` (pixels), or the box's own
    height when it is a headline's (:data:`ingest.layout.HEADLINE_SIZE_RATIO` thicker). A body line's own height
    is no measure: on the bench renders it ranges 17-31 px for one 22 px font (brackets, quotes, descenders)."""
    own = box.y1 - box.y0
    return own if own >= HEADLINE_SIZE_RATIO * size else size


def respace(box: TextBox, limit: float) -> TextBox:
    """``box`` with a space between Latin letters / digits (or half-width punctuation and a letter / digit) whose
    ink gap is >= ``limit`` pixels (x :data:`STEM_PAIR_GAP` / :data:`SPACE_GAP` between two stems; the space's
    confidence is the lower of its neighbours'); unchanged without gaps or for a vertical box."""
    if len(box.gaps) != len(box.text) - 1 or box.vertical:
        return box
    text, confs = [box.text[0]], [box.confs[0]] if box.confs else []
    for i, gap in enumerate(box.gaps):
        left, right = box.text[i], box.text[i + 1]
        after_word = _LATIN_PUNCT_END.match(left) and i > 0 and _LETTER.match(box.text[i - 1])
        needed = limit * STEM_PAIR_GAP / SPACE_GAP if left in _RIGHT_STEM and right in _LEFT_STEM else limit
        if gap >= needed and (_ALNUM.match(left) or after_word) and _ALNUM.match(right):
            text.append(" ")
            if box.confs:
                confs.append(min(box.confs[i], box.confs[i + 1]))
        text.append(right)
        if box.confs:
            confs.append(box.confs[i + 1])
    return TextBox(box.x0, box.y0, box.x1, box.y1, "".join(text), tuple(confs))
