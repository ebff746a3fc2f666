"""LightGBM ``lambdarank`` as the answer selector's ranker, against the shipped listwise linear ranker.

    nice -n 19 python bench/lambdarank_ranker.py [CACHE] [--out report.md] [--scores oof.npz]

Reads the feature cache of ``make train`` (``CACHE/features/{crud,drcd}``, default ``../cache/scorer``; needs
``pip install lightgbm==4.7.0``). On the same grouped 5 folds as :mod:`rag.answering.train`:

- ``selector``: the shipped pair (listwise linear ranker, logistic answerer);
- ``lambdarank``: LightGBM's lambdarank orders the candidates (query groups = questions, label = candidate right;
  deterministic: one thread, seed 0), the shipped logistic answerer gives the chosen one its logit; its
  hyperparameters (:data:`GRID`, with :data:`ROUNDS` trees at learning rate 0.05) are chosen inside each outer fold
  by an inner 2-fold split of its training folds (criterion: inner out-of-fold selection), never on a dev set;
- ``lambdarank+answer``: as ``lambdarank``, with the lambdarank score one more feature of the answerer (training
  rows scored by the inner split's out-of-fold models of the chosen setting; exploratory).

Each is calibrated (Platt) and refuses at its own threshold (:func:`rag.answering.train.evaluate`); figures and
paired differences against ``selector`` carry 95 % intervals (bootstrap over groups, seed 0). The decision rule was
written before measuring: ``bench/data/lambdarank_decision_rule.md``; the report: ``bench/data/lambdarank_ranker.md``.
``--scores`` keeps the out-of-fold scores (and reuses them when the file exists).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.train import fmt_interval  # noqa: E402
from rag.answering import train as fit  # noqa: E402

GRID = list(itertools.product((7, 31), (20, 100), (10, 30)))  # num_leaves, min_data_in_leaf, truncation level
ROUNDS = (100, 300, 600)
KEYS = ("selection", "answers", "cited_wrong", "false_refusals", "removed_refused")


def _params(leaves: int, min_data: int, truncation: int) -> dict[str, object]:
    return {"objective": "lambdarank", "num_leaves": leaves, "min_data_in_leaf": min_data,
            "lambdarank_truncation_level": truncation, "learning_rate": 0.05, "num_threads": 1,
            "deterministic": True, "force_row_wise": True, "seed": 0, "verbose": -1}


def _train(rows: fit.Rows, keep: np.ndarray, setting: tuple[int, int, int], rounds: int) -> lgb.Booster:
    """A lambdarank booster on the rows in ``keep`` (contiguous by question, as the cache is)."""
    groups = np.unique(rows.question[keep], return_counts=True)[1]
    data = lgb.Dataset(rows.x[keep], rows.y[keep], group=groups, params={"verbose": -1})
    return lgb.train(_params(*setting), data, num_boost_round=rounds)


def _selection(rows: fit.Rows, keep: np.ndarray, score: np.ndarray) -> float:
    """Share of the answerable questions among the rows in ``keep`` whose best candidate by ``score`` is right."""
    q, y, s = rows.question[keep], rows.y[keep], score
    order = np.lexsort((-s, q))
    first = order[np.r_[True, q[order][1:] != q[order][:-1]]]
    answerable = np.array([rows.meta[i]["kind"] == "answerable" for i in q[first]])
    return float((y[first][answerable] > 0).mean())


def out_of_fold(rows: fit.Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Out-of-fold lambdarank scores, the shipped answerer's logits and the answerer-with-lambdarank logits of every
    candidate, and the setting chosen in each outer fold."""
    qfold = fit.question_folds(rows)
    folds = qfold[rows.question]
    rank, answer, answer_b = (np.zeros(len(rows.y)) for _ in range(3))
    chosen = []
    for k in range(fit.FOLDS):
        train, test = folds != k, folds == k
        inner = [f for f in range(fit.FOLDS) if f != k]
        halves = [train & np.isin(folds, inner[:2]), train & np.isin(folds, inner[2:])]
        inner_scores = {(g, n): np.zeros(len(rows.y)) for g in GRID for n in ROUNDS}
        for setting in GRID:
            for a, b in ((0, 1), (1, 0)):
                booster = _train(rows, halves[a], setting, max(ROUNDS))
                for n in ROUNDS:
                    inner_scores[setting, n][halves[b]] = booster.predict(rows.x[halves[b]], num_iteration=n)
        best = max(inner_scores, key=lambda key: _selection(rows, train, inner_scores[key][train]))
        chosen.append(f"fold {k}: leaves {best[0][0]}, min_data {best[0][1]}, truncation {best[0][2]}, "
                      f"trees {best[1]} (inner selection {_selection(rows, train, inner_scores[best][train]):.3f})")
        print(chosen[-1], f"{time.time() - STARTED:.0f} s", file=sys.stderr, flush=True)
        rank[test] = _train(rows, train, best[0], best[1]).predict(rows.x[test])
        part = fit.Rows(rows.x[train], rows.y[train], rows.question[train], rows.meta, rows.features)
        answer[test] = fit.scores(fit.fit_selector(part), rows.x[test])[1]
        extra_train = np.column_stack([rows.x[train], inner_scores[best][train]])
        mean, scale = extra_train.mean(axis=0), np.maximum(extra_train.std(axis=0), 1e-9)
        clf = LogisticRegression(C=1.0, max_iter=2000).fit((extra_train - mean) / scale, rows.y[train])
        answer_b[test] = clf.decision_function((np.column_stack([rows.x[test], rank[test]]) - mean) / scale)
    return rank, answer, answer_b, chosen


def main() -> None:
    """Measure and print (with ``--out``, write) the Markdown report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cache", nargs="?", default="../cache/scorer")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--scores", type=Path)
    args = parser.parse_args()
    rows = fit.load_rows([Path(args.cache) / "features" / s for s in ("crud", "drcd")])
    if args.scores and args.scores.exists():
        saved = np.load(args.scores)
        rank, answer, answer_b, chosen = saved["rank"], saved["answer"], saved["answer_b"], list(saved["chosen"])
    else:
        rank, answer, answer_b, chosen = out_of_fold(rows)
        if args.scores:
            np.savez(args.scores, rank=rank, answer=answer, answer_b=answer_b, chosen=np.array(chosen))
    results = {"selector": fit.evaluate(rows), "lambdarank": fit.evaluate(rows, oof=(rank, answer)),
               "lambdarank+answer": fit.evaluate(rows, oof=(rank, answer_b))}
    masks = {s: np.array([m["set"] == s for m in rows.meta]) for s in ("crud", "drcd")}
    masks["pooled"] = np.ones(len(rows.meta), dtype=bool)
    lines = [f"LightGBM {lgb.__version__}; settings chosen per outer fold (inner 2-fold split):", "",
             *[f"- {c}" for c in chosen], "",
             "| set | method | threshold | " + " | ".join(k.replace("_", " ") for k in KEYS) + " |",
             "|---|---|---|" + "---|" * len(KEYS)]
    base = results["selector"]
    diffs = ["", "Paired differences against `selector` (each at its own threshold; 95 % intervals, bootstrap over "
             "groups):", "", "| set | method | " + " | ".join(k.replace("_", " ") for k in KEYS) + " |",
             "|---|---|" + "---|" * len(KEYS)]
    for s, mask in masks.items():
        for method, r in results.items():
            f = fit.bootstrap(rows.meta, r.p, r.correct, r.threshold, mask)
            lines.append(f"| {s} | {method} | {r.threshold:.2f} | " + " | ".join(fmt_interval(f[k]) for k in KEYS) + " |")
            if method != "selector":
                d = fit.bootstrap(rows.meta, r.p, r.correct, r.threshold, mask,
                                  base=(base.p, base.correct, base.threshold))
                diffs.append(f"| {s} | {method} | " + " | ".join(fmt_interval(d[k], True) for k in KEYS) + " |")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    report = "\n".join([*lines, *diffs, "", f"Run time {time.time() - STARTED:.0f} s, load average {load}."]) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")


STARTED = time.time()

if __name__ == "__main__":
    main()
