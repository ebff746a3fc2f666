"""Answer-bearing spans of a claim, and whether a source states them (the slot check of
:mod:`rag.answering.citation_check`).

Word overlap alone lets ``黄道镇党委书记是张三[1]`` pass against a page about 黄道镇's party secretary 王进伟: most of
its words are in the source, the one that answers the question is not. So every cited clause's *answer-bearing*
spans must occur in the cited source (both normalised as for search: traditional/simplified, full-width):

- names: jieba part-of-speech ``nr`` (person), ``ns`` (place), ``nt`` (organisation), ``nz`` (other proper noun),
  2+ characters; Latin-letter terms (``eng``);
- numbers with their units (``120座``, ``3.5平方公里``, Chinese numerals ``十三个`` = ``13个``), which covers dates
  (``2021年``, ``12月29日``); time words (``t``: 上午, 今年) when the question asks when;
- quoted titles (``《…》``) and short quotations (``“…”``).

A span the question already contains is not checked (it is the subject, not the answer). The *slot filler* is the
span of the kind the question asks for (:func:`rag.answering.question.question_type`: 谁 -> a person, 哪家 -> an
organisation, 哪里 -> a place, 多少 -> a number, 何时 -> a date); for 谁/哪家/哪里 questions a word jieba only guessed
(not in its dictionary: an unseen name) counts as a name too. A span must also be *local*: at one of its
occurrences, at least :data:`MIN_LOCAL_SHARE` of the claim's other character bigrams that the source has occur
nearby, so that a name
found elsewhere on the page (another official in another paragraph) does not support the clause.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from rag.answering.question import QuestionType
from rag.text.lexicon import alternation

#: Share of a claim's bigrams outside the span *that the source has* which must occur around an occurrence of the
#: span: the span is stated where the rest of the claim is, not in another paragraph.
MIN_LOCAL_SHARE = 0.6
#: Characters of source text either side of a span occurrence that count as "around" it (at least).
LOCAL_RADIUS = 40

_NAME_FLAGS = frozenset({"nr", "nrt", "nrfg", "ns", "nt", "nz"})
_CN = "零〇一二两三四五六七八九十百千万亿"
#: The question analysis's units and the calendar and other units a claim's figure may carry (``rag/lexicon/``).
_UNITS = alternation("units", "span_units")
_NUMBER = re.compile(
    rf"(?P<num>\d+(?:\.\d+)?|[{_CN}]+)\s*(?:余|多)?\s*(?P<unit>[万亿千百]?(?:{_UNITS}))?"
)
_TITLE = re.compile(r"《([^《》]{1,40})》|“([^“”]{2,20})”")
_NON_CONTENT = re.compile(r"[\W_]+")
_CJK = re.compile(r"^[\u4e00-\u9fff]+$")
_DIGITS = {ch: i for i, ch in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
_SMALL = {"十": 10, "百": 100, "千": 1000}
_BIG = {"万": 10**4, "亿": 10**8}
_SLOT_KINDS = {
    QuestionType.PERSON: {"person"}, QuestionType.ORG: {"org", "other_name"}, QuestionType.PLACE: {"place"},
    QuestionType.NUMBER: {"number"}, QuestionType.DATE: {"date"},
}
_FLAG_KIND = {"ns": "place", "nt": "org", "nz": "other_name"}
#: Question types whose answer is a span the check can pin down (a name, a number, a date).
SLOT_TYPES = frozenset(_SLOT_KINDS)


@dataclass(frozen=True)
class Span:
    """An answer-bearing span of a claim (normalised ``text``), its ``kind``, and whether it fills the slot.

    Numbers carry ``value`` (Chinese numerals converted) and ``unit`` ("" when none follows)."""

    text: str
    kind: str  # person, place, org, other_name, latin, title, number, date
    slot: bool = False
    value: float | None = None
    unit: str = ""


def chinese_number(text: str) -> float | None:
    """The value of a Chinese numeral (``一百二十`` -> 120, ``二〇二一`` -> 2021, ``十三`` -> 13), or None."""
    if not text or any(ch not in _DIGITS and ch not in _SMALL and ch not in _BIG for ch in text):
        return None
    if all(ch in _DIGITS for ch in text):
        return float("".join(str(_DIGITS[ch]) for ch in text))
    total = section = digit = 0
    for ch in text:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
        elif ch in _SMALL:
            section += (digit or 1) * _SMALL[ch]
            digit = 0
        else:
            total = (total + section + digit) * _BIG[ch]
            section = digit = 0
    return float(total + section + digit)


def _value(num: str) -> float | None:
    try:
        return float(num)
    except ValueError:
        return chinese_number(num)


def numbers_in(norm: str) -> set[tuple[float, str]]:
    """``(value, unit)`` of every number in normalised text, and ``(value, "")`` for each value."""
    out: set[tuple[float, str]] = set()
    for match in _NUMBER.finditer(norm):
        value = _value(match.group("num"))
        if value is not None:
            out.add((value, ""))
            if match.group("unit"):
                out.add((value, match.group("unit")))
    return out


def is_number_word(word: str) -> bool:
    """True for a word that is a figure (``十三``, ``十三个``, ``120座``): checked as a number span, by value."""
    match = _NUMBER.fullmatch(word)
    return match is not None and _value(match.group("num")) is not None


@lru_cache(maxsize=4096)
def _pos(norm: str) -> tuple[tuple[str, str], ...]:
    import jieba.posseg as pseg

    return tuple((pair.word, pair.flag) for pair in pseg.cut(norm))


def _known_word(word: str) -> bool:
    from rag.text.normalize import jieba_module

    return jieba_module().dt.FREQ.get(word, 0) > 0


def answer_spans(norm: str, question_norm: str, qtype: QuestionType | None) -> list[Span]:
    """The answer-bearing spans of a normalised claim that ``question_norm`` does not contain (see the module
    docstring), slot fillers marked."""
    slot_kinds = _SLOT_KINDS.get(qtype, set()) if qtype is not None else set()
    spans: dict[str, Span] = {}

    def add(span: Span) -> None:
        if span.text and span.text not in question_norm and span.text not in spans:
            spans[span.text] = span

    for match in _NUMBER.finditer(norm):
        num, unit = match.group("num"), match.group("unit") or ""
        value = _value(num)
        chinese = not num[0].isdigit()
        if value is None or (chinese and not unit) or (chinese and value < 2 and "number" not in slot_kinds):
            continue  # 统一, 一个 ...: words, not figures
        kind = "date" if unit in ("年", "月", "日", "号") else "number"
        text = num + unit
        if num in question_norm and (not unit or text in question_norm):
            continue
        add(Span(text, kind, kind in slot_kinds or (kind == "date" and "number" in slot_kinds), value, unit))
    for match in _TITLE.finditer(norm):
        add(Span(match.group(1) or match.group(2), "title"))
    for word, flag in _pos(norm):
        if len(word) < 2:
            continue
        if flag == "eng":
            add(Span(word, "latin"))
        elif flag in _NAME_FLAGS:
            kind = "person" if flag.startswith("nr") else _FLAG_KIND[flag]
            add(Span(word, kind, kind in slot_kinds or (kind == "place" and "org" in slot_kinds)))
        elif flag == "t" and "date" in slot_kinds:
            add(Span(word, "date", True))
        elif slot_kinds & {"person", "org", "place"} and _CJK.match(word) and not _known_word(word):
            add(Span(word, next(iter(slot_kinds & {"person", "org", "place"})), True))  # an unseen name
    return list(spans.values())


def _grams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)}


def _occurrences(span: Span, source_norm: str) -> Iterable[int]:
    """Start offsets in the source where ``span`` is stated (numbers by value and unit)."""
    if span.value is None:
        start = source_norm.find(span.text)
        while start >= 0:
            yield start
            start = source_norm.find(span.text, start + 1)
        return
    for match in _NUMBER.finditer(source_norm):
        if _value(match.group("num")) == span.value and (not span.unit or (match.group("unit") or "") == span.unit):
            yield match.start()


def span_supported(span: Span, source_norm: str, context: set[str], radius: int = LOCAL_RADIUS) -> bool:
    """Whether the source states ``span`` with the claim's ``context`` around it: within ``radius`` characters of
    an occurrence are at least :data:`MIN_LOCAL_SHARE` of the context bigrams (the claim's other content bigrams
    that occur anywhere in the source)."""
    for start in _occurrences(span, source_norm):
        if not context:
            return True
        window = _NON_CONTENT.sub("", source_norm[max(0, start - radius) : start + len(span.text) + radius])
        if len(context & _grams(window)) / len(context) >= MIN_LOCAL_SHARE:
            return True
    return False


__all__ = ["LOCAL_RADIUS", "MIN_LOCAL_SHARE", "SLOT_TYPES", "Span", "answer_spans", "chinese_number", "is_number_word",
           "numbers_in", "span_supported"]
