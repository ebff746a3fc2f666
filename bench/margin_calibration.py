"""Does the shape of a question's candidate list tell absent sources from present ones beyond the best logit?

    nice -n 19 python bench/margin_calibration.py [CACHE]   # CACHE holds features/<set> (default ../cache/scorer)

On the cached training rows of ``make train`` and the shipped model's out-of-fold scores (same grouped folds,
:func:`rag.answering.train.out_of_fold`), each question gets "no-answer" margin features of its candidate list
(the classic signals: the best-minus-second margin of calibration work, the listwise probability mass on the best
candidate, the verifier's "is the best span supported" of Hu et al. 2019 "Read + Verify", the null-score margin
of Rajpurkar et al. 2018's SQuAD 2.0 baselines). A candidate's chunk is read from ``retrieval_rank`` (1 / (1 +
rank); retrieval keeps one chunk per story, so a chunk is a story). A logistic calibrator P(best candidate is
right | features) replaces Platt's one feature (the best logit; ``platt`` nests in every variant), its
coefficients cross-fitted on the same folds so every probability is out of fold.

Decision rule (written before measuring): the primary variant ``all`` ships only if the refusal of removed sources
rises beyond noise (paired 95 % interval over groups above 0, train.py's bootstrap) on at least one training set at
the matched false-refusal budget 0.02 (each set's own threshold), AND answers, cited wrong and false refusals get
no worse beyond noise on either set. The smaller variants are exploratory: one of them would have to pass the same
rule and would be reported as chosen after looking (several comparisons).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.stats import rankdata
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.train import fmt_interval  # noqa: E402
from rag.answering import train as fit  # noqa: E402

CAP = 10.0  # margins are clipped to [0, CAP] (a question whose candidates all come from one chunk gets CAP)
NEAR = 1.0  # ranker-score distance within which a chunk counts as a rival of the best candidate
VARIANTS = {
    "platt": ("logit",),
    "margins": ("logit", "gap_second", "gap_other", "mass", "chunk_mass", "rivals"),
    "retrieval": ("logit", "best_rank", "best_rscore"),
    "logit gaps": ("logit", "logit_gap_other", "logit_max"),
}
VARIANTS["all"] = tuple(dict.fromkeys(f for v in VARIANTS.values() for f in v))


def shape(rows: fit.Rows, rank: np.ndarray, answer: np.ndarray) -> dict[str, np.ndarray]:
    """Per question, its margin features (NaN without candidates) from candidate scores ``rank``, ``answer``."""
    n, col = len(rows.meta), rows.features.index
    out = {k: np.full(n, np.nan) for k in VARIANTS["all"]}
    chunk = np.round(1.0 / rows.x[:, col("retrieval_rank")] - 1.0).astype(int)
    for q in np.unique(rows.question):
        idx = np.flatnonzero(rows.question == q)
        r, a, c = rank[idx], answer[idx], chunk[idx]
        b = int(np.argmax(r))
        soft = np.exp(r - r[b])
        soft /= soft.sum()
        other = c != c[b]
        rest = np.delete(r, b)
        best_other = r[other].max() if other.any() else -np.inf
        out["logit"][q] = a[b]
        out["gap_second"][q] = min(CAP, r[b] - rest.max()) if len(rest) else CAP
        out["gap_other"][q] = min(CAP, r[b] - best_other)
        out["mass"][q], out["chunk_mass"][q] = soft[b], soft[c == c[b]].sum()
        out["rivals"][q] = len(set(c[r >= r[b] - NEAR]))
        out["best_rank"][q] = rows.x[idx[b], col("retrieval_rank")]
        out["best_rscore"][q] = rows.x[idx[b], col("retrieval_score")]
        out["logit_gap_other"][q] = np.clip(a[b] - (a[other].max() if other.any() else -np.inf), -CAP, CAP)
        out["logit_max"][q] = a.max()
    return out


def cross_fit(rows: fit.Rows, feats: dict[str, np.ndarray], names: tuple[str, ...], correct: np.ndarray,
              ) -> np.ndarray:
    """Out-of-fold P(best candidate right) of a logistic calibrator over ``names`` (standardised; 0 without
    candidates), fitted per fold on the other folds' answerable and removed questions."""
    x = np.column_stack([feats[k] for k in names])
    ok = np.isfinite(x).all(axis=1)
    use = ok & np.isin([str(m["kind"]) for m in rows.meta], ["answerable", "removed"])
    folds, p = fit.question_folds(rows), np.zeros(len(rows.meta))
    for k in range(fit.FOLDS):
        train, test = use & (folds != k), ok & (folds == k)
        mean, scale = x[train].mean(axis=0), x[train].std(axis=0) + 1e-9
        clf = LogisticRegression(C=1.0, max_iter=2000).fit((x[train] - mean) / scale, correct[train])
        p[test] = clf.predict_proba((x[test] - mean) / scale)[:, 1]
    return p


def matched(meta: list[dict[str, object]], p: np.ndarray, correct: np.ndarray, mask: np.ndarray,
            budget: float) -> float:
    """The threshold refusing as many right best candidates of ``mask``'s answerable questions as ``budget``
    allows (false refusals <= budget), no fewer: the (m+1)-th lowest of their probabilities."""
    ans = mask & correct & np.array([m["kind"] == "answerable" for m in meta])
    n = int((mask & np.array([m["kind"] == "answerable" for m in meta])).sum())
    right = np.sort(p[ans])
    m = int(np.floor(budget * n + 1e-9))
    return float(right[m]) if m < len(right) else 1.0


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Mann-Whitney AUC (average ranks for ties)."""
    ranks = rankdata(np.concatenate([pos, neg]))[: len(pos)]
    return float((ranks.sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def auc_gain(meta: list[dict[str, object]], p: np.ndarray, base: np.ndarray, correct: np.ndarray,
             mask: np.ndarray, reps: int = 1000) -> tuple[float, float, float]:
    """AUC of ``p`` minus that of ``base`` (right answerable against removed, within ``mask``), with its 95 %
    interval over groups (seed 0, as :func:`rag.answering.train.bootstrap`)."""
    kinds, groups = np.array([m["kind"] for m in meta]), np.array([f"{m['set']}:{m['group']}" for m in meta])
    pos, neg = mask & correct & (kinds == "answerable"), mask & (kinds == "removed")
    names = sorted(set(groups[mask]))
    index = {g: np.flatnonzero(mask & (groups == g)) for g in names}

    def gain(rows: np.ndarray) -> float:
        return _auc(p[rows[pos[rows]]], p[rows[neg[rows]]]) - _auc(base[rows[pos[rows]]], base[rows[neg[rows]]])

    rng = np.random.default_rng(0)
    draws = [gain(np.concatenate([index[names[i]] for i in rng.integers(0, len(names), len(names))]))
             for _ in range(reps)]
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return gain(np.flatnonzero(mask)), float(lo), float(hi)


KEYS = ("answers", "cited_wrong", "false_refusals", "removed_refused")


def report(rows: fit.Rows, probs: dict[str, np.ndarray], correct: np.ndarray, primary: str,
           base: str = "platt") -> None:
    """Print the Markdown tables of the per-question probabilities ``probs`` (variant -> probabilities, one of them
    ``base``): figures at the joint threshold and at each set's own matched budgets 0.02 and 0.05, the paired
    differences against ``base``, and the AUCs (``primary`` - ``base`` with its interval)."""
    masks = {s: np.array([m["set"] == s for m in rows.meta]) for s in ("crud", "drcd")}
    joint = {v: fit.choose_threshold(rows.meta, p, correct) for v, p in probs.items()}
    print("| set | budget | variant | threshold | " + " | ".join(KEYS) + " |\n|---|---|---|---|---|---|---|---|")
    diffs = []
    for s, mask in masks.items():
        for budget in ("joint", 0.02, 0.05):
            ts = {v: joint[v] if budget == "joint" else matched(rows.meta, p, correct, mask, float(budget))
                  for v, p in probs.items()}
            for v, p in probs.items():
                f = fit.bootstrap(rows.meta, p, correct, ts[v], mask)
                print(f"| {s} | {budget} | {v} | {ts[v]:.3f} | " + " | ".join(fmt_interval(f[k]) for k in KEYS) + " |")
                if v != base:
                    d = fit.bootstrap(rows.meta, p, correct, ts[v], mask, base=(probs[base], correct, ts[base]))
                    diffs.append(f"| {s} | {budget} | {v} | " + " | ".join(fmt_interval(d[k], True) for k in KEYS) + " |")
            sys.stdout.flush()
    print(f"\nPaired differences against {base} (same folds, 95 % intervals over groups)\n")
    print("| set | budget | variant | " + " | ".join(KEYS) + " |\n|---|---|---|---|---|---|---|")
    print("\n".join(diffs))
    kinds = np.array([m["kind"] for m in rows.meta])
    for s, mask in masks.items():  # threshold-free: P(a right best candidate outranks a removed question's)
        pos, neg = mask & correct & (kinds == "answerable"), mask & (kinds == "removed")
        print(f"\nAUC, {s} (right answerable against removed): " + ", ".join(
            f"{v} {_auc(p[pos], p[neg]):.3f}" for v, p in probs.items()) + f"; {primary} - {base} " +
            fmt_interval(auc_gain(rows.meta, probs[primary], probs[base], correct, mask), True))


def main(cache: Path) -> None:
    """Print the Markdown tables (:func:`report`) and the coefficients of ``all``."""
    rows = fit.load_rows([cache / "features" / s for s in ("crud", "drcd")])
    rank, answer = fit.out_of_fold(rows)
    _, correct = fit.best_per_question(rows, rank, answer)
    feats = shape(rows, rank, answer)
    probs = {v: cross_fit(rows, feats, names, correct) for v, names in VARIANTS.items()}
    report(rows, probs, correct, "all")
    clf = LogisticRegression(C=1.0, max_iter=2000)
    x = np.column_stack([feats[k] for k in VARIANTS["all"]])
    use = np.isfinite(x).all(axis=1) & np.isin([str(m["kind"]) for m in rows.meta], ["answerable", "removed"])
    z = (x[use] - x[use].mean(axis=0)) / (x[use].std(axis=0) + 1e-9)
    coef = clf.fit(z, correct[use]).coef_[0]
    print("\nCoefficients of `all` (standardised, all questions): " +
          ", ".join(f"`{k}` {c:+.2f}" for k, c in zip(VARIANTS["all"], coef, strict=True)))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../cache/scorer"))
