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

Each figure comes with its 95 % interval (``intervals``; ``<figure>_ci`` in :meth:`EvalReport.summary`): the
percentile bootstrap of :mod:`rag.eval_stats`, 1,000 resamples with a fixed seed, resampling groups of questions
(the ``item`` of a training question, else the question's gold reports) where the set has such groups, else single
questions; ``ci_method`` says which. The per-question values behind each figure are :data:`ROW_METRICS`, so that
two runs' ``--details`` rows can be compared question by question (:func:`rag.eval_stats.compare`).

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
from rag.eval_stats import (
    SEED,
    Comparison,
    RowMetric,
    compare,
    grouping,
    percentile_interval,
    with_intervals,
)
from rag.text.normalize import normalize

_MARKER = re.compile(r"\[\d+\]")


@dataclass
class QAItem:
    """One evaluation question."""

    q: str
    a: list[str]
    src: list[str]
    tag: str = ""
    #: The news event the question was written from (training sets), grouping questions for the bootstrap.
    item: str = ""


#: Per-question value of each figure (see the module docstring), from a row of ``per_question`` (also a row of a
#: previous run's ``--details`` file): None where the figure does not apply (answer figures on unanswerable
#: questions, refusal accuracy on answerable ones, a field an older details file lacks).
ROW_METRICS: dict[str, RowMetric] = {
    "hit_at_1": lambda r: float(r.get("rank") == 1) if r.get("gold") else None,
    "hit_at_5": lambda r: float(r.get("rank") is not None and r["rank"] <= 5) if r.get("gold") else None,
    "mrr": lambda r: (1.0 / r["rank"] if r.get("rank") else 0.0) if r.get("gold") else None,
    "answer_contains_gold": lambda r: float(bool(r.get("contains"))) if r.get("gold") else None,
    "citation_contains_gold": lambda r: float(r["cited"]) if r.get("gold") and "cited" in r else None,
    "first_citation_source": lambda r: float(bool(r.get("first_source"))) if r.get("gold") else None,
    "cited_wrong": lambda r: float(r.get("wrong", bool(r.get("found")) and not r.get("contains")))
    if r.get("gold") else None,
    "refusal_accuracy": lambda r: None if r.get("gold") else float(not r.get("found")),
    "false_refusals": lambda r: float(not r.get("found")) if r.get("gold") else None,
}
#: Figures where less is better (a paired comparison counts a fall as won).
LOWER_IS_BETTER = frozenset({"cited_wrong", "false_refusals"})
#: Latency figures: ``(name, percentile statistic)`` of the per-question ``ms``.
LATENCY_METRICS = {"latency_p50_ms": "p50", "latency_p95_ms": "p95"}


@dataclass
class EvalReport:
    """Aggregated metrics; ``per_question`` keeps one dict per question for error analysis; ``intervals`` the 95 %
    bootstrap interval ``[lo, hi]`` of each figure and ``ci_method`` what was resampled (:mod:`rag.eval_stats`)."""

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
    intervals: dict[str, list[float]] = field(default_factory=dict)
    ci_method: str = ""

    def summary(self) -> dict:
        """All metrics without the per-question rows, each figure followed by ``<figure>_ci: [lo, hi]``."""
        figures = {k: v for k, v in self.__dict__.items() if k not in ("per_question", "intervals")}
        return with_intervals(figures, self.intervals)

    def aggregate(self, seed: int = SEED) -> EvalReport:
        """Set every figure and its interval from ``per_question`` (rows as :func:`evaluate` writes them)."""
        rows = self.per_question
        self.answerable = sum(bool(r.get("gold")) for r in rows)
        self.unanswerable = len(rows) - self.answerable
        self.questions = len(rows)
        groups, self.ci_method = grouping(rows)
        self.intervals = {}
        for name, metric in ROW_METRICS.items():
            applies = [(v, i) for i, r in enumerate(rows) if (v := metric(r)) is not None]
            values, index = [float(v) for v, _ in applies], [i for _, i in applies]
            figure = float(np.mean(values)) if values else (None if name == "refusal_accuracy" else 0.0)
            setattr(self, name, figure)
            if values:
                lo, hi = percentile_interval(values, [groups[i] for i in index] if groups else None, seed=seed)
                self.intervals[name] = [round(lo, 4), round(hi, 4)]
        latencies = [float(r["ms"]) for r in rows if r.get("ms") is not None]
        for name, stat in LATENCY_METRICS.items():
            if latencies:
                setattr(self, name, float(np.percentile(latencies, float(stat[1:]))))
                lo, hi = percentile_interval(latencies, statistic=stat, seed=seed)
                self.intervals[name] = [round(lo, 1), round(hi, 1)]
        return self


def _lines(path: Path, what: str) -> list[tuple[int, str]]:
    """The non-blank lines of ``path`` with their numbers; raises InputError naming the file when it cannot be
    read or holds no ``what``."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    numbered = [(number, line) for number, line in enumerate(lines, 1) if line.strip()]
    if not numbered:
        raise InputError(f"{path}: no {what}")
    return numbered


def load_qa(path: Path) -> list[QAItem]:
    """Read a QA JSONL file; raises InputError naming the file and line on malformed input."""
    items: list[QAItem] = []
    for number, line in _lines(path, "questions"):
        try:
            row = json.loads(line)
            src = row.get("src")
            sources = [str(x) for x in src] if isinstance(src, list) else [str(src)] if src else []
            items.append(QAItem(q=str(row["q"]), a=[str(x) for x in row.get("a") or []], src=sources,
                                tag=str(row.get("tag", "")), item=str(row.get("item") or "")))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:  # AttributeError: not an object
            raise InputError(f"{path}:{number}: not a QA record ({exc})") from exc
    return items


def load_rows(path: Path) -> list[dict]:
    """The per-question rows of a ``--details`` file (JSON lines); raises InputError naming the file and line."""
    rows = []
    for number, line in _lines(path, "rows"):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: not JSON ({exc})") from exc
        if not isinstance(row, dict) or "q" not in row or "gold" not in row:
            raise InputError(f"{path}:{number}: not a per-question row (needs q and gold)")
        rows.append(row)
    return rows


def compare_runs(baseline: list[dict], current: list[dict], seed: int = SEED) -> list[Comparison]:
    """The paired comparison of two runs' per-question rows on every figure of :data:`ROW_METRICS`
    (:func:`rag.eval_stats.compare`)."""
    return compare(baseline, current, ROW_METRICS, LOWER_IS_BETTER, seed=seed)


#: Punctuation and blanks stripped from the ends of a gold answer before matching (also rag.eval_fabrication).
EDGE_PUNCTUATION = "。，、；：！？,.;:!? \n"


def _contains(text: str, golds: list[str]) -> bool:
    norm = normalize(_MARKER.sub("", text))
    # Gold spans sometimes carry the sentence's final 。 (CMRC); the answer may end at a different mark.
    return any(normalize(g).strip(EDGE_PUNCTUATION) in norm for g in golds if g.strip(EDGE_PUNCTUATION))


def half(items: list[QAItem], which: int) -> list[QAItem]:
    """The questions of half ``which`` (0 or 1): parity of SHA-1 over the sorted gold sources (or the question)."""
    return [item for item in items
            if hashlib.sha1(("|".join(sorted(item.src)) or item.q).encode("utf-8")).digest()[0] % 2 == which]


def _ranked_files(service, nodes) -> list[list[str]]:  # noqa: ANN001 - NewsQA, retrieved nodes
    """Per retrieved source file not already listed, in retrieval order: the file followed by the files of its
    story's other stored printings."""
    story_ids = [str(h.node.metadata.get("story_id")) for h in nodes if h.node.metadata.get("story_id")]
    members = service.store.story_members(story_ids) if story_ids else {}
    out: list[list[str]] = []
    for hit in nodes:
        meta = hit.node.metadata
        copies = [a.source for a in members.get(str(meta.get("story_id")), [])]
        group = [str(meta.get("source", ""))] + [c for c in copies if c != meta.get("source")]
        if group[0] not in {f for g in out for f in g}:
            out.append(group)
    return out


def evaluate(service, items: list[QAItem], top_k: int | None = None) -> EvalReport:  # noqa: ANN001 - NewsQA
    """Run every question through ``service.answer_with_nodes``, keep one row per question (``q``, ``gold``,
    ``src``, ``item``, ``answer``, ``found``, ``ms``; answerable ones also ``rank``, ``contains``, ``cited``,
    ``first_source``, ``wrong``, ``files``) and aggregate the metrics above with their 95 %
    intervals (:meth:`EvalReport.aggregate`)."""
    report = EvalReport()
    for item in items:
        started = time.perf_counter()
        try:
            answer, nodes = service.answer_with_nodes(item.q, top_k)
        except InputError as exc:  # e.g. an empty question in the set: reported, not scored
            report.skipped.append(f"{item.q!r}: {exc}")
            continue
        row: dict = {"q": item.q, "gold": item.a, "src": item.src, "answer": answer.answer, "found": answer.found,
                     "ms": round(1000 * (time.perf_counter() - started), 1)}
        if item.item:
            row["item"] = item.item
        if item.a:
            ranks = _ranked_files(service, nodes)
            rank = next((n for n, group in enumerate(ranks[:10], 1) if set(group) & set(item.src)), None)
            ok = answer.found and _contains(answer.answer, item.a)
            first = answer.citations[0] if answer.found and answer.citations else None
            first_files = {first.source, *(c.source for c in first.also)} if first else set()
            row.update(rank=rank, contains=ok, first_source=bool(first_files & set(item.src)),
                       cited=answer.found and any(_contains(c.text, item.a) for c in answer.citations),
                       wrong=bool(answer.found and answer.citations and not ok),
                       files=[g[0] for g in ranks[:5]])
        report.per_question.append(row)
    return report.aggregate()
