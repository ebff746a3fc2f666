"""Reading order of a page from positioned text boxes: ``order_blocks(boxes) -> list[Block]``, then ``page_text``.

Input boxes come from OCR (:mod:`ingest.ocr`, pixel coordinates) or from a PDF text layer (:mod:`ingest.pdf`,
PDF points); both have y growing downwards and one box per text line (or line piece). Nothing here depends on the
unit: every threshold is a multiple of the page's measured body character size.

Method (measured, not assumed, per page):

1. *Direction.* A box is vertical when it is at least 1.5x taller than wide and holds 2+ characters. The page is
   vertical (traditional layout: lines top-to-bottom, read right-to-left) when vertical boxes hold more characters
   than horizontal ones. A vertical page is rotated into "canonical" coordinates (``x' = y``, ``y' = -x``) so the
   rest of the method only ever sees horizontal lines.
2. *Body size*: the character-weighted median line thickness. A box 1.3x thicker than that, or a box across the
   page's direction (a vertical title on a horizontal page, a horizontal banner on a vertical one), is a headline.
3. *Recursive XY-cut* (Nagy & Seth, 1984): a region is split at its widest whitespace gap, across or along, that
   is wider than a fraction of the body size (a column gap wins over a wider-or-equal row gap, and only the widest
   row gaps cut, since line gaps of neighbouring columns line up); horizontal cuts are read top-to-bottom,
   vertical cuts left-to-right (in canonical coordinates: right-to-left on a vertical page), except that a part
   made only of headline boxes (a vertical title beside its article) is read before its neighbours. Pieces
   without a column gap inside, one under the other, form one column: its boxes are grouped into lines by
   vertical overlap and read top-to-bottom, left-to-right.
4. *Paragraphs*: on a page whose body lines show indents anywhere, only a line indented by a character opens a
   paragraph (a column holding one run-on paragraph shows none of its own); on a page without indents, a line
   opens one when the line above ended a character short of the column's right edge (plus the room its
   half-width characters leave). A column that starts without an indent continues the paragraph the previous
   column left unfinished.

Then :func:`ingest.clean.clean_page` and :func:`ingest.segment.segment_articles` run unchanged on
:func:`page_text`'s output (headlines as ``## `` lines, one paragraph per line).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

VERTICAL_RATIO = 1.5
HEADLINE_SIZE_RATIO = 1.3
#: Whitespace gaps (in body character sizes) that may split a region: across (between lines) and along
#: (between columns).
MIN_ROW_GAP = 0.25
MIN_COLUMN_GAP = 0.8
#: A column gap may be crossed by one box, plus one per this many boxes of the region, when only line gaps cut
#: across the region.
CROSSING_PER_BOXES = 25
#: Indent / short-line slack, in body characters, for paragraph breaks.
INDENT_CHARS = 1.2
#: Room (body characters) a half-width character leaves at a line's end: Noto Sans CJK's Latin letters and digits
#: are 0.5-0.6 of a CJK character wide, so 0.4 stays below what a full-width line would have left.
HALF_WIDTH_ROOM = 0.4
#: A headline's characters are also wider apart than body characters by this factor (quotes and brackets make
#: some body lines taller, never wider per character).
HEADLINE_PITCH_RATIO = 1.25
# Pieces are joined without a space (Chinese), except two Latin words.
_LATIN_END = re.compile(r"[A-Za-z][,.;:]?$")
_LATIN_START = re.compile(r"^[A-Za-z]")
_LOWER_END = re.compile(r"[a-z]$")
_CAPITAL_START = re.compile(r"^[A-Z]")
_HALF_END = re.compile(r"[A-Za-z0-9]$")
_HALF_START = re.compile(r"^[A-Za-z0-9]")


@dataclass(frozen=True)
class TextBox:
    """One text line (or piece of one) on a page.

    Attributes:
        x0, y0, x1, y1: bounding box, y downwards, in any unit (pixels for OCR, points for PDF text).
        text: the characters, in their reading order within the box (top-to-bottom for a vertical box).
        confs: per-character recognition confidence in [0, 1], one per character of ``text``; empty for text
            taken from a PDF text layer (certain).
        gaps: OCR only, horizontal lines: the widest ink-free run (pixels) between each pair of consecutive
            characters, ``len(text) - 1`` values (:func:`ingest.ocr_text.ink_gaps`); empty when not measured.
    """

    x0: float
    y0: float
    x1: float
    y1: float
    text: str
    confs: tuple[float, ...] = ()
    gaps: tuple[float, ...] = ()

    @property
    def vertical(self) -> bool:
        """Taller than wide by :data:`VERTICAL_RATIO` and more than one character: a vertical line of text."""
        return len(self.text) >= 2 and (self.y1 - self.y0) >= VERTICAL_RATIO * (self.x1 - self.x0)

    @property
    def thickness(self) -> float:
        """Line thickness ~ character size: the height of a horizontal box, the width of a vertical one."""
        return (self.x1 - self.x0) if self.vertical else (self.y1 - self.y0)


@dataclass
class Block:
    """A headline line or a paragraph in reading order; ``confs`` as in :class:`TextBox` (joined)."""

    kind: str  # "heading" | "paragraph"
    text: str
    confs: list[float] = field(default_factory=list)
    #: The paragraph's last line reached the column's right edge: the next column may continue it.
    unfinished: bool = field(default=False, repr=False, compare=False)


@dataclass(frozen=True)
class _Box:
    """A box in canonical coordinates (horizontal lines), with its headline flag."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str
    confs: tuple[float, ...]
    heading: bool


def page_is_vertical(boxes: Sequence[TextBox]) -> bool:
    """True when vertical boxes hold more characters than horizontal ones."""
    vertical = sum(len(b.text) for b in boxes if b.vertical)
    return vertical > sum(len(b.text) for b in boxes) - vertical


def body_size(boxes: Sequence[TextBox]) -> float:
    """Character-weighted median line thickness of the boxes in the page's own direction (1.0 for no boxes)."""
    vertical = page_is_vertical(boxes)
    sizes: list[float] = []
    for b in boxes:
        if b.vertical == vertical or len(b.text) < 2:
            sizes.extend([b.thickness if len(b.text) >= 2 else (b.y1 - b.y0)] * max(1, min(len(b.text), 50)))
    return statistics.median(sizes) if sizes else 1.0


def _pitch(b: TextBox) -> float:
    """Length per character along the line."""
    return ((b.y1 - b.y0) if b.vertical else (b.x1 - b.x0)) / max(1, len(b.text))


def order_blocks(boxes: Sequence[TextBox]) -> list[Block]:
    """Headlines and paragraphs of one page in reading order (see the module docstring)."""
    boxes = [b for b in boxes if b.text.strip()]
    if not boxes:
        return []
    vertical = page_is_vertical(boxes)
    size = body_size(boxes)
    pitches = [_pitch(b) for b in boxes if len(b.text) >= 5 and b.vertical == vertical]
    pitch = statistics.median(pitches) if pitches else size
    canon = [_canonical(b, vertical, size, pitch) for b in boxes]
    blocks: list[Block] = []
    columns = [column for column, _ in _xy_cut(canon, size)]
    # Indenting paragraphs is the typesetter's choice for the whole page: a column that holds no indent (one
    # paragraph running on from the column before) still breaks paragraphs only at indents.
    page_indents = any(_shows_indents(column, size) for column in columns)
    for column in columns:
        _column_blocks(column, size, blocks, page_indents)
    return blocks


def page_text(blocks: Sequence[Block]) -> str:
    """Blocks as page text: headlines as ``## `` lines, one paragraph per line, blank lines between blocks."""
    return "\n\n".join(("## " + b.text) if b.kind == "heading" else b.text for b in blocks if b.text.strip())


def _canonical(b: TextBox, vertical_page: bool, size: float, pitch: float) -> _Box:
    heading = (b.vertical != vertical_page and len(b.text) >= 2
               or b.thickness >= HEADLINE_SIZE_RATIO * size and _pitch(b) >= HEADLINE_PITCH_RATIO * pitch)
    if vertical_page:  # rotate: top-to-bottom becomes left-to-right, right-to-left becomes top-to-bottom
        return _Box(b.y0, -b.x1, b.y1, -b.x0, b.text, b.confs, heading)
    if b.vertical:  # a vertical title on a horizontal page: its own block, read as one line
        return _Box(b.x0, b.y0, b.x1, b.y1, b.text, b.confs, True)
    return _Box(b.x0, b.y0, b.x1, b.y1, b.text, b.confs, heading)


def _gaps(spans: list[tuple[float, float]], allowed: int = 0) -> list[tuple[float, float]]:
    """Intervals ``(start, end)`` inside the extent of ``spans`` covered by at most ``allowed`` of them."""
    events = sorted([(lo, 1) for lo, _ in spans] + [(hi, -1) for _, hi in spans])
    out: list[tuple[float, float]] = []
    cover, start = 0, None
    for x, step in events:
        before, cover = cover, cover + step
        if before > allowed >= cover:
            start = x
        elif before <= allowed < cover and start is not None:
            out.append((start, x))
            start = None
    return out


def _xy_cut(boxes: list[_Box], size: float) -> list[tuple[list[_Box], bool]]:
    """The region's columns in reading order, each flagged True when no column gap was cut inside it (consecutive
    such pieces of a horizontal cut are one column, split only by line or paragraph gaps)."""
    col_gaps = [g for g in _gaps([(b.x0, b.x1) for b in boxes]) if g[1] - g[0] >= MIN_COLUMN_GAP * size]
    row_gaps = [g for g in _gaps([(b.y0, b.y1) for b in boxes]) if g[1] - g[0] >= MIN_ROW_GAP * size]
    if len(boxes) <= 1 or not (col_gaps or row_gaps):
        return [(boxes, True)]
    widest_row = max((g[1] - g[0] for g in row_gaps), default=0.0)
    if not col_gaps and widest_row < size and len(boxes) >= 6:
        # Only line gaps across: a gutter that a few boxes cross (a line merged with the column rule, a spanning
        # headline) still separates columns.
        allowed = 1 + len(boxes) // CROSSING_PER_BOXES
        col_gaps = [g for g in _gaps([(b.x0, b.x1) for b in boxes], allowed) if g[1] - g[0] >= MIN_COLUMN_GAP * size]
    widest_col = max((g[1] - g[0] for g in col_gaps), default=0.0)
    out: list[tuple[list[_Box], bool]] = []
    if col_gaps and widest_col >= widest_row:
        parts = _split(boxes, col_gaps, lambda b: b.x0)
        # A part made only of headlines (a vertical title beside its article) is read first.
        parts.sort(key=lambda p: not all(b.heading for b in p))
        for part in parts:
            out.extend((piece, False) for piece, _ in _xy_cut(part, size))
        return out
    # Cut at the widest gaps only: across a multi-column body, line gaps line up and must not cut it in rows.
    for part in _split(boxes, [g for g in row_gaps if g[1] - g[0] >= 0.9 * widest_row], lambda b: b.y0):
        for piece, simple in _xy_cut(part, size):
            if simple and out and out[-1][1]:
                out[-1][0].extend(piece)
            else:
                out.append((list(piece), simple))
    return out


def _split(boxes: list[_Box], gaps: list[tuple[float, float]], key) -> list[list[_Box]]:  # noqa: ANN001
    cuts = sorted(g[0] for g in gaps)
    parts: list[list[_Box]] = [[] for _ in range(len(cuts) + 1)]
    for b in boxes:
        parts[sum(1 for c in cuts if key(b) > c)].append(b)
    return [p for p in parts if p]


def _lines(boxes: list[_Box]) -> list[list[_Box]]:
    """Group boxes into lines by vertical overlap (>= half the smaller height), each sorted left-to-right."""
    lines: list[list[_Box]] = []
    for b in sorted(boxes, key=lambda b: (b.y0 + b.y1) / 2):
        if lines:
            last = lines[-1]
            top, bottom = min(x.y0 for x in last), max(x.y1 for x in last)
            overlap = min(bottom, b.y1) - max(top, b.y0)
            if overlap >= 0.5 * min(bottom - top, b.y1 - b.y0):
                last.append(b)
                continue
        lines.append([b])
    return [sorted(line, key=lambda b: b.x0) for line in lines]


def _join(parts: list[str], spaced: bool = True) -> str:
    """Concatenate; with ``spaced``, a space between two Latin words (pieces of one line split at a gap). Lines
    are joined without one (Chinese text wraps anywhere, inside Latin words and numbers too), except between a
    lower-case letter and a capital (``Flora`` / ``Hewlett``): the space a wrap swallowed. Measured on the CMRC and
    crud_dev texts: 768 lower-capital pairs with a space between them, 319 without (iPhone, ChatGPT)."""
    text = ""
    for part in parts:
        if spaced:
            gap = text and _LATIN_END.search(text) and _LATIN_START.match(part)
        else:
            gap = text and _LOWER_END.search(text) and _CAPITAL_START.match(part)
        text += (" " if gap else "") + part
    return text


def _shows_indents(column: list[_Box], size: float) -> bool:
    """True when a body line of ``column`` starts :data:`INDENT_CHARS` body sizes right of the column's left edge."""
    body = [b for b in column if not b.heading]
    if not body:
        return False
    left = min(b.x0 for b in body)
    return any(line[0].x0 - left >= INDENT_CHARS * size for line in _lines(body))


def _column_blocks(column: list[_Box], size: float, blocks: list[Block], page_indents: bool = False) -> None:
    """Append the column's headline lines and paragraphs to ``blocks`` (see step 4 of the module docstring)."""
    body = [b for b in column if not b.heading] or column
    left = min(b.x0 for b in body)
    right = max(b.x1 for b in body)
    slack = INDENT_CHARS * size
    open_para = bool(blocks) and blocks[-1].kind == "paragraph" and blocks[-1].unfinished
    lines = _lines(column)
    cut_word = False
    # Chinese paragraphs open with a two-character indent: where the page shows indents, they alone break
    # paragraphs; else a line ending short of the right edge does.
    by_indent = page_indents or any(line[0].x0 - left >= slack for line in lines if not all(b.heading for b in line))
    for line in lines:
        text = _join([b.text for b in line])
        confs = [c for b in line for c in (b.confs or (1.0,) * len(b.text))]
        if all(b.heading for b in line):
            blocks.append(Block("heading", text, confs))
            open_para = False
            continue
        indented = line[0].x0 - left >= slack
        if (open_para or cut_word and _HALF_START.match(text)) and not indented:
            blocks[-1].text = _join([blocks[-1].text, text], spaced=False)
            blocks[-1].confs.extend(confs)
        else:
            blocks.append(Block("paragraph", text, confs))
        open_para = by_indent or right - line[-1].x1 < slack
        # Half-width characters (Latin, digits) take about half a body character each: a line holding them ends
        # short of the edge by that much. When it ends in a letter or digit and the next line starts with one, it
        # is a word or number cut at the line end, not a paragraph end (which the cleanup would rejoin with a
        # space: `10pp m`).
        half = sum(1 for ch in text if " " < ch < "\x7f")
        cut_word = bool(_HALF_END.search(text)) and right - line[-1].x1 < slack + HALF_WIDTH_ROOM * size * half
        blocks[-1].unfinished = open_para
