"""Post-generation citation check: keep only what the sources support, renumber citations in order of first use.

The LLM's text is cut into *units*: a clause or sentence ending with its citation markers (``…120座[1]，``), or a
sentence without markers. Each unit is checked against the sources, as it completes, so a streamed answer can be
shown verified piece by piece (:class:`StreamVerifier`):

1. Markers that point to no source (``[7]`` with 5 sources) are removed.
2. A unit with markers is *supported* by a cited source when (a) every number in it (digits, e.g. ``120``,
   ``2023``) occurs in the source or in the question, (b) at least :data:`MIN_BIGRAM_OVERLAP` of its character
   bigrams occur in the source (title + text, normalised as for search), (c) at least :data:`MIN_NEW_WORD_SHARE`
   (weighted by corpus IDF) of its *new words* occur in the source: jieba words of 2+ characters or numbers that
   the question does not contain, i.e. the answer it gives, and (d) at least :data:`MIN_TOPIC_SHARE` of the
   bigrams it shares with the question (its subject) occur in the source. Markers of sources that do not support
   the unit are removed; when none supports it, its marker is re-attached to the source that supports it best,
   and when no source does, the unit is dropped (it states something the sources do not).
3. A unit without markers is kept as it is when some source supports it, when it says the reports do not hold
   the answer, or when it is connective text (fewer than :data:`MIN_CLAIM_CHARS` characters, no digits); else
   it is dropped.
4. Citations are renumbered 1.. in order of first use; an answer with no supported citation left is not used:
   it becomes the not-found answer when the model said the reports do not hold the answer, and the extractive
   answer otherwise (see :mod:`rag.generate`).

Character n-gram overlap as a cheap attribution check follows the lexical-overlap baselines of citation
evaluation (e.g. ALCE, Gao et al., EMNLP 2023, and "attributable to identified sources", Rashkin et al. 2023);
the number and new-word tests catch the typical hallucination of a right-sounding sentence with a wrong figure or
name. Thresholds were set on the sample pages (see tests/test_llm_citations.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from llama_index.core.schema import NodeWithScore

from rag.models import Citation
from rag.textnorm import normalize, normalize_cached, tokenize

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
_FILLER = frozenset({
    "根据", "依据", "报道", "资料", "来源", "显示", "表示", "指出", "提到", "提及", "介绍", "相关",
    "内容", "信息", "其中", "此外", "另外", "同时", "目前", "以上", "上述", "其他", "包括", "主要",
    "方面", "情况", "进行", "开展", "有关", "一些", "已经", "共计", "合计", "总计", "分别", "约为",
    "达到",
})
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
        self, text: str, question_norm: str, question_words: frozenset[str], question_grams: frozenset[str] = frozenset()
    ) -> None:
        norm = _prepare(MARKER_RE.sub("", text))
        self.content = _NON_CONTENT.sub("", norm)
        self.grams = _bigrams(self.content)
        self.topic = self.grams & question_grams
        self.numbers = [n for n in _NUMBER.findall(norm) if n not in question_norm]
        words: dict[str, None] = {}
        for word in tokenize(norm, normalized=True):
            if word in question_words or word in question_norm or word in _FILLER:
                continue
            if len(word) >= 2 or word.isdigit():
                words.setdefault(word, None)
        self.new_words = list(words)

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
        else:
            words = overlap
        if overlap >= MIN_BIGRAM_OVERLAP and words >= MIN_NEW_WORD_SHARE:
            return (overlap + words) / 2
        return None


def is_refusal(text: str) -> bool:
    """True when ``text`` says the reports do not hold the answer (the fixed sentence or a paraphrase)."""
    return bool(_REFUSAL_RE.search(normalize(text)))


@dataclass
class CheckReport:
    """What the check changed, for the log: counts of markers and units."""

    invalid_markers: int = 0
    unsupported_markers: int = 0
    reattached: int = 0
    dropped_units: int = 0
    kept_units: int = 0

    def __str__(self) -> str:
        return (f"kept {self.kept_units} unit(s), dropped {self.dropped_units}, markers: {self.invalid_markers} to no "
                f"source, {self.unsupported_markers} unsupported, {self.reattached} re-attached")


@dataclass
class CheckResult:
    """The outcome of a finished check.

    ``outcome``: ``"cited"`` (``text`` is the verified answer, ``cited`` the 0-based source indices numbered 1..
    in order of first use), ``"not_found"`` (no supported citation, and the model said the reports do not hold the
    answer) or ``"unsupported"`` (no supported citation otherwise).
    """

    outcome: str
    text: str
    cited: list[int]
    report: CheckReport = field(default_factory=CheckReport)


class StreamVerifier:
    """Checks an LLM answer as it streams and releases verified text with final citation numbers.

    ``feed(delta)`` and ``finish()`` return the verified pieces that can be shown now. Nothing is released before
    the first unit with a supported citation (an answer that ends up with none is replaced as a whole), and a
    released piece is never taken back, so ``"".join(all pieces) == result().text``. Trailing clause punctuation
    and spaces are held back until more text follows; a text that would end on "，" ends on "。" instead.

    Args:
        nodes: the sources, numbered 1..len(nodes) in the prompt.
        question: the (standalone) question that was asked; its words do not count as the answer's words.
        idf: inverse document frequency of a normalised word in the corpus (the BM25 index's), to weight new words.
    """

    def __init__(
        self, nodes: Sequence[NodeWithScore], question: str, idf: Callable[[str], float] | None = None
    ) -> None:
        self._idf = idf
        self.nodes = list(nodes)
        self._sources = [SourceText.of(hit) for hit in self.nodes]
        self._question_norm = _prepare(question)
        self._question_words = frozenset(tokenize(self._question_norm, normalized=True, keep_stopwords=True))
        self._question_grams = frozenset(_bigrams(_NON_CONTENT.sub("", self._question_norm)))
        self._buffer = ""
        self._held: list[str] = []
        self._suffix = ""
        self._pieces: list[str] = []
        self._numbers: dict[int, int] = {}  # 0-based source index -> citation number
        self._refusal = False
        self._finished = False
        self.report = CheckReport()

    @property
    def committed(self) -> bool:
        """True once verified text has been released (a retry or a fallback would contradict it)."""
        return bool(self._pieces)

    @property
    def cited(self) -> list[int]:
        """0-based indices of the sources cited so far, in order of first use (citation 1 first)."""
        return sorted(self._numbers, key=self._numbers.__getitem__)

    def feed(self, delta: str) -> list[str]:
        """Add streamed text; returns the verified pieces released by it (often none)."""
        self._buffer += delta
        units, self._buffer = split_units(self._buffer, final=False)
        return self._process(units)

    def finish(self, complete: bool = True) -> list[str]:
        """The stream ended: check what is left and return the last pieces. ``complete`` False (the stream broke
        off) drops the unfinished last unit instead of checking it."""
        if self._finished:
            return []
        self._finished = True
        units, self._buffer = split_units(self._buffer, final=complete)
        self._buffer = ""
        out = self._process(units)
        if self._pieces and _CLAUSE & set(self._suffix):
            self._pieces.append("。")
            out.append("。")
        self._suffix = ""
        return out

    def result(self) -> CheckResult:
        """The outcome; call after :meth:`finish`."""
        text = "".join(self._pieces)
        if self._pieces:
            return CheckResult("cited", text, self.cited, self.report)
        return CheckResult("not_found" if self._refusal else "unsupported", "", [], self.report)

    def citations(self) -> list[Citation]:
        """The cited sources as :class:`Citation` objects, numbered in order of first use."""
        out = []
        for index in self.cited:
            hit = self.nodes[index]
            meta = hit.node.metadata
            out.append(Citation(
                id=self._numbers[index], title=str(meta.get("title", "")), source=str(meta.get("source", "")),
                article_id=str(meta.get("article_id", "")), chunk_id=hit.node.node_id, text=hit.node.get_content(),
                score=float(hit.score or 0.0),
            ))
        return out

    # --- internals ------------------------------------------------------------------------------------------------
    def _process(self, units: list[str]) -> list[str]:
        out: list[str] = []
        for raw in units:
            out += self._check(Unit.parse(raw))
        return out

    def _best(self, claim: Claim, candidates: Sequence[int]) -> list[tuple[float, int]]:
        scored = []
        for index in candidates:
            score = claim.support(self._sources[index], self._idf)
            if score is not None:
                scored.append((score, index))
        return sorted(scored, key=lambda pair: (-pair[0], pair[1]))

    def _check(self, unit: Unit) -> list[str]:
        report = self.report
        valid = [n - 1 for n in unit.markers if 1 <= n <= len(self._sources)]
        report.invalid_markers += len(unit.markers) - len(valid)
        if not unit.text.strip():  # markers with nothing before them: keep only the punctuation after them
            report.invalid_markers += len(valid)
            return self._keep(unit.tail) if unit.tail.strip() else []
        if is_refusal(unit.text):
            self._refusal = True
            report.unsupported_markers += len(valid)
            return self._keep(unit.render([]))
        claim = Claim(unit.text, self._question_norm, self._question_words, self._question_grams)
        if claim.is_connective:
            report.unsupported_markers += len(valid)
            return self._keep(unit.render([]))
        if valid:
            supported = {index for _, index in self._best(claim, valid)}
            kept = [index for index in valid if index in supported]
            report.unsupported_markers += len(valid) - len(kept)
            if not kept:
                best = self._best(claim, range(len(self._sources)))
                if not best:
                    report.dropped_units += 1
                    return []
                kept = [best[0][1]]
                report.reattached += 1
            for index in kept:
                self._numbers.setdefault(index, len(self._numbers) + 1)
            report.kept_units += 1
            held, self._held = self._held, []
            out: list[str] = []
            for piece in held:
                out += self._release(piece)
            return out + self._release(unit.render([self._numbers[i] for i in kept]))
        if self._best(claim, range(len(self._sources))):
            return self._keep(unit.render([]))
        report.dropped_units += 1
        return []

    def _keep(self, rendered: str) -> list[str]:
        """An unmarked unit: shown after the first cited unit, held until then."""
        self.report.kept_units += 1
        if self._pieces:
            return self._release(rendered)
        self._held.append(rendered)
        return []

    def _release(self, rendered: str) -> list[str]:
        piece = self._suffix + rendered
        if not self._pieces:
            piece = piece.lstrip()
        match = _SOFT_SUFFIX.search(piece)
        self._suffix = match.group(0) if match else ""
        body = piece[: match.start()] if match else piece
        if not body:
            return []
        self._pieces.append(body)
        return [body]


def check_answer(
    text: str, nodes: Sequence[NodeWithScore], question: str, idf: Callable[[str], float] | None = None
) -> tuple[CheckResult, list[Citation]]:
    """Check a complete (non-streamed) LLM answer: the result and its renumbered citations."""
    verifier = StreamVerifier(nodes, question, idf)
    verifier.feed(text)
    verifier.finish()
    return verifier.result(), verifier.citations()


__all__ = [
    "MARKER_RE",
    "CheckReport",
    "CheckResult",
    "Claim",
    "StreamVerifier",
    "Unit",
    "check_answer",
    "is_refusal",
    "split_units",
]
