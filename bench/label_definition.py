"""Training labels "gold report and gold answer" (shipped) against "gold answer, any report" (what the metric counts).

    nice -n 19 python bench/label_definition.py CACHE/features   # make train's cached rows (built at 2026-12-07 or later)

``make train`` labels a candidate right (``y``) when its normalised text holds a gold answer AND it comes from a
gold ``src`` file or a printing of its story (:func:`rag.train_data.build_features`). ``newsqa eval`` counts an
answer right when it holds a gold answer, from whatever report (``answer_contains_gold``; ``cited_wrong`` is an
answer without it): ``build_features`` records that label too (``y_any``). The two differ where another report of
the archive holds the answer (another outlet's report of the same event that near-duplicate detection did not
group) or holds the answer string by coincidence (``金牌`` in another sport's report). Removed-source questions keep
label 0 under both (the refusal benchmark counts any answer to them as a failure). This script measures whether
fitting on the metric's own label helps the metric.

The shipped selector (:func:`rag.answering.train.out_of_fold`, grouped 5-fold CV) is fitted on each label; each
fit is calibrated by Platt on its own out-of-fold best candidates and given its threshold by
:func:`rag.answering.train.choose_threshold`; both are measured under each label definition, with paired 95 %
intervals over groups (:func:`rag.answering.train.bootstrap`, 300 resamples, seed 0).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.train import fmt_interval  # noqa: E402
from rag.answering import train as fit  # noqa: E402

FIGURES = ("selection", "answers", "cited_wrong", "false_refusals", "removed_refused")


def calibrated(rows: fit.Rows, oof: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, float]:
    """Per question: Platt probability of the best candidate, whether it is right under ``rows.y``, threshold."""
    best, correct = fit.best_per_question(rows, *oof)
    use = np.isfinite(best) & np.isin([str(m["kind"]) for m in rows.meta], ["answerable", "removed"])
    clf = LogisticRegression(C=1e4, max_iter=1000).fit(best[use, None], correct[use])
    with np.errstate(over="ignore", invalid="ignore"):
        p = np.where(np.isfinite(best), 1 / (1 + np.exp(-(clf.coef_[0, 0] * best + clf.intercept_[0]))), 0.0)
    return p, correct, fit.choose_threshold(rows.meta, p, correct)


def compare(features: Path) -> None:
    """A Markdown table per label definition (module docstring) over the ``<set>/`` folders of ``features``;
    ValueError naming the folder when its rows predate ``y_any``."""
    xs, ys, yas, qs = [], [], [], []
    meta: list[dict[str, object]] = []
    for folder in sorted(p for p in features.iterdir() if (p / "features.npz").exists()):
        data = np.load(folder / "features.npz")
        if "y_any" not in data:
            raise ValueError(f"{folder}: cached without y_any; rebuild the cache (make train REBUILD=1)")
        xs.append(data["x"])
        ys.append(data["y"])
        yas.append(data["y_any"])
        qs.append(data["question"].astype(int) + len(meta))
        meta += [json.loads(line) for line in (folder / "questions.jsonl").read_text("utf-8").splitlines()]
    x, q = np.vstack(xs), np.concatenate(qs)
    shipped, anyrep = fit.Rows(x, np.concatenate(ys), q, meta), fit.Rows(x, np.concatenate(yas), q, meta)
    oof = {"shipped label": fit.out_of_fold(shipped), "any-report label": fit.out_of_fold(anyrep)}
    masks = {s: np.array([m["set"] == s for m in meta]) for s in sorted({str(m["set"]) for m in meta})}
    masks["pooled"] = np.ones(len(meta), dtype=bool)
    for measured, rows in (("any report (newsqa eval's answer_contains_gold)", anyrep),
                           ("gold report (the shipped label)", shipped)):
        print(f"\n### Measured as right: {measured}\n\n| set | fitted on | threshold | " + " | ".join(FIGURES)
              + " |\n|---|---|---|" + "---|" * len(FIGURES))
        res = {name: calibrated(rows, scores) for name, scores in oof.items()}
        for s, mask in masks.items():
            for name, (p, correct, t) in res.items():
                f = fit.bootstrap(meta, p, correct, t, mask, reps=300)
                print(f"| {s} | {name} | {t:.2f} | " + " | ".join(fmt_interval(f[k]) for k in FIGURES) + " |")
            d = fit.bootstrap(meta, *res["any-report label"], mask, reps=300, base=res["shipped label"])
            print(f"| {s} | difference | | " + " | ".join(fmt_interval(d[k], sign=True) for k in FIGURES) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("features", type=Path, help="make train's CACHE/features folder")
    compare(parser.parse_args().features)


if __name__ == "__main__":
    main()
