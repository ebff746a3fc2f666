"""Chinese sentence splitting and sentence-packing chunker.

Shapes: ``split_sentences(text) -> list[str]``; ``chunk_text(text, max_chars, min_chars,
overlap_sentences) -> list[str]``. All lengths are ``len()`` of Python strings, i.e. characters (code
points), not tokens or bytes. The packing scheme (whole sentences up to a budget, a one-sentence
overlap, oversize sentences cut at commas) is the usual "sentence window" chunker, written here because
it must respect Chinese punctuation and our paragraph breaks exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

# Characters that end a sentence. "…" is included so "……" (the Chinese ellipsis, two characters)
# closes a sentence as one unit; a line end ("\n") also ends one.
SENTENCE_END: str = "。！？!?；;…\n"
# Closing quotes/brackets stay with the sentence they close: 他说：“好。”
_CLOSERS = "”’」』）)】》"
# Brackets inside which a semicolon does not end the sentence (a parenthesis is part of its sentence);
# a full stop inside still does: （括号里的话。）后面 is two sentences.
_SOFT_ENDS = "；;"
_OPENERS = "（(【"
_BRACKET_CLOSERS = "）)】"
# Characters after which an unclosed bracket is presumed an OCR error and ignored.
_MAX_BRACKET_SPAN = 80
# Where an oversize sentence is preferably cut (after the character).
_SOFT_BREAKS = "，、,:：; "
# A soft break earlier than this share of max_chars would leave a tiny piece; cut harder instead.
_MIN_PIECE_SHARE = 0.3


def split_sentences(text: str) -> list[str]:
    """Split Chinese (or mixed) text into sentences.

    A sentence ends after a run of 。！？!?；;… characters (so ``！？`` and ``……`` stay whole) plus any
    closing quotes/brackets right after them, or at a line end. The ``"\\n"`` separators are dropped;
    every other character is kept, in order, so ``"".join(split_sentences(t)) == t.replace("\\n", "")``
    whenever ``t`` has a non-blank character. Whitespace-only pieces are attached to the sentence before
    them (or after, at the start), so no sentence is empty or blank; blank text gives ``[]``.
    """
    pieces: list[str] = []
    current: list[str] = []
    index = 0
    depth = 0  # open brackets: 牛车水（；）是… must not end at the ；
    opened_at = 0
    while index < len(text):
        char = text[index]
        if char == "\n":
            pieces.append("".join(current))
            current = []
            depth = 0
            index += 1
            continue
        current.append(char)
        index += 1
        if char in _OPENERS:
            depth, opened_at = depth + 1, index
        elif char in _BRACKET_CLOSERS and depth:
            depth -= 1
        if depth and index - opened_at > _MAX_BRACKET_SPAN:
            depth = 0  # an unbalanced OCR bracket must not swallow the page
        if char in SENTENCE_END and not (depth and char in _SOFT_ENDS):
            while index < len(text) and text[index] in SENTENCE_END and text[index] != "\n":
                current.append(text[index])
                index += 1
            while index < len(text) and text[index] in _CLOSERS:
                current.append(text[index])
                index += 1
            pieces.append("".join(current))
            current = []
    pieces.append("".join(current))
    return _attach_blanks(pieces)


def _attach_blanks(pieces: list[str]) -> list[str]:
    sentences: list[str] = []
    leading = ""
    for piece in pieces:
        if not piece.strip():
            if sentences:
                sentences[-1] += piece
            else:
                leading += piece
            continue
        sentences.append(leading + piece)
        leading = ""
    return sentences


@dataclass(frozen=True)
class _Unit:
    text: str
    new_paragraph: bool  # a "\n" precedes it when it is not the first unit of a chunk


def chunk_text(
    text: str, max_chars: int = 450, min_chars: int = 200, overlap_sentences: int = 1
) -> list[str]:
    """Pack consecutive sentences of ``text`` into chunks of at most ``max_chars`` characters.

    * A new chunk starts when the next sentence would overflow; it begins with the last
      ``overlap_sentences`` sentence(s) of the previous chunk, fewer (down to none) if they would make
      it overflow.
    * A sentence longer than ``max_chars`` is cut into pieces of at most ``max_chars`` characters, at
      the last ``，、,:：;`` or space in reach when one leaves a piece of at least 30% of ``max_chars``,
      else hard (not between two digits/letters when avoidable); pieces are then packed like sentences.
    * A last chunk shorter than ``min_chars`` is merged into the previous one when the result fits.
    * Sentences are joined as they are; a paragraph break (``"\\n"`` in ``text``) between two sentences
      of a chunk is kept as one ``"\\n"``. No other character is added, none is changed; blank lines
      (and a run of blanks longer than ``max_chars``) are dropped.

    Every sentence (or piece) appears in some chunk, no chunk exceeds ``max_chars``, none is blank.
    Blank text gives ``[]``.

    Raises:
        ValueError: ``max_chars < 1``, ``min_chars < 0`` or ``overlap_sentences < 0``.
    """
    if max_chars < 1 or min_chars < 0 or overlap_sentences < 0:
        raise ValueError(
            f"chunk_text: need max_chars >= 1, min_chars >= 0, overlap_sentences >= 0 "
            f"(got {max_chars}, {min_chars}, {overlap_sentences})"
        )
    units = _units(text, max_chars)
    chunks: list[list[_Unit]] = []
    overlaps: list[int] = []  # how many leading units of each chunk repeat the previous chunk
    current: list[_Unit] = []
    repeated = 0
    for unit in units:
        if current and _length(current + [unit]) > max_chars:
            chunks.append(current)
            overlaps.append(repeated)
            repeated = min(overlap_sentences, len(current))
            while repeated and _length(current[len(current) - repeated :] + [unit]) > max_chars:
                repeated -= 1
            current = current[len(current) - repeated :] if repeated else []
        current.append(unit)
    if current:
        chunks.append(current)
        overlaps.append(repeated)
    if len(chunks) > 1 and _length(chunks[-1]) < min_chars:
        merged = chunks[-2] + chunks[-1][overlaps[-1] :]
        if _length(merged) <= max_chars:
            chunks[-2:] = [merged]
    return [_join(chunk) for chunk in chunks]


def _units(text: str, max_chars: int) -> list[_Unit]:
    units: list[_Unit] = []
    for line in text.split("\n"):
        for position, sentence in enumerate(split_sentences(line)):
            first = position == 0 and bool(units)
            for number, piece in enumerate(_cut(sentence, max_chars)):
                units.append(_Unit(piece, new_paragraph=first and number == 0))
    return units


def _cut(sentence: str, max_chars: int) -> list[str]:
    pieces: list[str] = []
    rest = sentence
    while len(rest) > max_chars:
        window = rest[:max_chars]
        floor = max(1, int(max_chars * _MIN_PIECE_SHARE))
        cut = max(window.rfind(mark) for mark in _SOFT_BREAKS) + 1
        if cut < floor:
            cut = _hard_cut(window, rest, floor)
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    # A blank piece would make a blank chunk: its blanks go to a neighbour that has room, or are
    # dropped (only a run of blanks longer than the budget can end up here).
    kept: list[str] = []
    for piece in pieces:
        if piece.strip():
            kept.append(piece)
        elif kept and len(kept[-1]) + len(piece) <= max_chars:
            kept[-1] += piece
    return kept


def _hard_cut(window: str, rest: str, floor: int) -> int:
    # Do not split "1214.94" or a Latin word when a nearby boundary exists.
    cut = len(window)
    while cut > floor and _word_char(rest[cut - 1]) and cut < len(rest) and _word_char(rest[cut]):
        cut -= 1
    return cut if cut > floor else len(window)


def _word_char(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char in ".%")


def _length(units: list[_Unit]) -> int:
    return sum(len(unit.text) for unit in units) + sum(1 for unit in units[1:] if unit.new_paragraph)


def _join(units: list[_Unit]) -> str:
    parts = [units[0].text]
    for unit in units[1:]:
        parts.append(("\n" if unit.new_paragraph else "") + unit.text)
    return "".join(parts)
