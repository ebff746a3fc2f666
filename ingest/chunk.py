"""Sentence-packing chunker (sentences split by :func:`rag.text.sentences.split_sentences`).

Shape: ``chunk_text(text, max_chars, min_chars,
overlap_sentences) -> list[str]``. All lengths are ``len()`` of Python strings, i.e. characters (code
points), not tokens or bytes. The packing scheme (whole sentences up to a budget, a one-sentence
overlap, oversize sentences cut at commas) is the usual "sentence window" chunker, written here because
it must respect Chinese punctuation and our paragraph breaks exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.text.sentences import split_sentences

# Where an oversize sentence is preferably cut (after the character).
_SOFT_BREAKS = "，、,:：; "
# A soft break earlier than this share of max_chars would leave a tiny piece; cut harder instead.
_MIN_PIECE_SHARE = 0.3


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
    # Do not split "2385.67" or a Latin word when a nearby boundary exists.
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
