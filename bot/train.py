"""``newsqa train`` (``make train``): rebuild the answer selector from ``../shared/train``, deterministically.

1. Each training set's archive is ingested once into ``CACHE/<set>`` (``NEWSQA_DATA_DIR`` layout: ``articles/``
   links, ``store/``); the ingest is incremental, so a built cache is reused as it is.
2. Its questions are asked through the production retrieval and their candidates' features cached
   (``CACHE/features/<set>``, :mod:`rag.train_data`); ``--rebuild`` recomputes them.
3. The ranker, the answerer, its calibration and the refusal threshold are fitted (:mod:`rag.answering.train`),
   cross-validated by group against the logistic regression alone and the coverage feature alone, and written as
   the model file and its card (gradient boosting and the feature-family ablation: ``make ablate``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryResult

from rag.answering import train as fit
from rag.answering.selector import model_path
from rag.filters import where_matches
from rag.settings import Settings
from rag.store.chunk_vectors import record_to_node
from rag.train_data import TrainingSet, build_features, default_sets, link_articles

log = logging.getLogger(__name__)
#: Written beside a set's cached features: the training stores' dense leg searched by :class:`ExactDenseSearch`, and
#: each candidate's text kept (for the calibration's e5 similarities). Caches without it (HNSW-searched or without
#: texts, before 2026-12-08) are recomputed rather than refitted as they are.
TRAINING_RETRIEVAL = "exact-dense-search+texts"
METHODS = ("selector", "logistic", "coverage")  # gradient boosting: make ablate (minutes per fold)


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


class ExactDenseSearch:
    """Exact cosine search over a training store's chunk vectors, in place of its HNSW graph for the dense leg while
    the training features are computed (``query`` as llama-index's ``ChromaVectorStore.query``: the ``where``
    clause of :mod:`rag.filters`, similarity ``exp(-cosine distance)``; ties broken by chunk id).

    Why: Chroma (1.5.9) builds the HNSW graph in an order of its own, so two builds of byte-identical stores differ,
    and on the hashed-bigram vectors the graph is a poor one: on the crud training store, the dense top 20 of two
    builds differed for 47 of 80 questions, and their recall@20 against exact search was 0.93-0.94 at ef_search
    1200 (0.98 at 10,000). With exact search the features, hence the model, are a function of the stored vectors
    alone, which the ingest writes identically on every run. Holds ``(chunks, 512)`` float64 in memory (about 40 MB
    for the crud training store's 10,442 chunks); a query is one matrix-vector product.
    """

    def __init__(self, store: Any) -> None:
        got = store.chunks.get(include=["embeddings", "documents", "metadatas"])  # one read: a training store
        self.records: dict[str, tuple[str | None, dict[str, Any]]] = dict(
            zip(got["ids"], zip(got["documents"], got["metadatas"], strict=True), strict=True))
        order = np.argsort(np.asarray(got["ids"]))  # chunk-id order, whatever order the store returns them in
        self.ids = [got["ids"][i] for i in order]
        matrix = np.asarray(got["embeddings"], dtype=np.float64).reshape(len(order), -1)[order]
        self.matrix = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)

    def query(self, query: VectorStoreQuery, where: dict[str, Any] | None = None) -> VectorStoreQueryResult:
        """The ``query.similarity_top_k`` chunks nearest to ``query.query_embedding`` that pass ``where``."""
        vector = np.asarray(query.query_embedding, dtype=np.float64)
        distance = 1.0 - self.matrix @ (vector / max(float(np.linalg.norm(vector)), 1e-12))
        if where:
            passes = np.array([where_matches(where, self.records[i][1]) for i in self.ids], dtype=bool)
            distance = np.where(passes, distance, np.inf)
        top = [int(i) for i in np.argsort(distance, kind="stable")[: query.similarity_top_k] if distance[i] < np.inf]
        nodes = [record_to_node(self.ids[i], *self.records[self.ids[i]]) for i in top]
        return VectorStoreQueryResult(nodes=nodes, similarities=[math.exp(-distance[i]) for i in top],
                                      ids=[self.ids[i] for i in top])


def prepare(train_set: TrainingSet, cache: Path, rebuild: bool = False, top_k: int | None = None) -> Path:
    """The cached feature folder of ``train_set``, ingesting its archive and computing the rows when missing."""
    folder = cache / "features" / train_set.name
    marker = folder / "retrieval.txt"  # how the cached rows were retrieved: rows of another search are rebuilt
    if (folder / "features.npz").exists() and not rebuild:
        if marker.is_file() and marker.read_text(encoding="utf-8").strip() == TRAINING_RETRIEVAL:
            return folder
        log.info("%s: cached features were not retrieved with %s; recomputing them", train_set.name,
                 TRAINING_RETRIEVAL)
    from bot.service import build_service

    data_dir = cache / train_set.name
    link_articles(train_set, data_dir)
    service = build_service(Settings(data_dir=data_dir), embedder=HashedBigramEmbedder())  # type: ignore[call-arg]
    try:
        service.ingest()
        service.store.vector_store = ExactDenseSearch(service.store)  # type: ignore[assignment]

        def progress(n: int, total: int) -> None:
            if n % 100 == 0:
                log.info("%s: %d/%d questions", train_set.name, n, total)

        build_features(service, train_set, cache / "features", top_k, progress)
        marker.write_text(TRAINING_RETRIEVAL + "\n", encoding="utf-8")
        return folder
    finally:
        service.close()


def e5_similarities(rows: fit.Rows, memo_file: Path) -> fit.Similarities:
    """The calibration's e5 similarities of candidate rows (:class:`rag.answering.verifier.Similarity`, the query
    each question's retrieval asked), memoised in ``memo_file`` (JSON, keyed by the sha1 of query, sentence and
    title) so that a refit embeds only what it has not seen."""
    import hashlib

    from rag.answering.verifier import Similarity
    from rag.retrieval.embedding import packaged_e5

    if rows.texts is None:
        raise ValueError(f"{memo_file.parent}: cached rows without candidate texts; rebuild (make train REBUILD=1)")
    memo: dict[str, list[float]] = json.loads(memo_file.read_text("utf-8")) if memo_file.is_file() else {}
    similarity, texts = Similarity(packaged_e5), rows.texts

    def similarities(index: np.ndarray) -> np.ndarray:
        out = np.zeros((len(index), 2))
        for n, i in enumerate(index):
            meta = rows.meta[int(rows.question[i])]
            query = str(meta.get("query") or meta["q"])
            key = hashlib.sha1("\0".join((query, *texts[i])).encode("utf-8")).hexdigest()
            if key not in memo:
                memo[key] = similarity(query, [texts[i]])[0].tolist()
            out[n] = memo[key]
        memo_file.write_text(json.dumps(memo, sort_keys=True), encoding="utf-8")
        return out

    return similarities


def evaluate_methods(rows: fit.Rows, similarities: fit.Similarities | None = None) -> dict[str, fit.Evaluation]:
    """Per method of :data:`METHODS`: out-of-fold results on the same folds (:func:`rag.answering.train.evaluate`);
    the shipped ``selector`` calibrated with the e5 ``similarities``, the others over their logits alone."""
    return {method: fit.evaluate(rows, method, similarities=similarities if method == "selector" else None)
            for method in METHODS}


def risk_coverage(rows: fit.Rows, result: fit.Evaluation, mask: np.ndarray) -> list[dict[str, float]]:
    """The risk-coverage curve of one set: figures at thresholds 0, 0.05, ..., 0.95 and at the chosen one."""
    grid = sorted({*np.round(np.arange(0.0, 0.96, 0.05), 2).tolist(), round(result.threshold, 2)})
    return [{"threshold": float(t), **fit.figures(rows.meta, result.p, result.correct, float(t), mask)} for t in grid]


def fmt_interval(v: tuple[float, float, float], sign: bool = False) -> str:
    """``(value, low, high)`` as ``0.644 [0.590, 0.694]`` (``sign``: ``+0.012 [-0.009, +0.034]``), as the model card
    and the selector benchmarks print figures."""
    f = "{:+.3f}" if sign else "{:.3f}"
    return f"{f.format(v[0])} [{f.format(v[1])}, {f.format(v[2])}]"


def _masks(rows: fit.Rows) -> dict[str, np.ndarray]:
    sets = sorted({str(m["set"]) for m in rows.meta})
    return {**{s: np.array([m["set"] == s for m in rows.meta]) for s in sets},
            "pooled": np.ones(len(rows.meta), dtype=bool)}


def card(rows: fit.Rows, results: dict[str, fit.Evaluation], model: dict[str, object], sizes: dict[str, int]) -> str:
    """The model card (Markdown)."""
    chosen, masks = results["selector"], _masks(rows)
    lines = [
        "# Answer selector: model card", "",
        f"Built {datetime.now(UTC).date().isoformat()} by `make train` (`python -m bot.train`) from `../shared/train`;",
        "file `answer_selector.json` (JSON coefficients, read with numpy by `rag/answering/selector.py`).", "",
        "## Data",
        "- `crud`: crud_train's 400 questions (57 without a gold answer: weak negatives) over its 927 reports plus",
        "  crud_more_reports' 4,000 (one store), folds grouped by `item`.",
        "- `drcd`: a deterministic sample of drcd_train's questions (whole paragraphs, by hash), over all 1,000",
        "  paragraphs, folds grouped by paragraph file.",
        "- Every answerable question is asked twice: as is, and with its gold files and their story's printings",
        "  dropped from retrieval (simulated removal: it should be refused).",
        "- The training stores' dense leg is a hashed character-bigram embedder (`bot.train.HashedBigramEmbedder`),",
        "  not the served e5 model; it reaches the features only through the fused rank of a chunk (a selector",
        "  refitted over an e5 store of the archive scored no better: docs/evaluation.md). It is searched",
        "  exactly (`bot.train.ExactDenseSearch`), not through Chroma's HNSW graph, whose builds differ: the",
        "  features depend on the stored vectors alone, and a `make train` from scratch rewrites this file byte",
        "  for byte.",
        f"- Questions asked: {json.dumps(sizes)}; candidates: {len(rows.y)}, positives: {int(rows.y.sum())}.", "",
        "## Features", "", ", ".join(f"`{f}`" for f in rows.features) + " (`rag/answering/features.py`).",
        "Families of features whose removal did not hurt beyond noise were deleted (`make ablate`,",
        "`docs/evaluation.md`).", "",
        "## Model",
        "Two linear models over the same standardised features. The ranker, a listwise conditional logit (softmax",
        f"over a question's candidates, L2 {fit.RANK_L2}, scipy L-BFGS), picks the best candidate; the answerer,",
        "scikit-learn's `LogisticRegression` (L2, C=1) over all candidates, gives it an absolute logit. The",
        "calibration, a logistic regression over that logit and two similarities by the packaged e5 model (question",
        "to sentence, and to title + sentence: `rag/answering/verifier.py`), fitted on the out-of-fold logits of each",
        "question's best candidate, turns them into the probability that it answers.",
        f"The refusal threshold {chosen.threshold:.2f} is the highest at which false refusals (a right best candidate",
        f"refused) stay <= {fit.MAX_FALSE_REFUSALS} on every training set.", "",
        "## Cross-validated figures (5 folds by group; 95 % bootstrap intervals over groups)", "",
        "`selection`: the best candidate is right (no refusal); at each method's own threshold: `answers` right,",
        "`cited_wrong` answered wrong, `false_refusals` right but refused, `removed_refused`: questions whose",
        "sources were removed, refused. `logistic`: the answerer alone ranks (the previous model); `coverage`: the",
        "sentence's IDF-weighted coverage of the question alone. Both calibrate their logits alone, without e5.", "",
        "| set | method | threshold | selection | answers | cited_wrong | false_refusals | removed_refused |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s, mask in masks.items():
        for method, r in results.items():
            f = fit.bootstrap(rows.meta, r.p, r.correct, r.threshold, mask)
            lines.append(f"| {s} | {method} | {r.threshold:.2f} | " + " | ".join(fmt_interval(f[k]) for k in (
                "selection", "answers", "cited_wrong", "false_refusals", "removed_refused")) + " |")
    cov = results["coverage"]
    lines += ["", "Selection, the selector minus coverage alone (paired, same questions): " + "; ".join(
        f"{s} {fmt_interval(fit.bootstrap(rows.meta, chosen.p, chosen.correct, 0.0, mask, base=(cov.p, cov.correct, 0.0))['selection'], True)}"
        for s, mask in masks.items()) + ".", "",
        "## Risk-coverage (shipped model, out of fold)", "",
        "| set | threshold | refused (answerable) | cited wrong | false refusals | removed refused |",
        "|---|---|---|---|---|---|"]
    for s, mask in masks.items():
        if s == "pooled":
            continue
        for point in risk_coverage(rows, chosen, mask):
            mark = " **chosen**" if abs(point["threshold"] - round(chosen.threshold, 2)) < 1e-9 else ""
            lines.append(f"| {s} | {point['threshold']:.2f}{mark} | {point['refused']:.3f} | "
                         f"{point['cited_wrong']:.3f} | {point['false_refusals']:.3f} | {point['removed_refused']:.3f} |")
    calibration = chosen.calibration
    lines += ["", "## Calibration (standardised inputs)", "", ", ".join(
        f"`{k}` {v:+.2f}" for k, v in zip(calibration["inputs"], calibration["coef"], strict=True))  # type: ignore[call-overload]
        + f"; intercept {calibration['intercept']:+.2f}."]
    for title, key in (("ranker", "rank_coef"), ("answerer", "answer_coef")):
        coef = dict(zip(rows.features, model[key], strict=True))  # type: ignore[call-overload]
        lines += ["", f"## Coefficients of the {title} (standardised features)", "",
                  ", ".join(f"`{k}` {v:+.2f}" for k, v in sorted(coef.items(), key=lambda kv: -abs(kv[1])))]
    return "\n".join(lines) + "\n"


def _rounded(value: object) -> object:
    """``value`` with every float rounded to 7 significant digits: BLAS reductions differ in their last bits from
    run to run and machine to machine, and the model file must come out byte for byte the same."""
    if isinstance(value, float):
        return float(f"{value:.7g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def run(train_dir: Path, cache: Path, out: Path | None = None, rebuild: bool = False,
        drcd_limit: int | None = 1500, sets: list[TrainingSet] | None = None) -> dict[str, object]:
    """Build (or reuse) the cached rows, fit, and write the model file and ``MODEL_CARD.md`` beside it; returns
    the model file's JSON object."""
    sets = sets or default_sets(train_dir, drcd_limit)
    rows = fit.load_rows([prepare(s, cache, rebuild) for s in sets])
    results = evaluate_methods(rows, e5_similarities(rows, cache / "features" / "e5_similarities.json"))
    chosen = results["selector"]
    model = fit.fit_selector(rows)
    sizes = {s.name: sum(1 for m in rows.meta if m["set"] == s.name and m["kind"] != "removed") for s in sets}
    cv = {s: {method: fit.figures(rows.meta, r.p, r.correct, r.threshold, mask) for method, r in results.items()}
          for s, mask in _masks(rows).items()}
    data = fit.model_file(model, chosen.calibration, chosen.threshold, {"sets": sizes, "cv": cv})
    target = out or model_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(_rounded(data), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (target.parent / "MODEL_CARD.md").write_text(card(rows, results, model, sizes), encoding="utf-8")
    return data


def main(argv: list[str] | None = None) -> None:
    """``python -m bot.train [TRAIN_DIR] [CACHE] [--rebuild] [--out FILE]`` (``make train``)."""
    parser = argparse.ArgumentParser(prog="python -m bot.train", description="Fit the answer selector on the "
                                     "training sets and write its model file and MODEL_CARD.md.")
    parser.add_argument("train_dir", nargs="?", type=Path, default=Path("../shared/train"),
                        help="the training sets (default ../shared/train)")
    parser.add_argument("cache", nargs="?", type=Path, default=Path("../cache/train"),
                        help="stores and cached features, built on first use (default ../cache/train)")
    parser.add_argument("--rebuild", action="store_true", help="recompute the cached features")
    parser.add_argument("--out", type=Path, default=None,
                        help="write the model here (MODEL_CARD.md beside it) instead of the package's file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    data = run(args.train_dir, args.cache, out=args.out, rebuild=args.rebuild)
    print(json.dumps(data["training"], indent=1))


if __name__ == "__main__":
    main()
