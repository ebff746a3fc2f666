"""Fitting the answer selector (:mod:`rag.answering.selector`) on cached training rows (:mod:`rag.train_data`).

Deterministic: folds are a stable hash of each question's group (``item`` of the news archive, the paragraph file
of DRCD), so questions written from one event or one paragraph are never split between fit and test. The ranker
is scikit-learn's ``LogisticRegression`` (L2, ``C`` 1.0, lbfgs) over standardised features; the calibration is
Platt's (a one-feature logistic regression) on the out-of-fold logits of each question's best candidate, the
correct best candidates of answerable questions as positives and every best candidate of a question whose
sources were removed as a negative; the threshold is the highest probability at which the training sets keep
false refusals (a correct best candidate refused) at or under :data:`MAX_FALSE_REFUSALS`. Figures carry 95 %
intervals from a bootstrap over groups (1,000 resamples, seed 0).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.answering.features import FEATURES
from rag.answering.selector import FORMAT, VERSION

FOLDS = 5
MAX_FALSE_REFUSALS = 0.02
GRID = np.round(np.arange(0.0, 1.0001, 0.01), 2)


@dataclass
class Rows:
    """Cached rows of one or more sets: ``x`` (candidates x features), ``y`` labels, ``question`` row -> question
    index, and per question its ``meta`` (set, group, kind)."""

    x: np.ndarray
    y: np.ndarray
    question: np.ndarray
    meta: list[dict[str, object]]


def load_rows(folders: list[Path]) -> Rows:
    """The rows cached in ``folders`` (``features.npz`` + ``questions.jsonl`` each), concatenated."""
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    qs: list[np.ndarray] = []
    meta: list[dict[str, object]] = []
    for folder in folders:
        data = np.load(folder / "features.npz")
        if list(data["features"]) != list(FEATURES):
            raise ValueError(f"{folder}: cached with other features; rebuild the cache (make train REBUILD=1)")
        xs.append(data["x"])
        ys.append(data["y"])
        qs.append(data["question"].astype(int) + len(meta))
        meta.extend(json.loads(line) for line in (folder / "questions.jsonl").read_text("utf-8").splitlines())
    return Rows(np.vstack(xs), np.concatenate(ys), np.concatenate(qs), meta)


def fold_of(group: str) -> int:
    """The cross-validation fold (0..FOLDS-1) of a group, by a stable hash."""
    return int(hashlib.sha1(group.encode("utf-8")).hexdigest()[:8], 16) % FOLDS


def fit_ranker(x: np.ndarray, y: np.ndarray) -> dict[str, object]:
    """Logistic regression over standardised ``x``: the model part of a model file."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    clf = LogisticRegression(C=1.0, max_iter=2000).fit((x - mean) / scale, y)
    return {"kind": "logistic", "mean": mean.tolist(), "scale": scale.tolist(), "coef": clf.coef_[0].tolist(),
            "intercept": float(clf.intercept_[0])}


def logits(model: dict[str, object], x: np.ndarray) -> np.ndarray:
    """The ranker's logits of ``x``."""
    m = {k: np.asarray(model[k]) for k in ("mean", "scale", "coef")}
    return ((x - m["mean"]) / m["scale"]) @ m["coef"] + float(model["intercept"])  # type: ignore[arg-type]


def best_per_question(rows: Rows, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per question: the best candidate's score (-inf without candidates) and whether it is labelled correct."""
    n = len(rows.meta)
    best, correct = np.full(n, -np.inf), np.zeros(n, dtype=bool)
    order = np.lexsort((-scores, rows.question))  # by question, best first
    first = np.ones(len(order), dtype=bool)
    first[1:] = rows.question[order][1:] != rows.question[order][:-1]
    for i in order[first]:
        best[rows.question[i]], correct[rows.question[i]] = scores[i], rows.y[i] > 0
    return best, correct


def out_of_fold(rows: Rows, method: str = "logistic") -> np.ndarray:
    """Out-of-fold candidate scores: ``logistic`` (the shipped ranker), ``hgb`` (scikit-learn's
    HistGradientBoostingClassifier, for comparison) or ``coverage`` (the sentence's coverage feature alone)."""
    if method == "coverage":
        return rows.x[:, FEATURES.index("cov_sentence")] + 1e-3 * rows.x[:, FEATURES.index("cov_context")]
    folds = np.array([fold_of(f"{m['set']}:{m['group']}") for m in rows.meta])[rows.question]
    scores = np.zeros(len(rows.y))
    for k in range(FOLDS):
        fit, test = folds != k, folds == k
        if method == "hgb":
            from sklearn.ensemble import HistGradientBoostingClassifier

            clf = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=0)
            clf.fit(rows.x[fit], rows.y[fit])
            scores[test] = clf.decision_function(rows.x[test])
        else:
            scores[test] = logits(fit_ranker(rows.x[fit], rows.y[fit]), rows.x[test])
    return scores


def fit_platt(best: np.ndarray, correct: np.ndarray, kinds: list[str]) -> tuple[float, float]:
    """Platt's calibration (a, b) of best-candidate scores: P(right) = 1 / (1 + exp(-(a s + b)))."""
    from sklearn.linear_model import LogisticRegression

    use = np.isfinite(best)
    clf = LogisticRegression(C=1e4, max_iter=1000).fit(best[use, None], correct[use])
    return float(clf.coef_[0, 0]), float(clf.intercept_[0])


def probabilities(best: np.ndarray, platt: tuple[float, float]) -> np.ndarray:
    """Calibrated probabilities of best-candidate scores (0 for a question without candidates)."""
    with np.errstate(over="ignore", invalid="ignore"):
        p = 1.0 / (1.0 + np.exp(-(platt[0] * best + platt[1])))
    return np.where(np.isfinite(best), p, 0.0)


def figures(meta: list[dict[str, object]], p: np.ndarray, correct: np.ndarray, threshold: float,
            mask: np.ndarray) -> dict[str, float]:
    """Selection and refusal figures of the questions in ``mask`` at ``threshold`` (see the model card)."""
    kinds = np.array([m["kind"] for m in meta])
    ans, rem, weak = mask & (kinds == "answerable"), mask & (kinds == "removed"), mask & (kinds == "weak")
    answered = p >= threshold
    n = max(1, int(ans.sum()))
    return {
        "selection": float((correct & ans).sum() / n),
        "answers": float((correct & answered & ans).sum() / n),
        "cited_wrong": float((~correct & answered & ans).sum() / n),
        "refused": float((~answered & ans).sum() / n),
        "false_refusals": float((correct & ~answered & ans).sum() / n),
        "removed_refused": float((~answered & rem).sum() / max(1, int(rem.sum()))),
        "removed_cited": float((answered & rem).sum() / max(1, int(rem.sum()))),
        "weak_refused": float((~answered & weak).sum() / max(1, int(weak.sum()))),
    }


def bootstrap(meta: list[dict[str, object]], p: np.ndarray, correct: np.ndarray, threshold: float,
              mask: np.ndarray, reps: int = 1000) -> dict[str, tuple[float, float, float]]:
    """Each figure with its 95 % interval, resampling groups (seed 0)."""
    groups = np.array([f"{m['set']}:{m['group']}" for m in meta])
    names = sorted(set(groups[mask]))
    index = {g: np.flatnonzero(mask & (groups == g)) for g in names}
    point = figures(meta, p, correct, threshold, mask)
    rng = np.random.default_rng(0)
    samples: dict[str, list[float]] = {k: [] for k in point}
    for _ in range(reps):
        picks = np.concatenate([index[names[i]] for i in rng.integers(0, len(names), len(names))])
        sub = [meta[i] for i in picks]
        got = figures(sub, p[picks], correct[picks], threshold, np.ones(len(picks), dtype=bool))
        for k, v in got.items():
            samples[k].append(v)
    return {k: (point[k], float(np.percentile(samples[k], 2.5)), float(np.percentile(samples[k], 97.5)))
            for k in point}


def choose_threshold(meta: list[dict[str, object]], p: np.ndarray, correct: np.ndarray) -> float:
    """The highest grid probability at which every set's false refusals stay <= :data:`MAX_FALSE_REFUSALS`."""
    sets = sorted({str(m["set"]) for m in meta})
    masks = [np.array([m["set"] == s for m in meta]) for s in sets]
    ok = [t for t in GRID if all(figures(meta, p, correct, t, mask)["false_refusals"] <= MAX_FALSE_REFUSALS
                                 for mask in masks)]
    return float(max(ok)) if ok else 0.0


def model_file(model: dict[str, object], platt: tuple[float, float], threshold: float,
               training: dict[str, object]) -> dict[str, object]:
    """The JSON object of a model file (:func:`rag.answering.selector.parse_model` reads it)."""
    return {"format": FORMAT, "version": VERSION, "features": list(FEATURES), "model": model,
            "calibration": {"kind": "platt", "a": platt[0], "b": platt[1]}, "threshold": threshold,
            "training": training}
