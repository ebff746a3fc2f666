"""Post-generation citation check: keep only what the sources support, renumber citations in order of first use.

The LLM's text is cut into *units*: a clause or sentence ending with its citation markers (``…120座[1]，``), or a
sentence without markers. Each unit is checked against the sources, as it completes, so a streamed answer can be
shown verified piece by piece (:class:`StreamVerifier`):

1. Markers that point to no source (``[7]`` with 5 sources) are removed.
2. A unit with markers is *supported* by a cited source when (a) every number in it (digits, e.g. ``120``,
   ``2023``) occurs in the source or in the question, (b) at least :data:`MIN_BIGRAM_OVERLAP` of its character
   bigrams occur in the source (title + text, normalised as for search), (c) at least :data:`MIN_NEW_WORD_SHARE`
   (weighted by corpus IDF) of its *new words* occur in the source: jieba words of 2+ characters or numbers that
   the question does not contain, (d) at least :data:`MIN_TOPIC_SHARE` of the bigrams it shares with the question
   (its subject) occur in the source, and (e) its *answer-bearing spans* (names, numbers with units, dates,
   titles, Latin terms: :mod:`rag.answering.claim_spans`) occur in the source near the rest of the clause
   (``黄道镇党委书记是张三[1]`` is not supported by a page naming 王进伟). Markers of sources that do not support
   the unit are removed; when none supports it, its marker is re-attached to the source that supports it best,
   and when no source does, the unit is dropped.
3. A unit without markers is kept as it is when some source supports it, when it says the reports do not hold
   the answer, or when it is connective text (fewer than :data:`MIN_CLAIM_CHARS` characters, no digits); else
   it is dropped.
4. *Slot fillers*: when the question asks for a name, place, organisation, number or date (谁/哪里/哪家/多少/何时),
   nothing is released before a unit holding such a span is verified, and when a unit holding one is supported
   by no source before that, the whole answer is not used (it becomes the extractive answer): a wrong name is
   never shown as cited, not even beside true sentences.
5. Citations are renumbered 1.. in order of first use; an answer with no supported citation left is not used:
   it becomes the not-found answer when the model said the reports do not hold the answer, and the extractive
   answer otherwise (see :mod:`rag.answering.generate`).

Character n-gram overlap as a cheap attribution check follows the lexical-overlap baselines of citation
evaluation (ALCE, Gao et al., EMNLP 2023; Rashkin et al. 2023); the span tests catch the typical hallucination of a
right-sounding sentence with a wrong figure or name (measured: docs/evaluation.md, "LLM answers: fabrication").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from llama_index.core.schema import NodeWithScore

from rag.answering.claim_spans import SLOT_TYPES
from rag.answering.claims import (
    _CLAUSE,
    _NON_CONTENT,
    _SOFT_SUFFIX,
    MARKER_RE,
    Claim,
    SourceText,
    Unit,
    _bigrams,
    _prepare,
    is_refusal,
    split_units,
)
from rag.answering.question import question_type
from rag.answering.sources import citation_for
from rag.models import Citation
from rag.text.normalize import tokenize


@dataclass
class CheckReport:
    """What the check changed, for the log: counts of markers and units."""

    invalid_markers: int = 0
    unsupported_markers: int = 0
    reattached: int = 0
    dropped_units: int = 0
    kept_units: int = 0
    fabricated_slots: int = 0

    def __str__(self) -> str:
        return (f"kept {self.kept_units} unit(s), dropped {self.dropped_units}, markers: {self.invalid_markers} to no "
                f"source, {self.unsupported_markers} unsupported, {self.reattached} re-attached"
                + (", the slot filler unsupported" if self.fabricated_slots else ""))


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
        self._qtype = question_type(self._question_norm)
        #: The question asks for a name, number or date: hold the text until a unit giving one is verified.
        self._slotted = self._qtype in SLOT_TYPES
        self._slot_verified = False
        self._held_cited = False
        self.fabricated = False
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
        if self._held_cited and not self.fabricated:  # cited text without the kind of span asked for
            out += self._flush()
        if self._pieces and _CLAUSE & set(self._suffix):
            self._pieces.append("。")
            out.append("。")
        self._suffix = ""
        return out

    def result(self) -> CheckResult:
        """The outcome; call after :meth:`finish`."""
        text = "".join(self._pieces)
        if self._pieces and not self.fabricated:
            return CheckResult("cited", text, self.cited, self.report)
        return CheckResult("not_found" if self._refusal else "unsupported", "", [], self.report)

    def citations(self) -> list[Citation]:
        """The cited sources as :class:`Citation` objects, numbered in order of first use."""
        out = []
        for index in self.cited:
            out.append(citation_for(self._numbers[index], self.nodes[index]))
        return out

    # --- internals ------------------------------------------------------------------------------------------------
    def _process(self, units: list[str]) -> list[str]:
        out: list[str] = []
        for raw in units:
            if self.fabricated:
                break  # the answer will not be used
            out += self._check(Unit.parse(raw))
        return out

    def _unsupported(self, claim: Claim) -> list[str]:
        """A unit no source supports is dropped; one holding the slot filler condemns the answer."""
        self.report.dropped_units += 1
        if claim.has_slot and not self._slot_verified:
            self.fabricated = True
            self.report.fabricated_slots += 1
        return []

    def _flush(self) -> list[str]:
        held, self._held = self._held, []
        self._held_cited = False
        out: list[str] = []
        for piece in held:
            out += self._release(piece)
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
        claim = Claim(unit.text, self._question_norm, self._question_words, self._question_grams, self._qtype)
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
                    return self._unsupported(claim)
                kept = [best[0][1]]
                report.reattached += 1
            for index in kept:
                self._numbers.setdefault(index, len(self._numbers) + 1)
            report.kept_units += 1
            rendered = unit.render([self._numbers[i] for i in kept])
            self._slot_verified = self._slot_verified or claim.has_slot
            if self._slotted and not self._slot_verified:
                self._held.append(rendered)
                self._held_cited = True
                return []
            return self._flush() + self._release(rendered)
        if self._best(claim, range(len(self._sources))):
            self._slot_verified = self._slot_verified or claim.has_slot
            return self._keep(unit.render([]))
        return self._unsupported(claim)

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
