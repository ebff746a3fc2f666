"""The pieces of the citation check (:mod:`rag.answering.citation_check`): citation markers, the cutting of LLM
text into units (a clause or sentence with its markers), the sources as normalised text, and the support of a
claim by a source (numbers, character bigrams, IDF-weighted new words, subject, answer-bearing spans:
:mod:`rag.answering.claim_spans`); refusal phrases.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llama_index.core.schema import NodeWithScore

from rag.answering.claim_spans import Span, answer_spans, is_number_word, span_supported
from rag.answering.question import QuestionType
from rag.text.lexicon import words
from rag.text.normalize import normalize, normalize_cached, tokenize

#: Share of a unit's character bigrams that must occur in the cited source.
MIN_BIGRAM_OVERLAP = 0.4
#: Share of a unit's new words (not in the question) that must occur in the cited source.
MIN_NEW_WORD_SHARE = 0.6
#: Share of a unit's bigrams shared with the question (its topic: who or what is asked about) that must occur in
#: the cited source, so that a true statement about another subject (黄道镇's party secretary when 示范区's was asked
#: for) does not count as support.
MIN_TOPIC_SHARE = 0.6
#: Units with fewer content characters than this and no digits are connective text, not claims.
MIN_CLAIM_CHARS = 4

#: ``[1]``, ``[1,2]``, ``[1][2]``, ``【1】``, ``［1］``, ``[来源1]``, ``[资料 2]``, ``[1-3]``.
MARKER_RE = re.compile(r"[\[【［]\s*(?:来源|资料|source)?\s*(\d{1,3}(?:\s*[,，、\-–~]\s*\d{1,3})*)\s*[\]】］]", re.I)
_OPENERS = "[【［"
_TERMINATORS = frozenset("。！？!?；;\n")
_CLAUSE = frozenset("，,、：:")
_CLOSERS = frozenset("”’」』）)》\"'")
_SPACE = frozenset(" \t\u3000")
_SOFT_SUFFIX = re.compile(r"[\s，,、：:]+$")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_NON_CONTENT = re.compile(r"[\W_]+")
#: Words that say where an answer comes from rather than what it says.
_FILLER = frozenset(words("claim_filler"))  # rag/lexicon/claim_filler.txt
_REFUSAL_RE = re.compile(
    r"未在已收录的报道中找到|(?:资料|报道|材料|来源|文中|原文)(?:中|里|内)?(?:并|均|都)?(?:没有|未|未曾|无|不)"
    r"(?:提及|提到|涉及|包含|说明|记载|给出|披露|相关|找到|明确)|(?:没有|未能?|无法)(?:找到|查到|检索到)"
    r"|无法(?:回答|确定|得知|判断)|不(?:包含|涉及)(?:相关|该|此|这)"
)


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


def _partial_marker(text: str, pos: int) -> bool:
    """True when ``text[pos:]`` (starting with an opening bracket) could still grow into a marker."""
    rest = text[pos:]
    return len(rest) <= 16 and not re.search(r"[\]】］]", rest) and bool(
        re.fullmatch(r"[\[【［]\s*(?:来源|来|资料|资|s|so|sou|sour|sourc|source)?\s*[\d\s,，、\-–~]*", rest, re.I)
    )


def split_units(text: str, final: bool) -> tuple[list[str], str]:
    """Cut ``text`` into complete units and the incomplete rest (``final``: the text is complete, rest is "").

    A unit ends after a marker group and the punctuation that follows it, or after sentence-ending punctuation
    (``。！？；`` or a newline, with closing quotes) that no marker follows. ``"".join(units) + rest == text``.
    """
    units: list[str] = []
    n = len(text)
    start = i = 0
    while i < n:
        ch = text[i]
        if ch in _OPENERS:
            match = MARKER_RE.match(text, i)
            if match is None:
                if not final and _partial_marker(text, i):
                    break
                i += 1
                continue
            j = match.end()
            while True:  # more markers, possibly after spaces
                k = j
                while k < n and text[k] in _SPACE:
                    k += 1
                nxt = MARKER_RE.match(text, k) if k < n and text[k] in _OPENERS else None
                if nxt is None:
                    break
                j = nxt.end()
            if not final and j < n and text[k] in _OPENERS and _partial_marker(text, k):
                break  # "…[1][7": another marker is arriving
            k = j
            while k < n and (text[k] in _TERMINATORS or text[k] in _CLAUSE or text[k] in _CLOSERS or text[k] in _SPACE):
                k += 1
            if k >= n and not final and not _TERMINATORS & set(text[j:k]):
                break  # punctuation may follow; after "[1]。" the unit is complete
            units.append(text[start:k])
            start = i = k
            continue
        if ch in _TERMINATORS:
            k = i
            while k < n and (text[k] in _TERMINATORS or text[k] in _CLOSERS or text[k] in _SPACE):
                k += 1
            if k >= n and not final:
                break  # a marker may follow the full stop
            if k < n and text[k] in _OPENERS:
                if MARKER_RE.match(text, k):
                    i = k  # "…。[1]": the marker belongs to this sentence
                    continue
                if not final and _partial_marker(text, k):
                    break
            units.append(text[start:k])
            start = i = k
            continue
        i += 1
    rest = text[start:]
    if final and rest:
        units.append(rest)
        rest = ""
    return units, rest


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
        numbers: list[int] = []
        for match in matches:
            for number in parse_markers(match.group(1)):
                if number not in numbers:
                    numbers.append(number)
        return cls(raw[: matches[0].start()], numbers, MARKER_RE.sub("", raw[matches[0].end() :]))

    def render(self, numbers: Sequence[int]) -> str:
        """The unit with ``numbers`` as its markers (none: the text and tail only)."""
        return self.text + "".join(f"[{n}]" for n in numbers) + self.tail


def _prepare(text: str) -> str:
    return _THOUSANDS.sub("", normalize(text))


def _bigrams(content: str) -> set[str]:
    return {content[i : i + 2] for i in range(len(content) - 1)}


@dataclass
class SourceText:
    """A source as the checker sees it: normalised title + text, its bigrams."""

    norm: str
    grams: set[str]

    @classmethod
    def of(cls, hit: NodeWithScore) -> SourceText:
        title = str(hit.node.metadata.get("title", ""))
        norm = _THOUSANDS.sub("", normalize_cached(title + "\n" + hit.node.get_content()))
        return cls(norm, _bigrams(_NON_CONTENT.sub("", norm)))

    def has_number(self, number: str) -> bool:
        return re.search(rf"(?<![\d.]){re.escape(number)}(?![\d])", self.norm) is not None


class Claim:
    """What a unit asserts: its content characters, bigrams, numbers and new words (not in ``question``)."""

    def __init__(
        self, text: str, question_norm: str, question_words: frozenset[str], question_grams: frozenset[str] = frozenset(),
        qtype: QuestionType | None = None,
    ) -> None:
        norm = _prepare(MARKER_RE.sub("", text))
        self.content = _NON_CONTENT.sub("", norm)
        self.grams = _bigrams(self.content)
        self.topic = self.grams & question_grams
        self.numbers = [n for n in _NUMBER.findall(norm) if n not in question_norm]
        #: Answer-bearing spans (names, numbers with units, dates, titles, Latin terms), slot fillers marked.
        self.spans: list[Span] = answer_spans(norm, question_norm, qtype) if self.content else []
        words: dict[str, None] = {}
        for word in tokenize(norm, normalized=True):
            if word in question_words or word in question_norm or word in _FILLER or is_number_word(word):
                continue
            if len(word) >= 2 or word.isdigit():
                words.setdefault(word, None)
        self.new_words = list(words)

    @property
    def has_slot(self) -> bool:
        """True when the claim holds a span of the kind the question asks for (谁 -> a name, 多少 -> a number)."""
        return any(span.slot for span in self.spans)

    def spans_supported(self, source: SourceText) -> bool:
        """Every answer-bearing span occurs in ``source``, near the rest of the claim."""
        radius = max(40, len(self.content))
        return all(
            span_supported(span, source.norm, (self.grams & source.grams) - _bigrams(_NON_CONTENT.sub("", span.text)),
                           radius)
            for span in self.spans
        )

    @property
    def is_connective(self) -> bool:
        """Too short to assert anything (fewer than MIN_CLAIM_CHARS content characters, no digits)."""
        return len(self.content) < MIN_CLAIM_CHARS and not any(ch.isdigit() for ch in self.content)

    def support(self, source: SourceText, idf: Callable[[str], float] | None = None) -> float | None:
        """How well ``source`` supports the claim (0..1, higher is better), or None when it does not.

        ``idf`` weights the new words (rare words such as names and places count more than 实现 or 网络); without
        it every word counts the same."""
        if any(not source.has_number(n) for n in self.numbers):
            return None
        if not self.grams:
            return None
        overlap = len(self.grams & source.grams) / len(self.grams)
        if self.topic and len(self.topic & source.grams) / len(self.topic) < MIN_TOPIC_SHARE:
            return None
        if self.new_words:
            weights = {w: max(idf(w), 1e-6) if idf else 1.0 for w in self.new_words}
            words = sum(v for w, v in weights.items() if w in source.norm) / sum(weights.values())
        else:  # nothing new but figures (checked as spans, by value) or nothing new at all
            words = 1.0 if self.spans else overlap
        if overlap >= MIN_BIGRAM_OVERLAP and words >= MIN_NEW_WORD_SHARE and self.spans_supported(source):
            return (overlap + words) / 2
        return None


def is_refusal(text: str) -> bool:
    """True when ``text`` says the reports do not hold the answer (the fixed sentence or a paraphrase)."""
    return bool(_REFUSAL_RE.search(normalize(text)))
