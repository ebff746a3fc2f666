"""``make ablate``: the answer selector's model comparison and feature-family ablation on the training sets.

    python bench/ablate_selector.py [CACHE] [--out report.md] [--plot curves.png] [--no-hgb]

Reads the feature cache that ``make train`` built (``CACHE/features/<set>``, default ``../cache/scorer``), with
every feature the cache holds (the shipped model may use fewer). On the same grouped folds as ``make train``
(:mod:`rag.answering.train`):

1. methods: the shipped pair (listwise ranker + logistic answerer), the logistic regression alone, scikit-learn's
   HistGradientBoostingClassifier (slow: minutes per fold on a busy machine; ``--no-hgb`` skips it) and the
   coverage feature alone, each at its own threshold;
2. ablation: each family of :data:`FAMILIES` dropped in turn, both models refitted, against all features: the
   selection (best candidate right) and the refusal of removed sources (at the variant's own threshold, false
   refusals <= 0.02), each with the paired difference and its 95 % interval (bootstrap over groups, seed 0).

A family whose removal hurts neither figure beyond noise (every interval of a difference reaching 0 or above) on
both training sets is a candidate for deletion. Prints Markdown (the tables of ``docs/evaluation.md``); ``--plot``
draws the shipped model's risk-coverage curves (matplotlib).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.train import e5_similarities, fmt_interval  # noqa: E402
from rag.answering import train as fit  # noqa: E402

#: Feature families (the issue's list: coverage, BM25, dense similarity and rank, answer type, position, time,
#: printings, length), over the names a cache may hold.
FAMILIES: dict[str, tuple[str, ...]] = {
    "sentence coverage": ("cov_sentence", "bigram_sentence", "cov_best_gap", "bm25_sentence"),
    "context coverage": ("cov_context", "bigram_context", "cov_chunk", "cov_title", "cov_rest"),
    "question runs (anchor, cloze)": ("anchor", "cloze"),
    "names": ("names_sentence", "names_chunk"),
    "missing terms": ("missing_idf", "unseen_missing"),
    "retrieval (score, rank)": ("retrieval_score", "retrieval_rank"),
    "answer type": ("typed", "type_pattern", "type_pos"),
    "time": ("time_match", "year_match"),
    "position": ("is_lead", "position"),
    "printings, other stories": ("printings", "other_stories"),
    "form (length, leans back)": ("length", "leans_back"),
}


def _cached_features(folder: Path) -> tuple[str, ...]:
    return tuple(str(f) for f in np.load(folder / "features.npz")["features"])


def plot(rows: fit.Rows, result: fit.Evaluation, masks: dict[str, np.ndarray], path: Path) -> None:
    """Risk-coverage curves of ``result`` per set: cited wrong against answerable questions refused, and removed
    sources refused against false refusals, over thresholds 0..0.99; the chosen threshold marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for s, mask in masks.items():
        points = [fit.figures(rows.meta, result.p, result.correct, float(t), mask) for t in fit.GRID]
        chosen = fit.figures(rows.meta, result.p, result.correct, result.threshold, mask)
        left.plot([p["refused"] for p in points], [p["cited_wrong"] for p in points], label=s)
        left.plot(chosen["refused"], chosen["cited_wrong"], "ko")
        right.plot([p["false_refusals"] for p in points], [p["removed_refused"] for p in points], label=s)
        right.plot(chosen["false_refusals"], chosen["removed_refused"], "ko")
    left.set(xlabel="answerable questions refused", ylabel="answerable questions cited wrong",
             title="risk-coverage (out of fold)")
    right.set(xlabel="false refusals (right best candidate refused)", ylabel="removed sources refused",
              title=f"refusal trade-off; dots: threshold {result.threshold:.2f}")
    right.axvline(fit.MAX_FALSE_REFUSALS, color="grey", linestyle=":")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    """Run the comparison and the ablation; print (and with ``--out`` write) the Markdown report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cache", nargs="?", default="../cache/scorer")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--no-hgb", action="store_true")
    args = parser.parse_args()
    folders = [Path(args.cache) / "features" / s for s in ("crud", "drcd")]
    names = _cached_features(folders[0])
    rows = fit.load_rows(folders, names)
    shipped = fit.load_rows(folders)  # the shipped model's features
    sets = sorted({str(m["set"]) for m in rows.meta})
    masks = {s: np.array([m["set"] == s for m in rows.meta]) for s in sets}
    pooled = np.ones(len(rows.meta), dtype=bool)
    started = time.time()
    lines = [f"Shipped features: {len(shipped.features)}; questions: "
             + ", ".join(f"{s} {int(masks[s].sum())}" for s in sets) + ".", "",
             "| set | method | threshold | selection | answers | cited wrong | false refusals | removed refused |",
             "|---|---|---|---|---|---|---|---|"]
    methods = ["selector", "logistic", *([] if args.no_hgb else ["hgb"]), "coverage"]
    sims = e5_similarities(shipped, Path(args.cache) / "features" / "e5_similarities.json")  # as make train
    results = {m: fit.evaluate(shipped, m, similarities=sims if m == "selector" else None) for m in methods}
    for s, mask in [*masks.items(), ("pooled", pooled)]:
        for m in methods:
            r = results[m]
            f = fit.bootstrap(rows.meta, r.p, r.correct, r.threshold, mask)
            lines.append(f"| {s} | {m} | {r.threshold:.2f} | " + " | ".join(fmt_interval(f[k]) for k in (
                "selection", "answers", "cited_wrong", "false_refusals", "removed_refused")) + " |")
    lines += ["", "Selection, paired differences (95 % intervals, bootstrap over groups):", ""]
    for a, b in [(m, "coverage") for m in methods if m != "coverage"] + [("selector", m) for m in methods[1:-1]]:
        ra, rb = results[a], results[b]
        lines.append(f"- {a} - {b}: " + "; ".join(
            f"{s} {fmt_interval(fit.bootstrap(rows.meta, ra.p, ra.correct, 0.0, mask, base=(rb.p, rb.correct, 0.0))['selection'], True)}"
            for s, mask in [*masks.items(), ("pooled", pooled)]))
    print(f"methods: done ({time.time() - started:.0f} s)", file=sys.stderr, flush=True)
    full = fit.evaluate(rows)
    lines += ["", f"Ablation: every feature of the cache ({len(names)}) against each family dropped; Δ: paired "
              "difference (dropped - all), 95 % interval; removed sources refused at each variant's own threshold.", ""]
    header = " | ".join(f"{s} selection | {s} Δ | {s} removed refused | {s} Δ" for s in sets)
    lines += [f"| family dropped | features | {header} |", "|---|---|" + "---|" * (4 * len(sets))]
    deleted = tuple(n for n in names if n not in shipped.features)
    for family, members in [("(none: all features)", ()), *FAMILIES.items(), ("the shipped model (all deleted)", deleted)]:
        keep = tuple(n for n in names if n not in members)
        r = fit.evaluate(rows.only(keep)) if members else full
        cells = []
        for s in sets:
            own = fit.bootstrap(rows.meta, r.p, r.correct, r.threshold, masks[s])
            diff = fit.bootstrap(rows.meta, r.p, r.correct, r.threshold, masks[s],
                                 base=(full.p, full.correct, full.threshold))
            cells += [fmt_interval(own["selection"]), fmt_interval(diff["selection"], True) if members else "",
                      fmt_interval(own["removed_refused"]), fmt_interval(diff["removed_refused"], True) if members else ""]
        lines.append(f"| {family} | {', '.join(members) or len(names)} | " + " | ".join(cells) + " |")
        print(f"{family}: done ({time.time() - started:.0f} s)", file=sys.stderr, flush=True)
    if args.plot:
        plot(shipped, results["selector"], masks, args.plot)
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
