"""Noise in evaluation figures: 95 % bootstrap intervals, and the paired comparison of two runs.

Every figure of :mod:`rag.evaluation` is a mean of per-question values (0/1 for hit@1, answer contains gold, ...;
the reciprocal rank for MRR) or a percentile of per-question latencies. Its interval is the *percentile bootstrap*
(Efron & Tibshirani, 1993, *An Introduction to the Bootstrap*, ch. 13): the figure recomputed on
:data:`RESAMPLES` resamples drawn with replacement, and the 2.5th and 97.5th percentiles of those figures. The
generator is seeded (:data:`SEED`), so the same rows give the same interval. A figure of 0 or 1 gets the interval
``[0, 0]`` or ``[1, 1]``: the bootstrap sees no other outcome in the sample, so read the number of questions beside
it (15 questions all right still allow a true rate near 0.8: the rule of three, 3/n).

Questions are not independent when several were written from one news event or one report: resampling them one
by one would understate the noise. So the resampled unit is a *group* (the cluster bootstrap, Davison & Hinkley,
1997, *Bootstrap Methods and their Application*, sec. 3.8): the ``item`` a training question carries (one news
event) when the rows have one, else the question's gold sources (questions on one report or one passage, as in
``crud_dev`` and ``cmrc2018_trial``), else the question itself (unanswerable questions have no source). When that
leaves fewer than :data:`MIN_GROUPS` groups (``seeds_dev``: five pages), questions are resampled one by one
instead, since a bootstrap over a handful of clusters is itself unreliable (Cameron, Gelbach & Miller, 2008,
"Bootstrap-based improvements for inference with clustered errors"). :func:`grouping` says which was used.
A grouped figure is the ratio estimator ``sum of values / number of questions`` over the drawn groups.

The paired comparison (:func:`compare`) matches two runs question by question (by question text): questions won,
lost and tied, the difference of the figures, and its *paired bootstrap* interval (the same resamples of
questions, or groups, for both runs; Koehn, 2004, "Statistical significance tests for machine translation
evaluation"; Efron & Tibshirani ch. 16). The difference holds beyond the noise when its interval excludes 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Bootstrap resamples per interval, the generator's seed and the interval's coverage.
RESAMPLES = 1000
SEED = 0
LEVEL = 0.95
#: Fewest groups a grouped bootstrap resamples; with fewer, questions are resampled one by one (see above).
MIN_GROUPS = 20

Interval = tuple[float, float]


def percentile_interval(values: Sequence[float] | np.ndarray, groups: Sequence[str] | None = None, *,
                        statistic: str = "mean", seed: int = SEED) -> Interval:
    """The :data:`LEVEL` percentile-bootstrap interval ``(lo, hi)`` of ``statistic`` over ``values`` (shape
    ``(n,)``), from :data:`RESAMPLES` resamples.

    ``statistic`` is ``"mean"`` or ``"p50"``/``"p95"`` (a percentile, for latencies; always resampled by
    question). ``groups`` (one key per value) resamples whole groups instead of single values. ``(nan, nan)``
    without values. Raises ValueError for a ``groups`` of another length or an unknown statistic.
    """
    x = np.asarray(values, dtype=np.float64)
    if groups is not None and len(groups) != len(x):
        raise ValueError(f"groups: {len(groups)} keys for {len(x)} values")
    if not len(x):
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    tail = 100 * (1 - LEVEL) / 2
    if statistic != "mean":
        if statistic not in ("p50", "p95"):
            raise ValueError(f"statistic: 'mean', 'p50' or 'p95' (got {statistic!r})")
        draws = x[rng.integers(0, len(x), size=(RESAMPLES, len(x)))]
        stats = np.percentile(draws, float(statistic[1:]), axis=1)
    else:  # the sum and size of each group (first-seen order); without groups, each value is one
        codes: dict[str, int] = {}
        index = np.arange(len(x)) if groups is None else np.array([codes.setdefault(g, len(codes)) for g in groups])
        sums, counts = np.bincount(index, weights=x), np.bincount(index) * 1.0
        pick = rng.integers(0, len(sums), size=(RESAMPLES, len(sums)))
        stats = sums[pick].sum(axis=1) / np.maximum(counts[pick].sum(axis=1), 1)
    lo, hi = np.percentile(stats, [tail, 100 - tail])
    return (float(lo), float(hi))


def with_intervals(figures: Mapping[str, Any], intervals: Mapping[str, Any]) -> dict[str, Any]:
    """``figures`` with each figure that has an interval followed by ``<figure>_ci: [lo, hi]``."""
    out: dict[str, Any] = {}
    for key, value in figures.items():
        out[key] = value
        if key in intervals:
            out[f"{key}_ci"] = intervals[key]
    return out


def group_key(row: Mapping[str, Any]) -> str:
    """The group of a per-question row: its ``item``, else its sorted gold sources, else its question."""
    if row.get("item"):
        return "item:" + str(row["item"])
    src = row.get("src")
    sources = sorted(str(s) for s in src) if isinstance(src, list) else ([str(src)] if src else [])
    return "src:" + "|".join(sources) if sources else "q:" + str(row.get("q", ""))


def grouping(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str] | None, str]:
    """``(groups, description)``: one group key per row (None = resample questions) and what was resampled."""
    keys = [group_key(r) for r in rows]
    distinct = len(set(keys))
    if distinct == len(keys):
        return None, "questions"
    if distinct < MIN_GROUPS:
        return None, f"questions (only {distinct} report groups)"
    unit = "news events (item)" if any(r.get("item") for r in rows) else "gold reports"
    return keys, f"{distinct} groups of questions by {unit}"


#: A per-question metric: the row's value (a float) or None when the metric does not apply to it.
RowMetric = Callable[[Mapping[str, Any]], float | None]


@dataclass(frozen=True)
class Comparison:
    """One metric of two runs on their common questions: ``baseline`` and ``current`` figures, questions ``won``
    (current better), ``lost``, ``tied``, the ``difference`` (current - baseline) and its paired-bootstrap
    ``interval``; ``significant`` when the interval excludes 0. ``lower_is_better`` flips won and lost."""

    metric: str
    questions: int
    baseline: float
    current: float
    won: int
    lost: int
    tied: int
    difference: float
    interval: Interval
    lower_is_better: bool = False

    @property
    def significant(self) -> bool:
        lo, hi = self.interval
        return bool(lo > 0 or hi < 0)

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "questions": self.questions, "baseline": round(self.baseline, 4),
                "current": round(self.current, 4), "won": self.won, "lost": self.lost, "tied": self.tied,
                "difference": round(self.difference, 4), "difference_ci": [round(v, 4) for v in self.interval],
                "significant": self.significant}


def paired(rows_a: Sequence[Mapping[str, Any]], rows_b: Sequence[Mapping[str, Any]],
           ) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """The rows of both runs for the same question, matched by question text (the n-th copy of a repeated
    question with the n-th), in the order of ``rows_b``."""
    def keyed(rows: Sequence[Mapping[str, Any]]) -> list[tuple[tuple[str, int], Mapping[str, Any]]]:
        seen: Counter[str] = Counter()
        out = []
        for row in rows:
            q = str(row.get("q", ""))
            seen[q] += 1
            out.append(((q, seen[q]), row))
        return out
    by_key = dict(keyed(rows_a))
    return [(by_key[key], row) for key, row in keyed(rows_b) if key in by_key]


def compare(rows_a: Sequence[Mapping[str, Any]], rows_b: Sequence[Mapping[str, Any]],
            metrics: Mapping[str, RowMetric], lower_is_better: frozenset[str] = frozenset(), *,
            seed: int = SEED) -> list[Comparison]:
    """Per metric (in ``metrics`` order), the paired comparison of run ``rows_a`` (the baseline) with ``rows_b``
    on the questions both hold and the metric applies to in both (a metric with none is left out). Groups are
    those of ``rows_b`` (:func:`grouping`)."""
    pairs = paired(rows_a, rows_b)
    out = []
    for name, metric in metrics.items():
        both = [(a_v, b_v, b) for a, b in pairs
                if (a_v := metric(a)) is not None and (b_v := metric(b)) is not None]
        if not both:
            continue
        a = np.array([p[0] for p in both], dtype=np.float64)
        b = np.array([p[1] for p in both], dtype=np.float64)
        groups, _ = grouping([p[2] for p in both])
        better = (a - b) if name in lower_is_better else (b - a)
        out.append(Comparison(
            name, len(both), float(a.mean()), float(b.mean()), int((better > 0).sum()), int((better < 0).sum()),
            int((better == 0).sum()), float(b.mean() - a.mean()),
            percentile_interval(b - a, groups, seed=seed), name in lower_is_better,
        ))
    return out


def format_comparison(rows: Sequence[Comparison]) -> str:
    """The comparison as a text table, one metric a line."""
    lines = [f"{'metric':<24} {'n':>4} {'baseline':>8} {'current':>8} {'won':>4} {'lost':>4} {'tied':>4}  "
             f"{'difference [95% CI]':<26} beyond noise"]
    for c in rows:
        lo, hi = c.interval
        diff = f"{c.difference:+.3f} [{lo:+.3f}, {hi:+.3f}]"
        lines.append(f"{c.metric:<24} {c.questions:>4} {c.baseline:>8.3f} {c.current:>8.3f} {c.won:>4} {c.lost:>4} "
                     f"{c.tied:>4}  {diff:<26} {'yes' if c.significant else 'no'}")
    return "\n".join(lines)


__all__ = ["LEVEL", "MIN_GROUPS", "RESAMPLES", "SEED", "Comparison", "compare", "format_comparison", "group_key",
           "grouping", "paired", "percentile_interval", "with_intervals"]
