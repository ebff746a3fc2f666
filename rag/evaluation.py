"""Evaluation on QA sets in the ``shared/eval`` JSONL format.

Each line: ``{"q": question, "a": [gold answers] (empty = unanswerable), "src": gold file, list of files (every
copy of the report counts) or null, "tag": str}``. Metrics (standard IR / QA definitions):

- source hit@1, hit@5 and MRR (mean reciprocal rank, over the first 10 distinct files): rank of the first gold file
  among the distinct source files of the retrieved chunks, in retrieval order; a retrieved story counts with all
  its stored printings (the citation lists them as 另见), at its rank;
- answer contains gold: share of answerable questions whose answer text contains a gold answer;
- citation contains gold: share whose cited passages contain a gold answer;
- first citation is a source: share whose first citation is a gold file or one of its story's printings;
- cited wrong: share answered with citations whose answer does not contain a gold answer (a confident error);
- refusal accuracy: share of unanswerable questions answered ``found: false``; false refusals: share of answerable
  questions refused;
- p50/p95 latency (ms) of a whole ``ask``.

Questions the service rejects as input (an empty ``q``) are listed in ``skipped`` and not scored. :func:`half`
splits a set in two by a stable hash of each question's gold sources (questions on one report stay together), for
tuning on one half and reporting on the other.

Containment is checked on normalised text (NFKC, simplified), with citation markers removed.
"""

from __future__ import annotations

import hashlib
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
    src: list[str]
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
    first_citation_source: float = 0.0
    cited_wrong: float = 0.0
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
            src = row.get("src")
            sources = [str(x) for x in src] if isinstance(src, list) else [str(src)] if src else []
            items.append(QAItem(q=str(row["q"]), a=[str(x) for x in row.get("a") or []], src=sources,
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


def half(items: list[QAItem], which: int) -> list[QAItem]:
    """The questions of half ``which`` (0 or 1): parity of SHA-1 over the sorted gold sources (or the question)."""
    def key(item: QAItem) -> int:
        text = "|".join(sorted(item.src)) or item.q
        return hashlib.sha1(text.encode("utf-8")).digest()[0] % 2
    return [item for item in items if key(item) == which]


def _ranked_files(service, nodes) -> list[list[str]]:  # noqa: ANN001 - NewsQA, retrieved nodes
    """Per retrieved chunk, its source file followed by the files of its story's other stored printings."""
    story_ids = [str(h.node.metadata.get("story_id")) for h in nodes if h.node.metadata.get("story_id")]
    members = service.store.story_members(story_ids) if story_ids else {}
    out = []
    for hit in nodes:
        meta = hit.node.metadata
        copies = [a.source for a in members.get(str(meta.get("story_id")), [])]
        out.append([str(meta.get("source", ""))] + [c for c in copies if c != meta.get("source")])
    return out


def evaluate(service, items: list[QAItem], top_k: int | None = None) -> EvalReport:  # noqa: ANN001 - NewsQA
    """Run every question through ``service.answer_with_nodes`` and aggregate the metrics above."""
    report = EvalReport()
    hits1 = hits5 = rr = contains = cited = refused_ok = false_refusals = first_ok = wrong = 0.0
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
            ranks: list[list[str]] = []
            for group in _ranked_files(service, nodes):
                if group[0] not in {f for g in ranks for f in g}:
                    ranks.append(group)
            rank = next((n for n, group in enumerate(ranks[:10], 1) if set(group) & set(item.src)), None)
            hits1 += rank == 1
            hits5 += rank is not None and rank <= 5
            rr += 1.0 / rank if rank else 0.0
            ok = answer.found and _contains(answer.answer, item.a)
            contains += ok
            cited += answer.found and any(_contains(c.text, item.a) for c in answer.citations)
            first = answer.citations[0] if answer.found and answer.citations else None
            first_files = {first.source, *(c.source for c in first.also)} if first else set()
            first_ok += bool(first_files & set(item.src))
            wrong += bool(answer.found and answer.citations and not ok)
            false_refusals += not answer.found
            row.update(rank=rank, contains=ok, first_source=bool(first_files & set(item.src)),
                       files=[g[0] for g in ranks[:5]], alternatives=len(answer.alternatives))
        report.per_question.append(row)
    report.questions = report.answerable + report.unanswerable
    n = max(report.answerable, 1)
    report.hit_at_1, report.hit_at_5, report.mrr = hits1 / n, hits5 / n, rr / n
    report.answer_contains_gold, report.citation_contains_gold = contains / n, cited / n
    report.first_citation_source, report.cited_wrong = first_ok / n, wrong / n
    report.false_refusals = false_refusals / n
    report.refusal_accuracy = refused_ok / report.unanswerable if report.unanswerable else None
    if latencies:
        report.latency_p50_ms = float(np.percentile(latencies, 50))
        report.latency_p95_ms = float(np.percentile(latencies, 95))
    return report
