"""Citations (:func:`citation_for`, numbered alike by both answerers; :func:`with_copies`: the other printings of
each cited story, ``另见``) and the post-generation check of an LLM answer: keep only what the sources support,
renumber citations in order of first use.

The LLM's text is cut into *units* (a clause or sentence ending with its citation markers, ``…120座[1]，``, or a
sentence without markers), each checked as it completes (:class:`StreamVerifier`):

1. Markers that point to no source (``[7]`` with 5 sources) are removed.
2. A unit with markers keeps those of its cited sources that support it (:meth:`rag.answering.claims.Claim.
   supported_by`); when none does, its marker moves to the first source that does, else the unit is dropped.
3. A unit without markers is dropped, unless it says the reports do not hold the answer (shown only after a
   verified unit).
4. Citations are renumbered 1.. in order of first use (an answer left with none: :mod:`rag.answering.generate`).

Criteria kept and deleted: docs/evaluation.md, "LLM answers: fabrication" (bench/citation_fit.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from llama_index.core.schema import NodeWithScore

from rag.answering.claims import _CLAUSE, _SOFT_SUFFIX, Claim, Unit, is_refusal, source_text, split_units
from rag.models import Article, Citation, StoryCopy
from rag.text.normalize import normalize, tokenize


def citation_for(number: int, hit: NodeWithScore) -> Citation:
    """Citation ``number`` for a retrieved chunk, carrying the article's ``published``/``publication``/``page``/``story_id``."""
    meta = hit.node.metadata
    known: dict[str, Any] = {key: str(meta[key]) for key in ("published", "publication", "page", "story_id")
                             if meta.get(key) not in (None, "")}  # absent or empty: the field stays None
    return Citation(id=number, title=str(meta.get("title", "")), source=str(meta.get("source", "")),
                    article_id=str(meta.get("article_id", "")), chunk_id=hit.node.node_id, text=hit.node.get_content(),
                    score=float(hit.score or 0.0), **known)


def with_copies(citations: list[Citation], members: dict[str, list[Article]]) -> list[Citation]:
    """``citations`` with ``also`` filled from ``members`` (story id -> its stored articles), oldest first, the
    cited article itself left out; a citation without a story keeps ``also`` empty."""
    fields = set(StoryCopy.model_fields)
    out = []
    for citation in citations:
        copies = sorted((StoryCopy(**a.model_dump(include=fields)) for a in members.get(citation.story_id or "", [])
                         if a.article_id != citation.article_id), key=lambda c: (c.published or "", c.source))
        out.append(citation.model_copy(update={"also": copies}))
    return out


@dataclass
class CheckResult:
    """The outcome of a finished check: ``"cited"`` (``text`` is the verified answer, :meth:`StreamVerifier.citations`
    its sources), ``"not_found"`` (no supported citation, and the model said the reports do not hold the answer) or
    ``"unsupported"`` (no supported citation otherwise); units ``kept`` (shown) and ``dropped``, for the log."""

    outcome: str
    text: str
    kept: int = 0
    dropped: int = 0

    @property
    def report(self) -> str:
        return f"kept {self.kept} unit(s), dropped {self.dropped}"


class StreamVerifier:
    """Checks an LLM answer as it streams and releases verified text with final citation numbers.

    ``feed(delta)`` and ``finish()`` return the verified pieces that can be shown now. Nothing is released before
    the first unit with a supported citation (an answer that ends up with none is replaced as a whole), and a
    released piece is never taken back, so ``"".join(all pieces) == result().text``. Trailing clause punctuation
    and spaces are held back until more text follows; a text that would end on "，" ends on "。" instead. ``nodes``:
    the sources, numbered 1..len(nodes) in the prompt; ``question``: the (standalone) question, whose words do not
    count as the answer's; ``idf``: a normalised word's inverse document frequency, to weight new words.
    """

    def __init__(self, nodes: Sequence[NodeWithScore], question: str,
                 idf: Callable[[str], float] | None = None) -> None:
        self._idf = idf
        self.nodes = list(nodes)
        self._sources = [source_text(hit) for hit in self.nodes]
        self._question_norm = normalize(question)
        self._question_words = frozenset(tokenize(self._question_norm, normalized=True, keep_stopwords=True))
        self._buffer = self._suffix = ""
        self._held: list[str] = []
        self._pieces: list[str] = []
        self._numbers: dict[int, int] = {}  # 0-based source index -> citation number, in numbering order
        self._refusal = self._finished = False
        self._kept = self._dropped = 0

    def feed(self, delta: str) -> list[str]:
        """Add streamed text; returns the verified pieces released by it (often none)."""
        self._buffer += delta
        units, self._buffer = split_units(self._buffer, final=False)
        return [piece for raw in units for piece in self._check(Unit.parse(raw))]

    def finish(self, complete: bool = True) -> list[str]:
        """The stream ended: check what is left and return the last pieces. ``complete`` False (the stream broke
        off) drops the unfinished last unit instead of checking it."""
        if self._finished:
            return []
        self._finished = True
        units, self._buffer = split_units(self._buffer, final=complete)
        out = [piece for raw in units for piece in self._check(Unit.parse(raw))]
        if self._pieces and _CLAUSE & set(self._suffix):
            self._pieces.append("。")
            out.append("。")
        self._suffix = ""
        return out

    def result(self) -> CheckResult:
        """The outcome; call after :meth:`finish`."""
        outcome = "cited" if self._pieces else "not_found" if self._refusal else "unsupported"
        return CheckResult(outcome, "".join(self._pieces), self._kept, self._dropped)

    def citations(self) -> list[Citation]:
        """The sources cited so far as :class:`Citation` objects, numbered (and listed) in order of first use."""
        return [citation_for(number, self.nodes[index]) for index, number in self._numbers.items()]

    def _check(self, unit: Unit) -> list[str]:
        valid = [n - 1 for n in unit.markers if 1 <= n <= len(self._sources)]
        if not unit.text.strip():  # markers with nothing before them: keep only the punctuation after them
            return self._release(unit.tail) if unit.tail.strip() and self._pieces else []
        if is_refusal(unit.text):
            self._refusal = True
            self._kept += 1
            if self._pieces:
                return self._release(unit.render([]))
            self._held.append(unit.render([]))
            return []
        claim = Claim(unit.text, self._question_norm, self._question_words)
        kept = [index for index in valid if claim.supported_by(self._sources[index], self._idf)]
        if valid and not kept:  # re-attached to the first source that supports it (a reprint, another chunk)
            kept = next(([i] for i, source in enumerate(self._sources) if claim.supported_by(source, self._idf)), [])
        if not kept:
            self._dropped += 1
            return []
        self._kept += 1
        for index in kept:
            self._numbers.setdefault(index, len(self._numbers) + 1)
        held, self._held = self._held, []
        rendered = unit.render([self._numbers[i] for i in kept])
        return [piece for text in [*held, rendered] for piece in self._release(text)]

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


def check_answer(text: str, nodes: Sequence[NodeWithScore], question: str, idf: Callable[[str], float] | None = None,
                 ) -> tuple[CheckResult, list[Citation]]:
    """Check a complete (non-streamed) LLM answer: the result and its renumbered citations."""
    verifier = StreamVerifier(nodes, question, idf)
    verifier.feed(text)
    verifier.finish()
    return verifier.result(), verifier.citations()
