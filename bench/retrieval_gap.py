"""Where retrieval loses the gold chunk, per stage, on the training sets (a benchmark, not CI; docs/evaluation.md,
"Where the archive loses the gold chunk").

``collect``: for each training question with a gold answer and gold files (``../shared/train``,
:func:`rag.train_data.load_questions`), over a *copy* of its cached store (``make train``'s, hashed-bigram dense
leg; the cache is never written), the question's time scope applied as the service does, it records the dense leg
alone and the BM25 leg alone ``--depth`` deep (chunk ids in rank order, the legs of
:func:`rag.retrieval.fusion.hybrid_retriever`), and per chunk: gold (from a gold file or a printing of its story,
:func:`rag.train_data._is_source`), story, article, and the evidence reranker's two coverages (best sentence,
title + chunk; :class:`rag.retrieval.rerank.EvidenceReranker`), so that fusion, the cut, the reranker and
one-chunk-per-story can be replayed offline for any setting.

``report``: per stage, hit@k of the best gold chunk (k = 5, 10, 15, 30, 50) with 95 % cluster-bootstrap
intervals over ``item`` / paragraph (:mod:`rag.eval_stats`): dense leg, BM25 leg, the fused list before the cut
(legs as served, 20 deep; and 100 deep), the reranked pool as served (15) and what the answerer gets (``top_k``
5 after one chunk per story). ``cv``: a grid of leg depth, fused pool size and RRF k, chosen on 4 of 5 folds
grouped by ``item`` (most gold chunks among the answerer's ``top_k``), reported on the fifth, with the paired
difference against the served setting.

    PYTHONPATH=$PWD nice -n 19 .venv/bin/python bench/retrieval_gap.py collect crud --out /tmp/gap-crud.jsonl
    PYTHONPATH=$PWD nice -n 19 .venv/bin/python bench/retrieval_gap.py report /tmp/gap-crud.jsonl

``e2e``: :mod:`bench.ablate_rules` (end to end, answers and refusals with the sources removed) with the fused pool
and leg depth patched in this process (``ablate_rules`` retrieves ``max(20, top_k)`` deep, so ``--pool`` below 20
changes nothing there):

    PYTHONPATH=$PWD nice -n 19 .venv/bin/python bench/retrieval_gap.py e2e --pool 40 crud --families baseline \
        --work /tmp/newsqa-gap --out /tmp/gap-e2e-pool40.jsonl
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.eval_stats import percentile_interval  # noqa: E402

#: make train's cache (TRAIN_CACHE): the training stores built with the hashed-bigram embedder.
CACHE = (ROOT / ".." / "cache" / "scorer").resolve()
KS = (5, 10, 15, 30, 50)
#: The served setting: chunks per leg, fused pool cut before the reranker, RRF constant, chunks answered from.
SERVED = (20, 15, 60.0)
TOP_K = 5
GRID_DEPTH = (20, 30, 50, 100)
GRID_POOL = (15, 20, 30, 40)
GRID_RRF_K = (10.0, 30.0, 60.0)


def collect(set_name: str, out: Path, work: Path, cache: Path, depth: int, limit: int | None,
            embedding_model: str | None = None) -> None:
    """Write one JSON row per question to ``out`` (appending; questions already there are skipped). The store is
    queried with the hashed-bigram embedder of ``make train``, or with ``embedding_model`` (the model it was built
    with, e.g. the packaged e5) when given."""
    from bot.service import build_service
    from bot.train import HashedBigramEmbedder
    from rag.eval_fabrication import src_files
    from rag.models import story_of
    from rag.retrieval.dense import DenseRetriever
    from rag.retrieval.fusion import _once_per_segment
    from rag.retrieval.keyword import BM25Retriever
    from rag.retrieval.stories import unpunctuated
    from rag.settings import Settings
    from rag.text.normalize import normalize_cached
    from rag.text.question import Question
    from rag.text.sentences import split_sentences
    from rag.train_data import _gold_stories, _is_source, default_sets, load_questions

    train_dir = (ROOT / ".." / "shared" / "train").resolve()
    train_set = next(s for s in default_sets(train_dir, limit) if s.name == set_name)
    rows = [r for r in load_questions(train_set) if r.get("a") and src_files(r.get("src"))]
    data_dir = work / set_name
    if not (data_dir / "store").exists():
        shutil.copytree(cache / set_name / "store", data_dir / "store", symlinks=True)
        (data_dir / "articles").mkdir(parents=True, exist_ok=True)
    if embedding_model:
        service = build_service(Settings(data_dir=data_dir, embedding_model=embedding_model))  # type: ignore[call-arg]
    else:
        service = build_service(Settings(data_dir=data_dir), embedder=HashedBigramEmbedder())  # type: ignore[call-arg]
    stories = _gold_stories(service, [f for r in rows for f in src_files(r.get("src"))])
    done = {json.loads(x)["q"] for x in out.read_text("utf-8").splitlines()} if out.exists() else set()
    index = service.keyword_index.current()
    idf = index.idf
    started = time.perf_counter()
    with out.open("a", encoding="utf-8") as fh:
        for n, row in enumerate(rows):
            if row["q"] in done:
                continue
            files = set(src_files(row.get("src")))
            gold_stories = {stories[f] for f in files if f in stories}
            flt, scope = service.scoped(str(row["q"]), None)
            query = scope.query or str(row["q"])
            flt = flt.resolved(index.distinct("publication")) if flt else None
            where = flt.chroma_where() if flt else None
            allow = _once_per_segment(flt.row_mask) if flt else None
            share = index.share(allow) if where and allow else None
            dense = DenseRetriever(service.store, service.embedder, depth, where, share).retrieve(query)
            bm25 = BM25Retriever(index, depth, allow).retrieve(query)
            question = Question(query, idf)

            def cover(text: str, question: Question = question) -> float:
                return 0.75 * question.coverage(text) + 0.25 * question.bigram_coverage(text)

            chunks: dict[str, dict[str, object]] = {}
            for hit in [*dense, *bm25]:
                cid = hit.node.node_id
                if cid in chunks:
                    continue
                text = hit.node.get_content()
                meta = hit.node.metadata
                title = normalize_cached(str(meta.get("title", "")))
                chunks[cid] = {
                    "g": int(_is_source(hit, files, gold_stories)), "s": story_of(meta, cid),
                    "a": str(meta.get("article_id", cid)), "u": int(unpunctuated(text)),
                    "b": max((cover(normalize_cached(s)) for s in split_sentences(text)), default=0.0),
                    "c": cover(title + "\n" + normalize_cached(text)),
                    "f": Path(str(meta.get("source", ""))).name, "p": str(meta.get("published", ""))[:10]}
            rec = {"q": row["q"], "query": query, "group": f"{set_name}:{row['group']}", "set": set_name,
                   "src": sorted(files), "a": row.get("a"), "scoped": bool(flt),
                   "dense": [h.node.node_id for h in dense], "bm25": [h.node.node_id for h in bm25],
                   "chunks": chunks}
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            fh.flush()
            if n % 50 == 0:
                print(f"{set_name} {n}/{len(rows)} {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
    service.close()


@dataclass(frozen=True)
class Replay:
    """One question's stages under a setting: 1-based rank of the first gold chunk (0 = absent) in the dense leg,
    the BM25 leg, the fused list (before the cut), the reranked pool, and the answerer's ``top_k``."""

    dense: int
    bm25: int
    fused: int
    reranked: int
    answered: int


def _first_gold(ids: list[str], chunks: dict[str, dict]) -> int:
    return next((i + 1 for i, c in enumerate(ids) if chunks[c]["g"]), 0)


def replay(rec: dict, depth: int, pool: int, rrf_k: float, top_k: int = TOP_K, dense_weight: float = 1.0,
           fusion_weight: float = 0.3, chunk_weight: float = 0.35) -> Replay:
    """The stages of one collected question under (``depth`` per leg, fused ``pool``, ``rrf_k``): weighted RRF as
    :class:`rag.retrieval.fusion.WeightedRRFRetriever` (dense first, stable ties), the reranker's score as
    :class:`rag.retrieval.rerank.EvidenceReranker` (best sentence + 0.35 x chunk + 0.3 x fusion / best fusion),
    then one article per story (:func:`rag.retrieval.stories.collapse_stories`; its readable-copy swap keeps
    the story, so it keeps gold)."""
    chunks = rec["chunks"]
    dense, bm25 = rec["dense"][:depth], rec["bm25"][:depth]
    fused: dict[str, float] = {}
    for leg, weight in ((dense, dense_weight), (bm25, 1.0)):
        for rank, cid in enumerate(leg):
            fused[cid] = fused.get(cid, 0.0) + weight / (rrf_k + rank)
    order = sorted(fused, key=lambda c: fused[c], reverse=True)
    cut = order[:pool]
    top = fused[cut[0]] if cut else 1.0
    score = {c: chunks[c]["b"] + chunk_weight * chunks[c]["c"] + fusion_weight * fused[c] / top for c in cut}
    reranked = sorted(cut, key=lambda c: score[c], reverse=True)
    owner: dict[str, str] = {}
    kept: list[str] = []
    for cid in reranked:
        owner.setdefault(str(chunks[cid]["s"]), str(chunks[cid]["a"]))
        if owner[str(chunks[cid]["s"])] == chunks[cid]["a"]:
            kept.append(cid)
            if len(kept) == top_k:
                break
    return Replay(_first_gold(dense, chunks), _first_gold(bm25, chunks), _first_gold(order, chunks),
                  _first_gold(reranked, chunks), _first_gold(kept, chunks))


def _hit(ranks: np.ndarray, k: int) -> np.ndarray:
    return ((ranks > 0) & (ranks <= k)).astype(float)


def _fmt(values: np.ndarray, groups: list[str]) -> str:
    lo, hi = percentile_interval(values, groups)
    return f"{values.mean():.3f} [{lo:.3f}, {hi:.3f}]"


def stage_table(recs: list[dict]) -> str:
    """Markdown: hit@k per stage (served setting; fused also with 100-deep legs), 95 % intervals over groups."""
    groups = [r["group"] for r in recs]
    served = [replay(r, *SERVED) for r in recs]
    deep = [replay(r, 100, 100, SERVED[2]) for r in recs]
    stages = {
        "dense leg alone": [s.dense for s in deep],
        "BM25 leg alone": [s.bm25 for s in deep],
        "fused, legs 20 deep (as served)": [s.fused for s in served],
        "fused, legs 100 deep": [s.fused for s in deep],
        "reranked pool (15, as served)": [s.reranked for s in served],
        "answerer's top 5 (one chunk per story)": [s.answered for s in served],
    }
    lines = ["| stage | " + " | ".join(f"hit@{k}" for k in KS) + " |", "|---|" + "---|" * len(KS)]
    for name, ranks in stages.items():
        arr = np.array(ranks)
        cells = [_fmt(_hit(arr, k), groups) if k <= _cap(name) else "" for k in KS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cap(stage: str) -> int:
    if "as served" in stage and "fused" in stage:
        return 40
    if "pool" in stage:
        return 15
    if "top 5" in stage:
        return 5
    return 100


def loss_table(recs: list[dict]) -> str:
    """Markdown: where the questions whose gold chunk misses the answerer's ``top_k`` (served setting) lose it,
    with the share of all questions and its 95 % interval."""
    groups = [r["group"] for r in recs]
    where = []
    for r in recs:
        served, deep = replay(r, *SERVED), replay(r, 100, 100, SERVED[2])
        if served.answered:
            where.append("")
        elif served.reranked:
            where.append("in the reranked pool, below the answerer's top 5")
        elif served.fused:
            where.append("in a leg's top 20, fused below the cut at 15")
        elif deep.dense or deep.bm25:
            where.append("only at ranks 21-100 of a leg")
        else:
            where.append("in neither leg's top 100")
    lines = ["| where the gold chunk is | questions | share |", "|---|---|---|"]
    for name in sorted({w for w in where if w}, key=lambda w: -where.count(w)):
        hits = np.array([float(w == name) for w in where])
        lines.append(f"| {name} | {int(hits.sum())} | {_fmt(hits, groups)} |")
    return "\n".join(lines)


def cross_validate(recs: list[dict], folds: int = 5, top_k: int = TOP_K) -> tuple[str, list[float], list[float]]:
    """Choose (depth, pool, rrf_k) on ``folds - 1`` folds grouped by ``group`` (most gold in the answerer's
    ``top_k``, ties to the served setting then the cheapest), score it on the held-out fold. Returns a report, the
    held-out hits of the chosen settings and of the served one, per question."""
    from sklearn.model_selection import GroupKFold

    groups = [r["group"] for r in recs]
    grid = list(itertools.product(GRID_DEPTH, GRID_POOL, GRID_RRF_K))
    hits = {g: np.array([float(replay(r, *g, top_k=top_k).answered > 0) for r in recs]) for g in grid}
    chosen = np.zeros(len(recs))
    served = hits[SERVED]
    picks = []
    for train, test in GroupKFold(folds).split(np.zeros(len(recs)), groups=groups):
        best = max(grid, key=lambda g: (round(hits[g][train].mean(), 6), g == SERVED, -g[0] - g[1]))
        picks.append(best)
        chosen[test] = hits[best][test]
    whole = sorted(grid, key=lambda g: -hits[g].mean())[:5]
    lines = [f"settings chosen per fold (depth, pool, rrf_k): {picks}",
             f"held-out folds: chosen {_fmt(chosen, groups)}, served {_fmt(served, groups)}, "
             f"paired difference {_fmt(chosen - served, groups)}",
             "best on all questions (in-sample): " + "; ".join(f"{g} {hits[g].mean():.3f}" for g in whole)]
    return "\n".join(lines), chosen.tolist(), served.tolist()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("set", choices=("crud", "drcd"))
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--work", type=Path, default=Path("/tmp/newsqa-gap"))
    c.add_argument("--cache", type=Path, default=CACHE)
    c.add_argument("--depth", type=int, default=100)
    c.add_argument("--limit", type=int, default=1500, help="DRCD questions (whole paragraphs), as make train")
    c.add_argument("--embedding-model", default=None, help="the store's own model (default: make train's hashed "
                   "bigrams)")
    r = sub.add_parser("report")
    r.add_argument("rows", type=Path, nargs="+")
    e = sub.add_parser("e2e", help="bench/ablate_rules.py with another fused pool / leg depth (this process only)")
    e.add_argument("--pool", type=int, default=15, help="fused chunks the reranker sees (served 15)")
    e.add_argument("--depth", type=int, default=20, help="chunks per leg (served 20)")
    args, rest = parser.parse_known_args(argv)
    if args.cmd == "e2e":
        import rag.service as service_module

        sys.path.insert(0, str(ROOT / "bench"))
        import ablate_rules

        service_module.RERANK_CANDIDATES, service_module.FUSION_CANDIDATES = args.pool, args.depth  # type: ignore[misc]
        return int(ablate_rules.main(rest))
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.cmd == "collect":
        collect(args.set, args.out, args.work, args.cache, args.depth, args.limit, args.embedding_model)
        return 0
    for path in args.rows:
        recs = [json.loads(x) for x in path.read_text("utf-8").splitlines() if x.strip()]
        print(f"## {path.name}: {len(recs)} questions, {len({r['group'] for r in recs})} groups\n")
        print(stage_table(recs) + "\n")
        print(loss_table(recs) + "\n")
        print(cross_validate(recs)[0] + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
