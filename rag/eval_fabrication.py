"""Fabrication benchmark of the citation check: does a wrong name or number ever come back cited?

From a QA set (``shared/eval`` format; ``src`` a file or a list of copies) each gold answer is located in its
source file, in a sentence; when the gold answer is one answer-bearing span (a person, place, organisation or other
proper name, a number with its unit, a date: :func:`rag.answering.claims.answer_spans`), two LLM replies are built
from that sentence, both citing the prompt source that holds the gold file:

- the *substituted* reply: the answer span replaced by another span of the same kind drawn (seeded) from the
  set's articles (another person, another number with the same unit) that neither the question nor the sentence
  contains. It must never come back cited (target 0);
- the *correct* reply: the sentence as written. It should keep its citation (target: at most 5 % lose it, counted
  over the questions whose gold file was among the prompt's sources).

The replies are fed through an OpenAI-compatible server (the tests' fake one) by the caller, which asks the real
service and passes the answers to :func:`score`.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag.answering.claims import Span, answer_spans, numbers_in
from rag.evaluation import EDGE_PUNCTUATION as _EDGE
from rag.evaluation import QAItem
from rag.models import Answer
from rag.text.dateline import parse_dateline
from rag.text.normalize import normalize
from rag.text.sentences import split_sentences

_END = re.compile(r"[。！？!?；;，,\s]+$")
_NAME_KINDS = ("person", "place", "org", "other_name")


def src_files(src: object) -> list[str]:
    """The gold files of a QA item: ``src`` as a file name or a list of copies (any copy counts)."""
    if isinstance(src, str):
        return [src] if src else []
    if isinstance(src, (list, tuple)):
        return [str(s) for s in src if s]
    return []


@dataclass
class FabricationCase:
    """One question with its gold sentence, the gold span and its substitute (all as in the reply)."""

    question: str
    files: list[str]
    kind: str
    gold: str
    substitute: str
    sentence: str

    @property
    def substituted(self) -> str:
        return self.sentence.replace(self.gold, self.substitute, 1)

    def reply(self, sources: Sequence[tuple[int, str]], substituted: bool) -> tuple[str, bool]:
        """The LLM reply citing the prompt source of the gold file (``sources``: prompt number, file name), and
        whether that file was among them (else source 1 is cited)."""
        number = next((n for n, name in sources if name in self.files), None)
        text = _END.sub("", self.substituted if substituted else self.sentence)
        return f"{text}[{number or 1}]。", number is not None


@dataclass
class FabricationReport:
    """Counts: substituted spans that came back cited (target 0), correct replies that lost their citation."""

    cases: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    substituted_cited: int = 0
    correct_retrieved: int = 0
    correct_lost: int = 0
    examples: list[dict] = field(default_factory=list)

    @property
    def correct_lost_rate(self) -> float:
        return self.correct_lost / self.correct_retrieved if self.correct_retrieved else 0.0

    def summary(self) -> dict:
        return {"cases": self.cases, "by_kind": self.by_kind, "skipped": self.skipped,
                "substituted_cited": self.substituted_cited, "correct_retrieved": self.correct_retrieved,
                "correct_lost": self.correct_lost, "correct_lost_rate": round(self.correct_lost_rate, 4)}


def _pools(texts: Iterable[str]) -> dict[str, list[Span]]:
    """Spans of the articles by kind (numbers by unit: ``number:座``), sorted for reproducible draws."""
    pools: dict[str, dict[str, Span]] = {}
    for text in texts:
        for sentence in split_sentences(text):
            for span in answer_spans(normalize(sentence), ""):
                key = span.kind if span.value is None else f"{span.kind}:{span.unit}"
                pools.setdefault(key, {}).setdefault(span.text, span)
    return {key: [spans[t] for t in sorted(spans)] for key, spans in pools.items()}


def build_cases(items: Sequence[QAItem], articles: Path, seed: int = 0) -> tuple[list[FabricationCase], int]:
    """The benchmark cases of ``items`` over the files in ``articles``, and how many answerable items gave none
    (gold not one span, not found in its file, or no substitute)."""
    texts: dict[str, str] = {}
    for item in items:
        for name in src_files(item.src):
            path = articles / name
            if name not in texts and path.is_file():
                # The report as stored: its dateline header and headline are metadata, not text a source holds.
                texts[name] = parse_dateline(path.read_text(encoding="utf-8", errors="replace")).body
    pools = _pools(texts.values())
    found = [_case(item, [name for name in src_files(item.src) if name in texts], texts, pools, seed)
             for item in items if item.a and item.q.strip()]
    return [case for case in found if case is not None], sum(case is None for case in found)


def _case(item: QAItem, files: list[str], texts: dict[str, str], pools: dict[str, list[Span]],
          seed: int) -> FabricationCase | None:
    question_norm = normalize(item.q)
    for gold_raw in item.a:
        gold = normalize(gold_raw).strip(_EDGE)
        spans = answer_spans(gold, question_norm) if gold else []
        # the gold answer must be exactly one answer-bearing span the question lacks
        if len(spans) != 1 or spans[0].text != gold or (spans[0].kind not in _NAME_KINDS and spans[0].value is None):
            continue
        span = spans[0]
        for name in files:
            for sentence in split_sentences(texts[name]):
                sentence = sentence.strip()
                norm = normalize(sentence)
                if gold not in norm or len(sentence) > 200 or len(norm) < len(gold) + 6:  # a title line
                    continue
                shown = gold_raw.strip(_EDGE) if gold_raw.strip(_EDGE) in sentence else gold
                text = sentence if shown in sentence else norm
                stable_seed = seed * 1_000_003 + int(hashlib.sha1(item.q.encode("utf-8")).hexdigest()[:8], 16)
                substitute = _substitute(span, norm, question_norm, pools, stable_seed)
                if substitute is None:
                    return None
                return FabricationCase(item.q, files, span.kind, shown, substitute, text)
    return None


def _substitute(span: Span, sentence_norm: str, question_norm: str, pools: dict[str, list[Span]],
                seed: int) -> str | None:
    key = span.kind if span.value is None else f"{span.kind}:{span.unit}"
    present = numbers_in(sentence_norm) | numbers_in(question_norm)
    options = [
        s.text for s in pools.get(key, [])
        if s.text not in sentence_norm and s.text not in question_norm and span.text not in s.text
        and (s.value is None or ((s.value, s.unit) not in present and s.value != span.value
                                 and s.text[0].isdigit() == span.text[0].isdigit()))
    ]
    if not options:
        return None
    return random.Random(seed).choice(options)


def score(cases: Sequence[FabricationCase], substituted: Sequence[tuple[Answer, bool]],
          correct: Sequence[tuple[Answer, bool]], skipped: int = 0) -> FabricationReport:
    """Count the outcomes: ``substituted``/``correct`` hold, per case, the answer to the question when the LLM
    gave that reply, and whether the gold file was among the prompt's sources."""
    report = FabricationReport(cases=len(cases), skipped=skipped)
    for case, (fake, _), (real, retrieved) in zip(cases, substituted, correct, strict=True):
        report.by_kind[case.kind] = report.by_kind.get(case.kind, 0) + 1
        if fake.mode == "llm" and fake.found and normalize(case.substitute) in normalize(fake.answer):
            report.substituted_cited += 1
            report.examples.append({"q": case.question, "substituted": case.substituted, "answer": fake.answer})
        if retrieved:
            report.correct_retrieved += 1
            kept = real.mode == "llm" and real.found and normalize(case.gold) in normalize(real.answer)
            if not kept:
                report.correct_lost += 1
                if len(report.examples) < 40:
                    report.examples.append({"q": case.question, "correct": case.sentence, "answer": real.answer})
    return report


__all__ = ["FabricationCase", "FabricationReport", "build_cases", "score", "src_files"]
