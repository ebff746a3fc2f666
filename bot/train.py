"""``newsqa train`` (``make train``): rebuild the answer selector from ``../shared/train``, deterministically.

1. Each training set's archive is ingested once into ``CACHE/<set>`` (``NEWSQA_DATA_DIR`` layout: ``articles/``
   links, ``store/``); the ingest is incremental, so a built cache is reused as it is.
2. Its questions are asked through the production retrieval and their candidates' features cached
   (``CACHE/features/<set>``, :mod:`rag.train_data`); ``--rebuild`` recomputes them.
3. The ranker, its calibration and the refusal threshold are fitted (:mod:`rag.answering.train`), cross-validated
   by group against the coverage feature alone and gradient boosting, and written as the model file and its card.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from rag.answering import train as fit
from rag.answering.features import FEATURES
from rag.answering.selector import model_path
from rag.settings import Settings
from rag.train_data import TrainingSet, build_features, default_sets, link_articles

log = logging.getLogger(__name__)
METHODS = ("logistic", "hgb", "coverage")


class HashedBigramEmbedder:
    """A fast deterministic stand-in for the dense model in the training stores: character bigrams of the
    normalised text hashed (crc32) into :data:`DIMENSION` buckets, square-rooted counts, L2-normalised. The
    production model (e5, ~0.6 chunks/s on two busy cores) would take hours to embed the training archives; this
    keeps the dense leg a similarity of its own kind, so training retrieval is the production path with another
    embedder (the model card says so)."""

    name = "newsqa-train-hashed-bigrams-zh"
    dimension = 512

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), 512)`` float32, L2-normalised."""
        import zlib

        from rag.text.normalize import normalize

        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            norm = "".join(ch for ch in normalize(text) if ch.isalnum())
            for i in range(len(norm) - 1):
                out[row, zlib.crc32(norm[i : i + 2].encode("utf-8")) % self.dimension] += 1.0
        out = np.sqrt(out)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)

    def embed_query(self, text: str) -> np.ndarray:
        """``(512,)`` float32, as :meth:`embed_documents`."""
        return self.embed_documents([text])[0]


def prepare(train_set: TrainingSet, cache: Path, rebuild: bool = False, top_k: int | None = None) -> Path:
    """The cached feature folder of ``train_set``, ingesting its archive and computing the rows when missing."""
    folder = cache / "features" / train_set.name
    if (folder / "features.npz").exists() and not rebuild:
        return folder
    from bot.service import build_service

    data_dir = cache / train_set.name
    link_articles(train_set, data_dir)
    service = build_service(Settings(data_dir=data_dir), embedder=HashedBigramEmbedder())  # type: ignore[call-arg]
    try:
        service.ingest()
        def progress(n: int, total: int) -> None:
            if n % 100 == 0:
                log.info("%s: %d/%d questions", train_set.name, n, total)

        return build_features(service, train_set, cache / "features", top_k, progress)
    finally:
        service.close()


def evaluate_methods(rows: fit.Rows) -> dict[str, dict[str, object]]:
    """Per method: out-of-fold best scores, correctness, Platt calibration, threshold, probabilities."""
    out: dict[str, dict[str, object]] = {}
    kinds = [str(m["kind"]) for m in rows.meta]
    for method in METHODS:
        scores = fit.out_of_fold(rows, method)
        best, correct = fit.best_per_question(rows, scores)
        keep = np.array([k in ("answerable", "removed") for k in kinds])
        platt = fit.fit_platt(np.where(keep, best, -np.inf), correct & keep, kinds)
        p = fit.probabilities(best, platt)
        out[method] = {"best": best, "correct": correct, "platt": platt, "p": p,
                       "threshold": fit.choose_threshold(rows.meta, p, correct)}
    return out


def risk_coverage(rows: fit.Rows, p: np.ndarray, correct: np.ndarray, mask: np.ndarray,
                  chosen: float) -> list[dict[str, float]]:
    """The risk-coverage curve of one set: figures at thresholds 0, 0.05, ..., 0.95 and at ``chosen``."""
    grid = sorted({*np.round(np.arange(0.0, 0.96, 0.05), 2).tolist(), round(chosen, 2)})
    return [{"threshold": float(t), **fit.figures(rows.meta, p, correct, float(t), mask)} for t in grid]


def _fmt(v: tuple[float, float, float]) -> str:
    return f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]"


def card(rows: fit.Rows, results: dict[str, dict[str, object]], threshold: float, model: dict[str, object],
         sizes: dict[str, int]) -> str:
    """The model card (Markdown)."""
    sets = sorted({str(m["set"]) for m in rows.meta})
    lines = [
        "# Answer selector: model card", "",
        f"Built {datetime.now(UTC).date().isoformat()} by `make train` (`newsqa train`) from `../shared/train`;",
        "file `answer_selector.json` (JSON coefficients, read with numpy by `rag/answering/selector.py`).", "",
        "## Data",
        "- `crud`: crud_train's 400 questions (57 without a gold answer: weak negatives) over its 927 reports plus",
        "  crud_more_reports' 4,000 (one store), folds grouped by `item`.",
        "- `drcd`: a deterministic sample of drcd_train's questions (whole paragraphs, by hash), over all 1,000",
        "  paragraphs, folds grouped by paragraph file.",
        "- Every answerable question is asked twice: as is, and with its gold files and their story's printings",
        "  dropped from retrieval (simulated removal: it should be refused).",
        f"- Questions asked: {json.dumps(sizes)}; candidates: {len(rows.y)}, positives: {int(rows.y.sum())}.", "",
        "## Features", "", ", ".join(f"`{f}`" for f in FEATURES) + " (`rag/answering/features.py`).", "",
        "## Model",
        "scikit-learn `LogisticRegression` (L2, C=1) over standardised features ranks the candidates; Platt's",
        "calibration of the best candidate's out-of-fold logit gives the probability that it answers; the refusal",
        f"threshold {threshold:.2f} is the highest at which false refusals (a right best candidate refused) stay <=",
        f"{fit.MAX_FALSE_REFUSALS} on every training set.", "",
        "## Cross-validated figures (5 folds by group; 95 % bootstrap intervals over groups)", "",
        "`selection`: the best candidate is right (no refusal); at each method's own threshold: `answers` right,",
        "`cited_wrong` answered wrong, `false_refusals` right but refused, `removed_refused` / `removed_cited`:",
        "questions whose sources were removed, refused / answered.", "",
        "| set | method | threshold | selection | answers | cited_wrong | false_refusals | removed_refused |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in sets:
        mask = np.array([m["set"] == s for m in rows.meta])
        for method in METHODS:
            r = results[method]
            f = fit.bootstrap(rows.meta, r["p"], r["correct"], r["threshold"], mask)  # type: ignore[arg-type]
            lines.append(f"| {s} | {method} | {r['threshold']:.2f} | " + " | ".join(_fmt(f[k]) for k in (
                "selection", "answers", "cited_wrong", "false_refusals", "removed_refused")) + " |")
    lines += ["", "## Risk-coverage (shipped model, out of fold)", "",
              "| set | threshold | refused (answerable) | cited wrong | false refusals | removed refused |",
              "|---|---|---|---|---|---|"]
    r = results["logistic"]
    for s in sets:
        mask = np.array([m["set"] == s for m in rows.meta])
        for point in risk_coverage(rows, r["p"], r["correct"], mask, threshold):  # type: ignore[arg-type]
            mark = " **chosen**" if abs(point["threshold"] - round(threshold, 2)) < 1e-9 else ""
            lines.append(f"| {s} | {point['threshold']:.2f}{mark} | {point['refused']:.3f} | "
                         f"{point['cited_wrong']:.3f} | {point['false_refusals']:.3f} | {point['removed_refused']:.3f} |")
    coef = dict(zip(FEATURES, model["coef"], strict=True))  # type: ignore[call-overload]
    lines += ["", "## Coefficients (standardised features)", "",
              ", ".join(f"`{k}` {v:+.2f}" for k, v in sorted(coef.items(), key=lambda kv: -abs(kv[1]))), ""]
    return "\n".join(lines)


def run(train_dir: Path, cache: Path, out: Path | None = None, rebuild: bool = False,
        drcd_limit: int | None = 1500, sets: list[TrainingSet] | None = None) -> dict[str, object]:
    """Build (or reuse) the cached rows, fit, and write the model file and ``MODEL_CARD.md`` beside it; returns
    the model file's JSON object."""
    sets = sets or default_sets(train_dir, drcd_limit)
    folders = [prepare(s, cache, rebuild) for s in sets]
    rows = fit.load_rows(folders)
    results = evaluate_methods(rows)
    chosen = results["logistic"]
    model = fit.fit_ranker(rows.x, rows.y)
    sizes = {s.name: sum(1 for m in rows.meta if m["set"] == s.name and m["kind"] != "removed") for s in sets}
    threshold = float(chosen["threshold"])  # type: ignore[arg-type]
    cv = {}
    for s in sorted(sizes):
        mask = np.array([m["set"] == s for m in rows.meta])
        cv[s] = {m: fit.figures(rows.meta, results[m]["p"], results[m]["correct"], float(results[m]["threshold"]),  # type: ignore[arg-type]
                                mask) for m in METHODS}
    data = fit.model_file(model, chosen["platt"], threshold, {"sets": sizes, "cv": cv})  # type: ignore[arg-type]
    target = out or model_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (target.parent / "MODEL_CARD.md").write_text(card(rows, results, threshold, model, sizes), encoding="utf-8")
    return data


def main(argv: list[str] | None = None) -> None:
    """``python -m bot.train [TRAIN_DIR] [CACHE] [--rebuild]``."""
    args = [a for a in (argv if argv is not None else sys.argv[1:]) if not a.startswith("--")]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    data = run(Path(args[0] if args else "../shared/train"), Path(args[1] if len(args) > 1 else "../cache/train"),
               rebuild="--rebuild" in (argv or sys.argv))
    print(json.dumps(data["training"], indent=1))


if __name__ == "__main__":
    main()
