"""Evaluation on QA sets in the ``shared/eval`` JSONL format.

Each line: ``{"q": question, "a": [gold answers] (empty = unanswerable), "src": gold file or null, "tag": str}``.
Metrics (standard IR / QA definitions):

- source hit@1, hit@5 and MRR (mean reciprocal rank, over the first 10 distinct files): rank of the gold file
  among the distinct source files of the retrieved chunks, in retrieval order;
- answer contains gold: share of answerable questions whose answer text contains a gold answer;
- citation contains gold: share whose cited passages contain a gold answer;
- refusal accuracy: share of unanswerable questions answered ``found: false``; false refusals: share of answerable
  questions refused;
- p50/p95 latency (ms) of a whole ``ask``.

Questions the service rejects as input (an empty ``q``) are listed in ``skipped`` and not scored.

Containment is checked on normalised text (NFKC, simplified), with citation markers removed.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.errors import InputError
from rag.text.normalize import normalize

_MARKER = re.compile(r"\[\d+\]")


@dataclass
class QAItem:
    """One evaluation question."""

    q: str
    a: list[str]
    src: str | None
    tag: str = ""


@dataclass
class EvalReport:
    """Aggregated metrics; ``per_question`` keeps one dict per question for error analysis."""

    questions: int = 0
    answerable: int = 0
    unanswerable: int = 0
    hit_at_1: float = 0.0
    hit_at_5: float = 0.0
    mrr: float = 0.0
    answer_contains_gold: float = 0.0
    citation_contains_gold: float = 0.0
    refusal_accuracy: float | None = None
    false_refusals: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    skipped: list[str] = field(default_factory=list)
    per_question: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        """All metrics without the per-question rows."""
        return {k: v for k, v in self.__dict__.items() if k != "per_question"}


def load_qa(path: Path) -> list[QAItem]:
    """Read a QA JSONL file; raises InputError naming the file and line on malformed input."""
    items: list[QAItem] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            items.append(QAItem(q=str(row["q"]), a=[str(x) for x in row.get("a") or []], src=row.get("src"),
                                tag=str(row.get("tag", ""))))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f"{path}:{number}: not a QA record ({exc})") from exc
    if not items:
        raise InputError(f"{path}: no questions")
    return items


_EDGE_PUNCTUATION = "。，、；：！？,.;:!? \n"


def _contains(text: str, golds: list[str]) -> bool:
    norm = normalize(_MARKER.sub("", text))
    # Gold spans sometimes carry the sentence's final 。 (CMRC); the answer may end at a different mark.
    return any(normalize(g).strip(_EDGE_PUNCTUATION) in norm for g in golds if g.strip(_EDGE_PUNCTUATION))


def evaluate(service, items: list[QAItem], top_k: int | None = None) -> EvalReport:  # noqa: ANN001 - NewsQA
    """Run every question through ``service.answer_with_nodes`` and aggregate the metrics above."""
    report = EvalReport()
    hits1 = hits5 = rr = contains = cited = refused_ok = false_refusals = 0.0
    latencies: list[float] = []
    for item in items:
        started = time.perf_counter()
        try:
            answer, nodes = service.answer_with_nodes(item.q, top_k)
        except InputError as exc:  # e.g. an empty question in the set: reported, not scored
            report.skipped.append(f"{item.q!r}: {exc}")
            continue
        latencies.append(1000 * (time.perf_counter() - started))
        row: dict = {"q": item.q, "gold": item.a, "src": item.src, "answer": answer.answer, "found": answer.found}
        if not item.a:
            report.unanswerable += 1
            refused_ok += not answer.found
        else:
            report.answerable += 1
            files: list[str] = []
            for hit in nodes:
                source = str(hit.node.metadata.get("source", ""))
                if source not in files:
                    files.append(source)
            rank = files.index(item.src) + 1 if item.src in files[:10] else None
            hits1 += rank == 1
            hits5 += rank is not None and rank <= 5
            rr += 1.0 / rank if rank else 0.0
            ok = answer.found and _contains(answer.answer, item.a)
            contains += ok
            cited += answer.found and any(_contains(c.text, item.a) for c in answer.citations)
            false_refusals += not answer.found
            row.update(rank=rank, contains=ok, files=files[:5])
        report.per_question.append(row)
    report.questions = report.answerable + report.unanswerable
    n = max(report.answerable, 1)
    report.hit_at_1, report.hit_at_5, report.mrr = hits1 / n, hits5 / n, rr / n
    report.answer_contains_gold, report.citation_contains_gold = contains / n, cited / n
    report.false_refusals = false_refusals / n
    report.refusal_accuracy = refused_ok / report.unanswerable if report.unanswerable else None
    if latencies:
        report.latency_p50_ms = float(np.percentile(latencies, 50))
        report.latency_p95_ms = float(np.percentile(latencies, 95))
    return report
