"""The pieces of the citation check (:mod:`rag.answering.citation_check`): citation markers, the cutting of LLM
text into units (a clause or sentence with its markers), the sources as normalised text, refusal phrases, and the
support of a claim by a source: its answer-bearing spans and IDF-weighted new words.

Word overlap alone lets ``黄道镇党委书记是张三[1]`` pass against a page naming another secretary: most of its words are
in the source, the one that answers is not. So a cited clause's *answer-bearing* spans must occur in the cited source
(both normalised as for search): names (jieba's :data:`rag.text.question.NAME_KINDS`, 2+ characters; Latin
terms); numbers with their units, compared by value and unit (``120座``, ``3.5平方公里``, ``十三个`` = ``13个``; dates
too: ``2021年``, ``12月29日``); quoted titles (``《…》``) and short quotations (``“…”``). A span the question already
contains is not checked (it is the subject, not the answer). Ablation: docs/evaluation.md, "LLM answers: fabrication".
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llama_index.core.schema import NodeWithScore

from rag.text.lexicon import alternation, words
from rag.text.normalize import normalize, normalize_cached, tokenize
from rag.text.question import NAME_KINDS, pos_tags

_CN = "零〇一二两三四五六七八九十百千万亿"
#: The question analysis's units and the calendar and other units a claim's figure may carry (``rag/lexicon/``).
_UNITS = alternation("units", "span_units")
_NUMBER = re.compile(rf"(?P<num>\d+(?:\.\d+)?|[{_CN}]+)\s*(?:余|多)?\s*(?P<unit>[万亿千百]?(?:{_UNITS}))?")
_TITLE = re.compile(r"《([^《》]{1,40})》|“([^“”]{2,20})”")
_DIGITS = {ch: i for i, ch in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
_SMALL = {"十": 10, "百": 100, "千": 1000}
_BIG = {"万": 10**4, "亿": 10**8}


@dataclass(frozen=True)
class Span:
    """An answer-bearing span of a claim (normalised ``text``) and its ``kind``; numbers carry ``value`` (Chinese
    numerals converted) and ``unit`` ("" when none follows)."""

    text: str
    kind: str  # person, place, org, other_name, latin, title, number, date
    value: float | None = None
    unit: str = ""


def number_value(text: str) -> float | None:
    """The value of an Arabic (``3.5``) or Chinese numeral (``一百二十`` -> 120, ``二〇二一`` -> 2021, ``十三`` -> 13) or None."""
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
    found = [(number_value(m.group("num")), m.group("unit") or "") for m in _NUMBER.finditer(norm)]
    values = {(value, "") for value, _ in found if value is not None}
    return values | {(value, unit) for value, unit in found if value is not None and unit}


def is_number_word(word: str) -> bool:
    """True for a word that is a figure (``十三``, ``十三个``, ``120座``): checked as a number span, by value."""
    match = _NUMBER.fullmatch(word)
    return match is not None and number_value(match.group("num")) is not None


def answer_spans(norm: str, question_norm: str) -> list[Span]:
    """The answer-bearing spans (see the module docstring) of a normalised claim that ``question_norm`` lacks."""
    spans: dict[str, Span] = {}

    def add(span: Span) -> None:
        if span.text and span.text not in question_norm and span.text not in spans:
            spans[span.text] = span

    for match in _NUMBER.finditer(norm):
        num, unit = match.group("num"), match.group("unit") or ""
        value = number_value(num)
        if value is None or (not num[0].isdigit() and (not unit or value < 2)):  # Chinese numerals: 2+ with a unit
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


#: IDF-weighted share of a unit's new words (not in the question) that must occur in the cited source. Fitted on
#: the training sets (bench/citation_fit.py; docs/evaluation.md, "LLM answers: fabrication"): the loosest value
#: whose substituted spans cited are not more, beyond noise, than at 1.0 (uniform weights needed a stricter one).
MIN_NEW_WORD_SHARE = 0.9

#: ``[1]``, ``[1,2]``, ``[1][2]``, ``【1】``, ``［1］``, ``[来源1]``, ``[资料 2]``, ``[1-3]``.
MARKER_RE = re.compile(r"[\[【［]\s*(?:来源|资料|source)?\s*(\d{1,3}(?:\s*[,，、\-–~]\s*\d{1,3})*)\s*[\]】］]", re.I)
_TERMINATORS = frozenset("。！？!?；;\n")
_CLAUSE = frozenset("，,、：:")
_CLOSERS = frozenset("”’」』）)》\"'")
_SPACE = frozenset(" \t\u3000")
_SOFT_SUFFIX = re.compile(r"[\s，,、：:]+$")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
#: Words that say where an answer comes from rather than what it says.
_FILLER = frozenset(words("claim_filler"))  # rag/lexicon/claim_filler.txt
_REFUSAL_RE = re.compile(r"未在已收录的报道中找到|(?:资料|报道|材料|来源|文中|原文)(?:中|里|内)?(?:并|均|都)?(?:没有|未|未曾|无|不)"
                         r"(?:提及|提到|涉及|包含|说明|记载|给出|披露|相关|找到|明确)|(?:没有|未能?|无法)(?:找到|查到|检索到)"
                         r"|无法(?:回答|确定|得知|判断)|不(?:包含|涉及)(?:相关|该|此|这)")


def parse_markers(group: str) -> list[int]:
    """Numbers of one marker's inside (``"1, 2"`` -> [1, 2]; ``"1-3"`` -> [1, 2, 3], ranges up to 10 wide)."""
    numbers: list[int] = []
    for part in re.split(r"\s*[,，、]\s*", group.strip()):
        bounds = re.split(r"\s*[\-–~]\s*", part)
        if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit():
            low, high = int(bounds[0]), int(bounds[1])
            numbers.extend(range(low, high + 1) if 0 <= high - low <= 10 else [low, high])
        elif part.isdigit():
            numbers.append(int(part))
    return numbers


#: The end of a text that could still grow into a marker (an opening bracket without its closing one).
_PARTIAL_MARKER = re.compile(r"[\[【［]\s*(?:来源|来|资料|资|s|so|sou|sour|sourc|source)?\s*[\d\s,，、\-–~]*\Z", re.I)


def _chars(*sets: frozenset[str]) -> str:
    return "".join(re.escape(ch) for ch in sorted(frozenset().union(*sets)))


#: A unit's end (:func:`split_units`); markers apart by spaces only make one group, a marker joins the sentence before.
_UNIT_END = re.compile(
    rf"(?P<group>{MARKER_RE.pattern}(?:[{_chars(_SPACE)}]*{MARKER_RE.pattern})*)"
    rf"(?P<run>[{_chars(_TERMINATORS, _CLAUSE, _CLOSERS, _SPACE)}]*)"
    rf"|[{_chars(_TERMINATORS)}][{_chars(_TERMINATORS, _CLOSERS, _SPACE)}]*+(?!{MARKER_RE.pattern})", re.I)


def split_units(text: str, final: bool) -> tuple[list[str], str]:
    """Cut ``text`` into complete units and the incomplete rest (``final``: the text is complete, rest is "").

    A unit ends after a marker group and the punctuation that follows it, or after sentence-ending punctuation
    (``。！？；`` or a newline, with closing quotes) that no marker follows. ``"".join(units) + rest == text``.
    Unless ``final``, units that what follows could still change are held back: one ending where the text ends
    (unless a marker group and a sentence end close it), and one ending after, or right at (apart by spaces only),
    a marker still arriving at the end of the text (an opening bracket without its closing one).
    """
    units: list[str] = []
    start, n = 0, len(text)
    partial = _PARTIAL_MARKER.search(text, max(0, n - 16))  # a marker still arriving, at most 16 characters
    arriving = partial.start() if partial else n
    for match in _UNIT_END.finditer(text):
        end, run = match.end(), match.group("run")
        if not final and (end > arriving or (end == arriving < n and not (run or "").strip(" \t\u3000"))
                          or (end == n and not (run and _TERMINATORS & set(run)))):
            break
        units.append(text[start:end])
        start = end
    if final and start < n:
        units.append(text[start:])
        start = n
    return units, text[start:]


@dataclass
class Unit:
    """A parsed unit: ``text`` before its marker group, the cited ``markers`` (as written), ``tail`` after them."""

    text: str
    markers: list[int]
    tail: str

    @classmethod
    def parse(cls, raw: str) -> Unit:
        matches = list(MARKER_RE.finditer(raw))
        if not matches:
            return cls(raw, [], "")
        numbers = list(dict.fromkeys(n for match in matches for n in parse_markers(match.group(1))))  # first use
        return cls(raw[: matches[0].start()], numbers, MARKER_RE.sub("", raw[matches[0].end() :]))

    def render(self, numbers: Sequence[int]) -> str:
        """The unit with ``numbers`` as its markers (none: the text and tail only)."""
        return self.text + "".join(f"[{n}]" for n in numbers) + self.tail


def source_text(hit: NodeWithScore) -> str:
    """A source as the checker sees it: title + text, normalised as for search (thousands separators removed)."""
    return _THOUSANDS.sub("", normalize_cached(str(hit.node.metadata.get("title", "")) + "\n" + hit.node.get_content()))


class Claim:
    """What a unit asserts: its answer-bearing spans and its new words (jieba words of 2+ characters that the
    question does not contain; figures are spans, words of :data:`_FILLER` say where the answer comes from)."""

    def __init__(self, text: str, question_norm: str, question_words: frozenset[str]) -> None:
        norm = _THOUSANDS.sub("", normalize(MARKER_RE.sub("", text)))
        self.spans: list[Span] = answer_spans(norm, question_norm)
        self.new_words = list(dict.fromkeys(
            word for word in tokenize(norm, normalized=True) if (len(word) >= 2 or word.isdigit())
            and not (word in question_words or word in question_norm or word in _FILLER or is_number_word(word))))

    def supported_by(self, source: str, idf: Callable[[str], float] | None = None) -> bool:
        """Every answer-bearing span is stated in ``source`` (:func:`source_text`), and :data:`MIN_NEW_WORD_SHARE` or
        more of the new words occur in it, weighted by ``idf`` (the corpus's inverse document frequency; else uniform)."""
        weights = {word: max(idf(word), 1e-6) if idf else 1.0 for word in self.new_words}
        found = sum(weight for word, weight in weights.items() if word in source)
        return all(stated(span, source) for span in self.spans) and found >= MIN_NEW_WORD_SHARE * sum(weights.values())


def is_refusal(text: str) -> bool:
    """True when ``text`` says the reports do not hold the answer (the fixed sentence or a paraphrase)."""
    return bool(_REFUSAL_RE.search(normalize(text)))
