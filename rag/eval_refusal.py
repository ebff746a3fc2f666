"""Refusal benchmark: any QA set becomes one by holding out the gold files of some of its questions.

``N`` answerable questions are sampled (seeded, deterministic); their gold files (every copy when ``src`` is a
list) are left out of a temporary ingest of the articles; those questions are then asked and each should be
refused (``found`` false): nothing left in the corpus answers them. At the same time the other answerable
questions whose gold file is still there are asked and none should be refused. Both figures are reported side
by side with the refusal thresholds in force, so that a threshold change shows what it costs on each side.

``half`` (0 or 1) keeps only the questions whose first gold file falls in that half of the articles (a stable
hash of the file name, :func:`half_of`): tune on one half, report on the other. The corpus itself stays whole,
but for the held-out files.

The answers are the extractive core's (``answer_with_nodes``), as in :mod:`rag.evaluation`, whose metrics are
reused for the kept questions (source hit@1, answer contains gold, false refusals). Every figure carries its 95 %
percentile-bootstrap interval (:mod:`rag.eval_stats`: 1,000 resamples, fixed seed, questions grouped by their gold
reports where several share one).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.answering.selector import load_model
from rag.eval_fabrication import src_files
from rag.eval_stats import with_intervals
from rag.evaluation import EvalReport, QAItem, evaluate


def half_of(name: str) -> int:
    """0 or 1: the half of the articles ``name`` (a source file name) belongs to, by a stable hash."""
    return int(hashlib.sha1(Path(name).name.encode("utf-8")).hexdigest()[:8], 16) % 2


def thresholds() -> dict[str, float]:
    """The extractive answerer's refusal threshold of the shipped model (the calibrated probability under which it
    refuses; ``NEWSQA_MIN_ANSWER_CONFIDENCE`` may override it per service)."""
    return {"min_answer_confidence": load_model().threshold}


@dataclass
class HoldoutPlan:
    """Which questions are held out (to be refused), kept (to be answered), and which files are left out."""

    held_out: list[QAItem]
    kept: list[QAItem]
    unanswerable: list[QAItem]
    removed: set[str]


def plan_holdout(items: Sequence[QAItem], n: int, seed: int = 0, half: int | None = None) -> HoldoutPlan:
    """Sample ``n`` answerable questions (of ``half`` when given) and leave out their gold files; the kept
    questions are the other answerable ones (of that half) with a gold file still present."""
    answerable = [i for i in items if i.a and i.q.strip() and src_files(i.src)]
    if half is not None:
        answerable = [i for i in answerable if half_of(src_files(i.src)[0]) == half]
    order = sorted(range(len(answerable)), key=lambda k: (answerable[k].q, k))
    chosen = set(random.Random(seed).sample(order, min(n, len(order))))
    held_out = [answerable[k] for k in sorted(chosen)]
    removed = {name for item in held_out for name in src_files(item.src)}
    kept = [item for k, item in enumerate(answerable)
            if k not in chosen and any(name not in removed for name in src_files(item.src))]
    unanswerable = [i for i in items if not i.a and i.q.strip()]
    return HoldoutPlan(held_out, kept, unanswerable, removed)


#: Metadata sidecars (``<file>.meta.json``, see ``ingest.metadata``): linked beside their file, not counted as files.
SIDECAR_SUFFIX = ".meta.json"


def link_corpus(articles: Path, removed: set[str], target: Path) -> int:
    """Fill ``target`` with symbolic links to the files of ``articles`` (subfolders kept, hidden files skipped)
    except ``removed`` (and their metadata sidecars); links already there are kept, so a re-run (and the ingest
    that follows) is incremental. Returns how many files are linked (sidecars not counted)."""
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(articles.rglob("*")):
        sidecar_of = path.name[: -len(SIDECAR_SUFFIX)] if path.name.endswith(SIDECAR_SUFFIX) else None
        if path.is_file() and path.name not in removed and sidecar_of not in removed and not path.name.startswith("."):
            link = target / path.relative_to(articles)
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                link.symlink_to(path.resolve())
            count += sidecar_of is None
    return count


@dataclass
class HoldoutReport:
    """Holdout questions refused (target >= 0.90) beside false refusals of the kept ones (target <= 0.02)."""

    seed: int
    half: int | None
    thresholds: dict[str, float]
    files_removed: int
    files_ingested: int
    held_out: int = 0
    held_out_refused: float = 0.0
    kept: EvalReport = field(default_factory=EvalReport)
    unanswerable: int = 0
    unanswerable_refused: float | None = None
    answered_held_out: list[dict] = field(default_factory=list)
    #: 95 % bootstrap interval ``[lo, hi]`` of each figure of :meth:`summary` (see :mod:`rag.eval_stats`).
    intervals: dict[str, list[float]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The figures, each followed by its interval ``<figure>_ci`` where it has one."""
        kept = self.kept
        figures = {
            "seed": self.seed, "half": self.half, "thresholds": self.thresholds,
            "files_removed": self.files_removed, "files_ingested": self.files_ingested,
            "held_out": self.held_out, "held_out_refused": round(self.held_out_refused, 4),
            "kept": kept.answerable, "kept_false_refusals": round(kept.false_refusals, 4),
            "kept_hit_at_1": round(kept.hit_at_1, 4), "kept_answer_contains_gold": round(kept.answer_contains_gold, 4),
            "unanswerable": self.unanswerable, "unanswerable_refused": self.unanswerable_refused,
        }
        return with_intervals(figures, self.intervals)


def run_holdout(
    make_service: Callable[[Path], Any], items: Sequence[QAItem], articles: Path, workdir: Path, n: int,
    seed: int = 0, half: int | None = None, top_k: int | None = None,
) -> HoldoutReport:
    """Plan, ingest the corpus without the held-out files into ``workdir`` (``make_service(workdir)`` builds the
    service over that data dir), ask both groups, and report."""
    plan = plan_holdout(items, n, seed, half)
    ingested = link_corpus(articles, plan.removed, workdir / "articles")
    service = make_service(workdir)
    try:
        service.ingest()
        service.warm_up()
        held = evaluate(service, plan.held_out, top_k)
        kept = evaluate(service, plan.kept, top_k)
        unanswerable = evaluate(service, plan.unanswerable, top_k) if plan.unanswerable else None
    finally:
        service.close()
    report = HoldoutReport(seed, half, thresholds(), len(plan.removed), ingested)
    report.held_out, report.held_out_refused, report.kept = held.answerable, held.false_refusals, kept
    report.answered_held_out = [row for row in held.per_question if row.get("found")]
    # held-out questions refused = their false refusals (as answerable questions, over a corpus without the source)
    sources = {"held_out_refused": (held, "false_refusals"), "kept_false_refusals": (kept, "false_refusals"),
               "kept_hit_at_1": (kept, "hit_at_1"), "kept_answer_contains_gold": (kept, "answer_contains_gold")}
    if unanswerable is not None:
        report.unanswerable, report.unanswerable_refused = unanswerable.unanswerable, unanswerable.refusal_accuracy
        sources["unanswerable_refused"] = (unanswerable, "refusal_accuracy")
    report.intervals = {name: run.intervals[key] for name, (run, key) in sources.items() if key in run.intervals}
    return report


__all__ = ["HoldoutPlan", "HoldoutReport", "half_of", "link_corpus", "plan_holdout", "run_holdout", "thresholds"]
