"""Training labels "gold report and gold answer" (shipped) against "gold answer, any report" (what the metric counts).

    nice -n 19 python bench/label_definition.py rows STORES OUT     # feature pass over make train's stores
    nice -n 19 python bench/label_definition.py compare OUT         # grouped CV of both labels, paired

``make train`` labels a candidate right when its normalised text holds a gold answer AND it comes from a gold
``src`` file or a printing of its story (:mod:`rag.train_data`). ``newsqa eval`` counts an answer right when it
holds a gold answer, from whatever report (``answer_contains_gold``; ``cited_wrong`` is an answer without it). The
two differ where another report of the archive holds the answer (another outlet's report of the same event that
near-duplicate detection did not group) or holds the answer string by coincidence (``金牌`` in another sport's
report). This script measures whether fitting on the metric's own label helps the metric.

``rows``: for every training question of :func:`rag.train_data.default_sets` (DRCD: the same 1,501-question
sample), the production retrieval over the stores of ``make train`` (``STORES/<set>``, hashed-bigram dense leg,
opened read-only in effect: nothing is ingested), the same candidates and features as
:func:`rag.train_data.build_features`, and both labels: ``y`` (shipped) and ``y_any``. Removed-source questions
keep label 0 under both (the refusal benchmark counts any answer to them as a failure). Written to
``OUT/<set>/features.npz`` (+ ``questions.jsonl``), the layout of ``make train``'s cache plus ``y_any``.

``compare``: the shipped selector (:func:`rag.answering.train.out_of_fold`, grouped 5-fold CV) fitted on each
label; each fit calibrated by Platt on its own out-of-fold best candidates and given its threshold by
:func:`rag.answering.train.choose_threshold`; both measured under each label definition, with paired 95 %
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


def feature_rows(stores: Path, out: Path, train_dir: Path) -> None:
    """The ``rows`` step (module docstring): one ``OUT/<set>`` folder per training set."""
    from bot.service import build_service
    from bot.train import HashedBigramEmbedder
    from rag.answering.features import FEATURES, candidates
    from rag.eval_fabrication import src_files
    from rag.settings import Settings
    from rag.text.normalize import normalize
    from rag.text.question import Question
    from rag.train_data import POOL, _gold_stories, _is_source, default_sets, load_questions

    for ts in default_sets(train_dir):
        service = build_service(Settings(data_dir=stores / ts.name), embedder=HashedBigramEmbedder())  # type: ignore[call-arg]
        rows, idf = load_questions(ts), service.term_idf()
        stories = _gold_stories(service, [f for r in rows for f in src_files(r.get("src"))])
        xs, ys, yas, qidx, meta = [], [], [], [], []
        for row in rows:
            gold = [normalize(str(a)).strip() for a in row.get("a") or [] if str(a).strip()]  # type: ignore[attr-defined]
            files = set(src_files(row.get("src")))
            gold_stories = {stories[f] for f in files if f in stories}
            flt, scope = service.scoped(str(row["q"]), None)
            pool = service.retrieve(scope.query or str(row["q"]), max(POOL, service.settings.top_k), flt)
            question = Question(scope.query or str(row["q"]), idf)
            kinds = [("answerable" if gold else "weak", pool[:service.settings.top_k])]
            if gold and files:
                kinds.append(("removed", [h for h in pool if not _is_source(h, files, gold_stories)]
                              [:service.settings.top_k]))
            for kind, nodes in kinds:
                cands = candidates(question, nodes) if question.total > 0 else []
                holds = [kind == "answerable" and any(g in c.norm for g in gold) for c in cands]
                label = [h and _is_source(c.hit, files, gold_stories) for h, c in zip(holds, cands, strict=True)]
                meta.append({"set": ts.name, "group": row["group"], "kind": kind, "q": row["q"],
                             "candidates": len(cands), "positive": sum(label), "positive_any": sum(holds)})
                if cands:
                    xs.append(np.vstack([c.x for c in cands]))
                    ys.append(np.array(label, dtype=float))
                    yas.append(np.array(holds, dtype=float))
                    qidx.append(np.full(len(cands), len(meta) - 1))
        folder = out / ts.name
        folder.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(folder / "features.npz", x=np.vstack(xs), y=np.concatenate(ys),
                            y_any=np.concatenate(yas), question=np.concatenate(qidx), features=np.array(FEATURES))
        (folder / "questions.jsonl").write_text("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in meta),
                                                encoding="utf-8")
        print(f"{ts.name}: {len(meta)} questions, {int(np.concatenate(ys).sum())} right candidates (shipped "
              f"label), {int(np.concatenate(yas).sum())} (any report)", flush=True)


def calibrated(rows: fit.Rows, oof: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, float]:
    """Per question: Platt probability of the best candidate, whether it is right under ``rows.y``, threshold."""
    best, correct = fit.best_per_question(rows, *oof)
    use = np.isfinite(best) & np.isin([str(m["kind"]) for m in rows.meta], ["answerable", "removed"])
    clf = LogisticRegression(C=1e4, max_iter=1000).fit(best[use, None], correct[use])
    with np.errstate(over="ignore", invalid="ignore"):
        p = np.where(np.isfinite(best), 1 / (1 + np.exp(-(clf.coef_[0, 0] * best + clf.intercept_[0]))), 0.0)
    return p, correct, fit.choose_threshold(rows.meta, p, correct)


def compare(out: Path) -> None:
    """The ``compare`` step (module docstring): a Markdown table per label definition."""
    xs, ys, yas, qs = [], [], [], []
    meta: list[dict[str, object]] = []
    for folder in sorted(p for p in out.iterdir() if (p / "features.npz").exists()):
        data = np.load(folder / "features.npz")
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    rows = sub.add_parser("rows", help="feature pass with both labels")
    rows.add_argument("stores", type=Path, help="make train's cache (holds <set>/ stores)")
    rows.add_argument("out", type=Path)
    rows.add_argument("--train-dir", type=Path, default=Path("../shared/train"))
    cmp_ = sub.add_parser("compare", help="grouped CV of both labels")
    cmp_.add_argument("out", type=Path)
    args = parser.parse_args()
    if args.step == "rows":
        feature_rows(args.stores, args.out, args.train_dir)
    else:
        compare(args.out)


if __name__ == "__main__":
    main()
