"""Fitting the answer selector (:mod:`rag.answering.selector`) on cached training rows (:mod:`rag.train_data`).

Deterministic: folds are a stable hash of each question's group (``item`` of the news archive, the paragraph file
of DRCD), so questions written from one event or one paragraph are never split between fit and test. Two linear
models over the same standardised features:

- the **ranker** picks a question's best candidate: a listwise conditional logit (the softmax over its candidates,
  maximising the probability of its right ones; Burges' ListNet / McFadden's conditional logit), L2
  :data:`RANK_L2`, scipy's L-BFGS from zeros, questions without a right candidate left out. Cross-validated
  against a pointwise logistic regression, gradient boosting and coverage alone (the model card and
  ``docs/evaluation.md``), it picks right most often;
- the **answerer**, scikit-learn's ``LogisticRegression`` (L2, ``C`` 1.0, lbfgs) over all candidates, says how much
  the chosen one looks like an answer on an absolute scale (the ranker's scores compare only within a question).

The calibration, a logistic regression (L2, ``C`` 1.0, standardised inputs), is fitted on each question's best
candidate by the out-of-fold ranker: its out-of-fold answerer logit and its two e5 similarities to the question
(:mod:`rag.answering.verifier`; Platt's scaling with two more inputs). Right best candidates of answerable
questions are positive, every best candidate of a question whose sources were removed negative. The threshold is
the highest probability at which false refusals (a right best candidate refused) stay <= :data:`MAX_FALSE_REFUSALS`
on every training set. Figures carry 95 % intervals from a bootstrap over groups (1,000 resamples, seed 0).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from sklearn.linear_model import LogisticRegression

from rag.answering.features import FEATURES
from rag.answering.selector import CALIBRATION_INPUTS, FORMAT, VERSION

FOLDS = 5
MAX_FALSE_REFUSALS = 0.02
RANK_L2 = 1.0  # the ranker's L2 weight (CV figures do not move between 0.1 and 10)
GRID = np.round(np.arange(0.0, 1.0001, 0.01), 2)


@dataclass
class Rows:
    """Cached rows of one or more sets: ``x`` (candidates x features), ``y`` labels, ``question`` row -> question
    index, and per question its ``meta`` (set, group, kind, query); ``features`` names the columns of ``x``;
    ``texts`` each candidate's (sentence, title), for the calibration's e5 similarities."""

    x: np.ndarray
    y: np.ndarray
    question: np.ndarray
    meta: list[dict[str, object]]
    features: tuple[str, ...] = FEATURES
    texts: list[tuple[str, str]] | None = None

    def only(self, features: tuple[str, ...]) -> Rows:
        """The same rows with the columns of ``features`` only (in that order)."""
        cols = [self.features.index(f) for f in features]
        return Rows(self.x[:, cols], self.y, self.question, self.meta, features, self.texts)


def load_rows(folders: list[Path], features: tuple[str, ...] = FEATURES) -> Rows:
    """The rows cached in ``folders`` (``features.npz`` + ``questions.jsonl`` each), concatenated, with the columns
    of ``features`` (a cache may hold more); ValueError naming the folder when it lacks one of them."""
    xs, ys, qs = [], [], []
    meta: list[dict[str, object]] = []
    texts: list[tuple[str, str]] | None = []
    for folder in folders:
        data = np.load(folder / "features.npz")
        if texts is not None and "sentence" in data:
            texts += zip((str(t) for t in data["sentence"]), (str(t) for t in data["title"]), strict=True)
        else:
            texts = None
        cached = [str(f) for f in data["features"]]
        missing = [f for f in features if f not in cached]
        if missing:
            raise ValueError(f"{folder}: cached without {missing}; rebuild the cache (make train REBUILD=1)")
        xs.append(data["x"][:, [cached.index(f) for f in features]])
        ys.append(data["y"])
        qs.append(data["question"].astype(int) + len(meta))
        meta.extend(json.loads(line) for line in (folder / "questions.jsonl").read_text("utf-8").splitlines())
    return Rows(np.vstack(xs), np.concatenate(ys), np.concatenate(qs), meta, features, texts)


def question_folds(rows: Rows) -> np.ndarray:
    """Each question's cross-validation fold (0..FOLDS-1): a stable hash (sha1) of its set and group."""
    return np.array([int(hashlib.sha1(f"{m['set']}:{m['group']}".encode()).hexdigest()[:8], 16) % FOLDS
                     for m in rows.meta])


def fit_listwise(z: np.ndarray, y: np.ndarray, question: np.ndarray, l2: float = RANK_L2) -> np.ndarray:
    """Coefficients ``(features,)`` of the conditional logit over standardised ``z``: minimises, over questions
    holding a right candidate, -log(sum of softmax over its right candidates) + l2/2 |w|^2."""
    has = np.zeros(int(question.max()) + 1 if len(question) else 0, dtype=bool)
    np.logical_or.at(has, question, y > 0)
    keep = has[question]
    z, pos, q = z[keep], y[keep] > 0, np.unique(question[keep], return_inverse=True)[1]
    n = int(q.max()) + 1 if len(q) else 0

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        s = z @ w
        top = np.full(n, -np.inf)
        np.maximum.at(top, q, s)
        e = np.exp(s - top[q])
        den, num = np.bincount(q, e, n), np.bincount(q, e * pos, n)
        grad = z.T @ (e / den[q] - np.where(pos, e / num[q], 0.0)) + l2 * w
        return float(-(np.log(num) - np.log(den)).sum() + 0.5 * l2 * w @ w), grad

    w = np.asarray(minimize(loss, np.zeros(z.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 1000}).x)
    # A column constant within every question (``typed``) cannot move a softmax over a question's candidates: its
    # weight is exactly 0, not the rounding noise (~1e-16) the fit leaves, which differs between machines.
    starts = np.unique(q, return_index=True)[1]
    w[~(z != z[starts][q]).any(axis=0)] = 0.0
    return w


def fit_selector(rows: Rows) -> dict[str, object]:
    """The ranker and the answerer fitted on ``rows``: the model part of a model file."""
    mean, scale = rows.x.mean(axis=0), rows.x.std(axis=0)
    scale[scale < 1e-9] = 1.0  # a constant column
    z = (rows.x - mean) / scale
    clf = LogisticRegression(C=1.0, max_iter=2000).fit(z, rows.y)
    return {"kind": "listwise+logistic", "mean": mean.tolist(), "scale": scale.tolist(),
            "rank_coef": fit_listwise(z, rows.y, rows.question).tolist(),
            "answer_coef": clf.coef_[0].tolist(), "answer_intercept": float(clf.intercept_[0])}


def scores(model: dict[str, object], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ranker's scores and the answerer's logits of ``x``."""
    z = (x - np.asarray(model["mean"])) / np.asarray(model["scale"])
    return (z @ np.asarray(model["rank_coef"]),
            z @ np.asarray(model["answer_coef"]) + float(model["answer_intercept"]))  # type: ignore[arg-type]


def out_of_fold(rows: Rows, method: str = "selector") -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold candidate (rank, answer) scores of ``method``: ``selector`` (the shipped pair), ``logistic``
    (the answerer alone ranks), ``hgb`` (scikit-learn's HistGradientBoostingClassifier, 200 trees, for comparison)
    or ``coverage`` (the sentence's IDF-weighted coverage alone; its rank score is also its answer score)."""
    if method == "coverage":
        cov = rows.x[:, rows.features.index("cov_sentence")] + 1e-3 * rows.x[:, rows.features.index("cov_context")]
        return cov, cov
    folds = question_folds(rows)[rows.question]
    rank, answer = np.zeros(len(rows.y)), np.zeros(len(rows.y))
    for k in range(FOLDS):
        train, test = folds != k, folds == k
        part = Rows(rows.x[train], rows.y[train], rows.question[train], rows.meta, rows.features)
        if method == "hgb":
            from sklearn.ensemble import HistGradientBoostingClassifier

            clf = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=0)
            rank[test] = answer[test] = clf.fit(part.x, part.y).decision_function(rows.x[test])
            continue
        rank[test], answer[test] = scores(fit_selector(part), rows.x[test])
        if method == "logistic":
            rank[test] = answer[test]
    return rank, answer


def best_rows(rows: Rows, rank: np.ndarray) -> np.ndarray:
    """Per question, the row of its best candidate by ``rank`` (the first row on ties), -1 without candidates."""
    best = np.full(len(rows.meta), -1)
    order = np.lexsort((-rank, rows.question))  # by question, best first
    first = np.ones(len(order), dtype=bool)
    first[1:] = rows.question[order][1:] != rows.question[order][:-1]
    best[rows.question[order[first]]] = order[first]
    return best


def best_per_question(rows: Rows, rank: np.ndarray, answer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per question: the ``answer`` score of its best candidate by ``rank`` (-inf without candidates) and whether
    that candidate is labelled right."""
    best = best_rows(rows, rank)
    has = best >= 0
    score, correct = np.full(len(rows.meta), -np.inf), np.zeros(len(rows.meta), dtype=bool)
    score[has], correct[has] = answer[best[has]], rows.y[best[has]] > 0
    return score, correct


def figures(meta: list[dict[str, object]], p: np.ndarray, correct: np.ndarray, threshold: float,
            mask: np.ndarray) -> dict[str, float]:
    """Selection and refusal figures of the questions in ``mask`` at ``threshold`` (see the model card)."""
    kinds = np.array([m["kind"] for m in meta])
    ans, rem, weak = mask & (kinds == "answerable"), mask & (kinds == "removed"), mask & (kinds == "weak")
    answered = p >= threshold
    n, n_rem, n_weak = max(1, int(ans.sum())), max(1, int(rem.sum())), max(1, int(weak.sum()))
    return {"selection": float((correct & ans).sum() / n), "answers": float((correct & answered & ans).sum() / n),
            "cited_wrong": float((~correct & answered & ans).sum() / n), "refused": float((~answered & ans).sum() / n),
            "false_refusals": float((correct & ~answered & ans).sum() / n),
            "removed_refused": float((~answered & rem).sum() / n_rem),
            "removed_cited": float((answered & rem).sum() / n_rem),
            "weak_refused": float((~answered & weak).sum() / n_weak)}


def bootstrap(meta: list[dict[str, object]], p: np.ndarray, correct: np.ndarray, threshold: float,
              mask: np.ndarray, reps: int = 1000,
              base: tuple[np.ndarray, np.ndarray, float] | None = None) -> dict[str, tuple[float, float, float]]:
    """Each figure with its 95 % interval, resampling groups (seed 0); with ``base`` (another method's ``p``,
    ``correct`` and threshold on the same questions) the paired difference (this - base) instead."""
    groups = np.array([f"{m['set']}:{m['group']}" for m in meta])
    names = sorted(set(groups[mask]))
    index = {g: np.flatnonzero(mask & (groups == g)) for g in names}

    def value(rows: np.ndarray) -> dict[str, float]:
        sub, whole = [meta[i] for i in rows], np.ones(len(rows), dtype=bool)
        got = figures(sub, p[rows], correct[rows], threshold, whole)
        if base is not None:
            other = figures(sub, base[0][rows], base[1][rows], base[2], whole)
            got = {k: v - other[k] for k, v in got.items()}
        return got

    point, rng = value(np.flatnonzero(mask)), np.random.default_rng(0)
    draws = [value(np.concatenate([index[names[i]] for i in rng.integers(0, len(names), len(names))]))
             for _ in range(reps)]
    ci = {k: np.percentile([d[k] for d in draws], [2.5, 97.5]) for k in point}
    return {k: (point[k], float(ci[k][0]), float(ci[k][1])) for k in point}


def choose_threshold(meta: list[dict[str, object]], p: np.ndarray, correct: np.ndarray) -> float:
    """The highest grid probability at which every set's false refusals stay <= :data:`MAX_FALSE_REFUSALS`."""
    masks = [np.array([m["set"] == s for m in meta]) for s in sorted({str(m["set"]) for m in meta})]
    ok = [t for t in GRID if all(figures(meta, p, correct, t, mask)["false_refusals"] <= MAX_FALSE_REFUSALS
                                 for mask in masks)]
    return float(max(ok)) if ok else 0.0


#: A question's best candidates (row indices) -> their e5 similarities ``(n, 2)`` (:mod:`rag.answering.verifier`).
Similarities = Callable[[np.ndarray], np.ndarray]


@dataclass
class Evaluation:
    """Out-of-fold results of one method: per question ``best`` answer score, ``correct``, the ``calibration``
    (inputs, mean, scale, coef, intercept), probabilities ``p`` and the chosen ``threshold``."""

    best: np.ndarray
    correct: np.ndarray
    calibration: dict[str, object]
    p: np.ndarray
    threshold: float


def evaluate(rows: Rows, method: str = "selector", oof: tuple[np.ndarray, np.ndarray] | None = None,
             similarities: Similarities | None = None) -> Evaluation:
    """Cross-validate ``method`` (see :func:`out_of_fold`; or take its out-of-fold (rank, answer) scores ``oof``),
    calibrate (the module docstring: over the best candidates' logits, with their e5 ``similarities`` when given,
    else over the logits alone, Platt's scaling; 0 without candidates) and choose its threshold."""
    rank, answer = oof if oof is not None else out_of_fold(rows, method)
    best, correct = best_per_question(rows, rank, answer)
    has = np.isfinite(best)
    inputs = best[:, None]
    if similarities is not None:
        rows_of = best_rows(rows, rank)
        sims = np.zeros((len(best), 2))
        sims[has] = similarities(rows_of[has])
        inputs = np.column_stack([best, sims])
    use = has & np.isin([str(m["kind"]) for m in rows.meta], ["answerable", "removed"])
    mean, scale = inputs[use].mean(axis=0), inputs[use].std(axis=0)
    scale[scale < 1e-9] = 1.0
    clf = LogisticRegression(C=1.0, max_iter=1000).fit((inputs[use] - mean) / scale, correct[use])
    z = np.where(has[:, None], (inputs - mean) / scale, 0.0) @ clf.coef_[0] + clf.intercept_[0]
    p = np.where(has, 1.0 / (1.0 + np.exp(-z)), 0.0)
    names = CALIBRATION_INPUTS if similarities is not None else CALIBRATION_INPUTS[:1]
    calibration = {"kind": "logistic", "inputs": list(names), "mean": mean.tolist(), "scale": scale.tolist(),
                   "coef": clf.coef_[0].tolist(), "intercept": float(clf.intercept_[0])}
    return Evaluation(best, correct, calibration, p, choose_threshold(rows.meta, p, correct))


def model_file(model: dict[str, object], calibration: dict[str, object], threshold: float,
               training: dict[str, object]) -> dict[str, object]:
    """The JSON object of a model file over :data:`FEATURES` (:func:`rag.answering.selector.parse_model` reads it);
    ``calibration`` must read :data:`~rag.answering.selector.CALIBRATION_INPUTS`."""
    return {"format": FORMAT, "version": VERSION, "features": list(FEATURES), "model": model,
            "calibration": calibration, "threshold": threshold, "training": training}
