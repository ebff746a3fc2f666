"""A question-level answer verifier fitted on the refusal's own population, against the shipped answerer + Platt.

    nice -n 19 python bench/verifier_calibration.py [CACHE]   # CACHE holds features/<set> (default ../cache/verifier)

Today the refusal is Platt's calibration of the answerer's logit, and the answerer is a logistic regression fitted
over all ~150,000 candidates (mostly easy negatives): its weights are fitted for a population the refusal never
decides on. A verifier (Hu et al. 2019 "Read + Verify"; the separate no-answer classifier of SQuAD 2.0 systems) is
fitted on the decision population itself: one row per answerable question and per its sources-removed variant,
the features of the candidate the ranker puts first, label "that candidate is right" (removed: always 0).

Every probability is out of fold. The shipped pair (ranker + answerer) is cross-validated on train.py's grouped
folds (:func:`rag.answering.train.out_of_fold`): its out-of-fold ranking picks each question's best candidate and
gives it an out-of-fold answerer logit. Each verifier (and the Platt baseline) is then cross-fitted on the same
folds: fitted on the other folds' questions, it scores the held-out fold. A removed-source question shares its
answerable twin's group, so both always sit in the same fold. Weak (``no_answer_in_sources``) questions are scored,
never fitted on.

Variants (all logistic regressions, L2 with C 1.0 over features standardised on the fitting questions, as
``bench/margin_calibration.py`` fits its calibrators):

- ``platt`` (the baseline): the best candidate's answerer logit alone (the shipped calibration, cross-fitted);
- ``verifier`` (PRIMARY): the best candidate's 22 features plus its answerer logit. The logit is itself linear in
  the 22 features, so this nests Platt; it carries the shipped direction so that L2 shrinks toward it, and the
  other coefficients re-weigh the features for the decision population. It applies to any candidate (no
  list-level feature), so at serve time every candidate's probability stays defined;
- exploratory: ``features`` (the 22 without the logit), ``verifier+gap`` (plus the ranker's best-minus-second
  margin, clipped to [0, 10]), ``tail`` (the primary fitted only on questions whose cross-fitted Platt probability
  is >= :data:`TAIL`, the low-confidence bulk that either refuses at the operating threshold of ~0.13-0.17 being
  left out so that the fit spends itself where the budget is spent; questions under it keep their Platt
  probability), ``balanced`` (the primary with classes weighted inversely to their frequency); added after the
  first run had shown the linear variants level with Platt, ``hgb`` (scikit-learn's HistGradientBoostingClassifier,
  200 trees, learning rate 0.05, over the primary's features: whether any non-linear use of the same features
  separates absent sources better; it could not ship as JSON coefficients).

Decision rule (written before measuring): the primary variant ``verifier`` ships only if, paired against
``platt``, the refusal of removed sources rises beyond noise (paired 95 % interval over groups above 0, train.py's
bootstrap) on at least one training set at the matched false-refusal budget 0.02 (each set's own threshold), AND
answers, cited wrong and false refusals get no worse beyond noise on either set at that budget (answers' interval
not wholly below 0; cited wrong's and false refusals' not wholly above 0). The joint threshold (train.py's
``choose_threshold``) figures are reported too. The exploratory variants are not candidates for shipping: one
passing the rule would be a finding chosen after looking (several comparisons), to be confirmed on new data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from margin_calibration import report, shape  # noqa: E402

from rag.answering import train as fit  # noqa: E402

TAIL = 0.05  # the ``tail`` variant fits on questions whose Platt probability is at least this
PRIMARY = "verifier"


def cross_fit(rows: fit.Rows, x: np.ndarray, correct: np.ndarray, fitted: np.ndarray | None = None,
              weight: str | None = None, hgb: bool = False) -> np.ndarray:
    """Out-of-fold P(best candidate right) of a logistic regression (L2, C 1.0; or, with ``hgb``, gradient
    boosting) over the question rows ``x`` (standardised on the fitting questions; NaN rows get 0), fitted per fold
    on the other folds' answerable and removed questions (and only those in ``fitted`` when given)."""
    ok = np.isfinite(x).all(axis=1)
    use = ok & np.isin([str(m["kind"]) for m in rows.meta], ["answerable", "removed"])
    if fitted is not None:
        use &= fitted
    folds, p = fit.question_folds(rows), np.zeros(len(rows.meta))
    for k in range(fit.FOLDS):
        train, test = use & (folds != k), ok & (folds == k)
        mean, scale = x[train].mean(axis=0), x[train].std(axis=0) + 1e-9
        clf = (HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=0) if hgb else
               LogisticRegression(C=1.0, max_iter=5000, class_weight=weight))
        clf.fit((x[train] - mean) / scale, correct[train])
        p[test] = clf.predict_proba((x[test] - mean) / scale)[:, 1]
    return p


def probabilities(rows: fit.Rows) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Each variant's out-of-fold probabilities per question, whether each question's best candidate is right, and
    the primary's question rows (the best candidate's features and out-of-fold logit; NaN without candidates)."""
    rank, answer = fit.out_of_fold(rows)
    _, correct = fit.best_per_question(rows, rank, answer)
    best = fit.best_rows(rows, rank)
    has = best >= 0
    z = np.full((len(rows.meta), rows.x.shape[1]), np.nan)
    z[has] = rows.x[best[has]]
    logit = np.full(len(rows.meta), np.nan)
    logit[has] = answer[best[has]]
    gap = shape(rows, rank, answer)["gap_second"]
    primary = np.column_stack([z, logit])
    probs = {"platt": cross_fit(rows, logit[:, None], correct)}
    probs[PRIMARY] = cross_fit(rows, primary, correct)
    probs["features"] = cross_fit(rows, z, correct)
    probs["verifier+gap"] = cross_fit(rows, np.column_stack([primary, gap]), correct)
    above = probs["platt"] >= TAIL  # out-of-fold Platt: its own fold's calibration never saw the question
    probs["tail"] = np.where(above, cross_fit(rows, primary, correct, fitted=above), probs["platt"])
    probs["balanced"] = cross_fit(rows, primary, correct, weight="balanced")
    probs["hgb"] = cross_fit(rows, primary, correct, hgb=True)
    return probs, correct, primary


def main(cache: Path) -> None:
    """Print the Markdown tables (``margin_calibration.report``) and the primary's coefficients."""
    rows = fit.load_rows([cache / "features" / s for s in ("crud", "drcd")])
    probs, correct, primary = probabilities(rows)
    report(rows, probs, correct, PRIMARY)
    kinds = np.array([m["kind"] for m in rows.meta])
    use = np.isfinite(primary).all(axis=1) & np.isin(kinds, ["answerable", "removed"])
    x = (primary[use] - primary[use].mean(axis=0)) / (primary[use].std(axis=0) + 1e-9)
    coef = LogisticRegression(C=1.0, max_iter=5000).fit(x, correct[use]).coef_[0]
    print(f"\nCoefficients of `{PRIMARY}` (standardised over questions, all folds): " +
          ", ".join(f"`{k}` {c:+.2f}" for k, c in zip((*rows.features, "logit"), coef, strict=True)))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../cache/verifier"))
