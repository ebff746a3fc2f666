"""Answer-bearing spans of a claim, and whether a source states them (the span test of
:mod:`rag.answering.citation_check`).

Word overlap alone lets ``黄道镇党委书记是张三[1]`` pass against a page naming another secretary: most of its words are
in the source, the one that answers is not. So a cited clause's *answer-bearing* spans must occur in the cited source
(both normalised as for search: traditional/simplified, full-width):

- names: jieba part-of-speech ``nr`` (person), ``ns`` (place), ``nt`` (organisation), ``nz`` (other proper noun),
  2+ characters; Latin-letter terms (``eng``);
- numbers with their units (``120座``, ``3.5平方公里``, Chinese numerals ``十三个`` = ``13个``), which covers dates
  (``2021年``, ``12月29日``): compared by value and unit;
- quoted titles (``《…》``) and short quotations (``“…”``).

A span the question already contains is not checked (it is the subject, not the answer). Switching this test off
lets 55-65 % of the substituted spans of the fabrication benchmark through on the training sets
(docs/evaluation.md, "LLM answers: fabrication").
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

from rag.answering.question import NAME_KINDS, pos_tags
from rag.text.lexicon import alternation

_CN = "零〇一二两三四五六七八九十百千万亿"
#: The question analysis's units and the calendar and other units a claim's figure may carry (``rag/lexicon/``).
_UNITS = alternation("units", "span_units")
_NUMBER = re.compile(
    rf"(?P<num>\d+(?:\.\d+)?|[{_CN}]+)\s*(?:余|多)?\s*(?P<unit>[万亿千百]?(?:{_UNITS}))?"
)
_TITLE = re.compile(r"《([^《》]{1,40})》|“([^“”]{2,20})”")
_DIGITS = {ch: i for i, ch in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
_SMALL = {"十": 10, "百": 100, "千": 1000}
_BIG = {"万": 10**4, "亿": 10**8}


@dataclass(frozen=True)
class Span:
    """An answer-bearing span of a claim (normalised ``text``) and its ``kind``.

    Numbers carry ``value`` (Chinese numerals converted) and ``unit`` ("" when none follows)."""

    text: str
    kind: str  # person, place, org, other_name, latin, title, number, date
    value: float | None = None
    unit: str = ""


def number_value(text: str) -> float | None:
    """The value of an Arabic numeral (``3.5``) or a Chinese one (``一百二十`` -> 120, ``二〇二一`` -> 2021, ``十三`` ->
    13), or None."""
    with contextlib.suppress(ValueError):
        return float(text)
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


def numbers_in(norm: str) -> set[tuple[float, str]]:
    """``(value, unit)`` of every number in normalised text, and ``(value, "")`` for each value."""
    out: set[tuple[float, str]] = set()
    for match in _NUMBER.finditer(norm):
        value = number_value(match.group("num"))
        if value is not None:
            out.add((value, ""))
            if match.group("unit"):
                out.add((value, match.group("unit")))
    return out


def is_number_word(word: str) -> bool:
    """True for a word that is a figure (``十三``, ``十三个``, ``120座``): checked as a number span, by value."""
    match = _NUMBER.fullmatch(word)
    return match is not None and number_value(match.group("num")) is not None


def answer_spans(norm: str, question_norm: str) -> list[Span]:
    """The answer-bearing spans of a normalised claim that ``question_norm`` does not contain (see the module
    docstring)."""
    spans: dict[str, Span] = {}

    def add(span: Span) -> None:
        if span.text and span.text not in question_norm and span.text not in spans:
            spans[span.text] = span

    for match in _NUMBER.finditer(norm):
        num, unit = match.group("num"), match.group("unit") or ""
        value = number_value(num)
        chinese = not num[0].isdigit()
        if value is None or (chinese and (not unit or value < 2)):
            continue  # 统一, 一个 ...: words, not figures
        if num in question_norm and (not unit or num + unit in question_norm):
            continue
        add(Span(num + unit, "date" if unit in ("年", "月", "日", "号") else "number", value, unit))
    for match in _TITLE.finditer(norm):
        add(Span(match.group(1) or match.group(2), "title"))
    for word, flag in pos_tags(norm):
        if len(word) >= 2 and (flag == "eng" or flag in NAME_KINDS):
            add(Span(word, NAME_KINDS.get(flag, "latin")))
    return list(spans.values())


def stated(span: Span, source_norm: str) -> bool:
    """Whether normalised source text states ``span`` (numbers by value, and by unit when the span has one)."""
    if span.value is None:
        return span.text in source_norm
    return any(number_value(m.group("num")) == span.value and (not span.unit or (m.group("unit") or "") == span.unit)
               for m in _NUMBER.finditer(source_norm))
