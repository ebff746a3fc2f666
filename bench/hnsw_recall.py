"""Dense recall at scale: Chroma's HNSW against exact search, per HNSW setting (M, ef_construction, ef_search).

Vector sets (cached under ``CACHE_DIR/hnsw``; queries are real questions, embedded by the same model):

- ``synthetic-N``: exactly the vectors of the scale benchmark's store of N chunks (``scale_bench.synthetic_
  articles``: the normalised sum of two real all-MiniLM-L6-v2 chunk embeddings of the benchmark corpus, CMRC 2018
  trial + sample pages, plus Gaussian noise of 0.02 per dimension), against 200 CMRC / seeds_dev questions.
- ``real``: a real archive, the chunks of an ingested store (``--real-store``, e.g. ``crud_train`` +
  ``crud_more_reports``: ~10k chunks) embedded by the packaged all-MiniLM-L6-v2, against its training questions.

Per set and (M, ef_construction) a Chroma collection holding only the vectors is built with the configuration an
ingest gives the chunk collection (``rag.store.hnsw.chunk_configuration``: cosine, sync threshold 100; 2,000
vectors per ``add``, as the scale store is written), timed. Then per ef_search a fresh process opens it as a store
does (``apply_search_settings``, so the index loads with that ef_search), warms up, and times one top-20 query per
question; recall@20 is the share of the exact top 20 (numpy, cosine over all vectors) that HNSW returns, with a
95 % bootstrap interval over questions. The process's RSS growth from opening the index is reported beside it.

    python bench/hnsw_recall.py prepare --sizes 100000,1000000 [--real-store DIR --real-qa FILE]
    python bench/hnsw_recall.py requery --set synthetic-1000000 --questions 1000   # more questions, same vectors
    python bench/hnsw_recall.py run --set synthetic-1000000 --m 16 --efc 100 --ef 100,200,400,800
    python bench/hnsw_recall.py table
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    CACHE_DIR,
    CMRC_ARTICLES,
    ROOT,
    SAMPLE_ARTICLES,
    corpus_files,
    current_rss_mib,
    load_model,
    log,
    offline_env,
    percentiles,
    settings_for,
)

HNSW_DIR = CACHE_DIR / "hnsw"
RESULTS = HNSW_DIR / "results.jsonl"
K = 20
ADD_BATCH = 2000


def _np() -> Any:
    import numpy as np

    return np


def exact_top(vectors: Any, queries: Any, k: int = K) -> Any:
    """``(len(queries), k)`` row numbers of the exact top-k by cosine (vectors and queries unit length)."""
    np = _np()
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), k), dtype=np.int64)
    for start in range(0, len(vectors), 100_000):
        sims = queries @ np.asarray(vectors[start:start + 100_000]).T
        top = np.argpartition(-sims, min(k, sims.shape[1] - 1), axis=1)[:, :k]
        s = np.concatenate([best_s, np.take_along_axis(sims, top, 1)], axis=1)
        i = np.concatenate([best_i, top + start], axis=1)
        order = np.argsort(-s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(s, order, 1), np.take_along_axis(i, order, 1)
    return best_i


def save_set(name: str, vectors: Any, queries: Any) -> None:
    np = _np()
    folder = HNSW_DIR / name
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "vectors.npy", np.asarray(vectors, dtype=np.float32))
    np.save(folder / "queries.npy", np.asarray(queries, dtype=np.float32))
    np.save(folder / "exact.npy", exact_top(np.load(folder / "vectors.npy", mmap_mode="r"), queries))
    log(f"{name}: {len(vectors)} vectors, {len(queries)} queries")


def prepare_synthetic(sizes: list[int], n_questions: int) -> None:
    """The scale benchmark's base (the benchmark corpus ingested with the packaged model), then its vectors."""
    np = _np()
    from scale_bench import GENERATOR_VERSION, base_key, build_base, questions, synthetic_articles

    from bot.service import build_service

    source = HNSW_DIR / "base-store"
    if not (source / "store" / "chroma.sqlite3").exists():
        log("ingesting the benchmark corpus (CMRC trial + sample pages) with the packaged model")
        service = build_service(settings_for(source))
        service.ingest(corpus_files([CMRC_ARTICLES, SAMPLE_ARTICLES]))
        service.close()
    key = base_key(source / "store")
    base = build_base(source / "store", CACHE_DIR / f"base-v{GENERATOR_VERSION}-{key}.pkl")
    model, _ = load_model()
    qs = np.stack([model.embed_query(q) for q in questions(n_questions)])
    for size in sizes:
        vectors = np.empty((size, qs.shape[1]), dtype=np.float32)
        row = 0
        for _art, parts in synthetic_articles(base, size):
            for _first, _second, vector in parts:
                vectors[row] = vector
                row += 1
        save_set(f"synthetic-{size}", vectors, qs)


def prepare_real(store_dir: Path, qa: Path, n_questions: int) -> None:
    """The chunk texts of an ingested store (any model) embedded by the packaged model, and the training questions."""
    np = _np()
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from rag.store.chunk_vectors import record_to_node

    client = chromadb.PersistentClient(path=str(store_dir), settings=ChromaSettings(anonymized_telemetry=False))
    got = client.get_collection("newsqa").get(include=["metadatas", "documents"])
    texts = [record_to_node(i, d, dict(m)).get_content()
             for i, d, m in zip(got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True)]
    model, _ = load_model(query_warm_up=False)
    started = time.perf_counter()
    vectors = np.concatenate([model.embed_documents(texts[i:i + 256]) for i in range(0, len(texts), 256)])
    log(f"real: {len(texts)} chunks embedded in {time.perf_counter() - started:.0f} s")
    qs = [json.loads(line)["q"] for line in qa.read_text("utf-8").splitlines() if line.strip()][:n_questions]
    save_set("real", vectors, np.stack([model.embed_query(q) for q in qs]))


def requery(name: str, n_questions: int, real_qa: Path) -> None:
    """New queries for an existing set (its vectors and built collections kept): ``n_questions`` questions embedded
    by the packaged model and their exact top 20, so a recall figure can be re-measured on more questions without
    regenerating or re-indexing the vectors."""
    np = _np()
    model, _ = load_model()
    if name.startswith("synthetic-"):
        from scale_bench import questions

        qs = questions(n_questions)
    else:
        qs = [json.loads(line)["q"] for line in real_qa.read_text("utf-8").splitlines() if line.strip()][:n_questions]
    queries = np.stack([model.embed_query(q) for q in qs]).astype(np.float32)
    folder = HNSW_DIR / name
    np.save(folder / "queries.npy", queries)
    np.save(folder / "exact.npy", exact_top(np.load(folder / "vectors.npy", mmap_mode="r"), queries))
    log(f"{name}: {len(queries)} queries and their exact top {K}")


def collection_dir(name: str, m: int, efc: int) -> Path:
    return HNSW_DIR / name / f"chroma-m{m}-efc{efc}"


def build(name: str, m: int, efc: int) -> dict[str, Any]:
    """A Chroma collection of the set's vectors with M ``m`` and ef_construction ``efc``; build seconds, disk MiB."""
    np = _np()
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from rag.store.hnsw import chunk_configuration

    folder = collection_dir(name, m, efc)
    marker = folder / "built.json"
    if marker.exists():
        return json.loads(marker.read_text())
    shutil.rmtree(folder, ignore_errors=True)
    vectors = np.load(HNSW_DIR / name / "vectors.npy", mmap_mode="r")
    settings = settings_for(folder, hnsw_m=m, hnsw_ef_construction=efc)
    client = chromadb.PersistentClient(path=str(folder), settings=ChromaSettings(anonymized_telemetry=False))
    collection = client.create_collection("newsqa", embedding_function=None,  # the store's own configuration
                                          configuration=chunk_configuration(settings))  # type: ignore[arg-type]
    load0, cpu0, started = os.getloadavg()[0], time.process_time(), time.perf_counter()
    for start in range(0, len(vectors), ADD_BATCH):
        part = np.asarray(vectors[start:start + ADD_BATCH])
        collection.add(ids=[str(i) for i in range(start, start + len(part))], embeddings=part)
        if start and start % 100_000 == 0:
            log(f"{name} M {m} efc {efc}: {start} added, {time.perf_counter() - started:.0f} s")
    collection.query(query_embeddings=[vectors[0].tolist()], n_results=1, include=[])  # flushes the last batch
    info = {"set": name, "m": m, "efc": efc, "n": len(vectors), "build_s": time.perf_counter() - started,
            "build_cpu_s": time.process_time() - cpu0, "load1": [load0, os.getloadavg()[0]]}
    client.close() if hasattr(client, "close") else None
    hnsw_files = [p for p in folder.rglob("*") if p.is_file() and p.suffix == ".bin"]
    info["hnsw_disk_mib"] = sum(p.stat().st_size for p in hnsw_files) / 2**20
    marker.write_text(json.dumps(info))
    return info


def query_child(name: str, m: int, efc: int, ef: int) -> dict[str, Any]:
    """In a fresh process: open the collection as a store does with ``ef`` and time one top-20 query per question."""
    np = _np()
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from rag.store.hnsw import apply_search_settings, hnsw_of

    folder = collection_dir(name, m, efc)
    queries = np.load(HNSW_DIR / name / "queries.npy")
    exact = np.load(HNSW_DIR / name / "exact.npy")
    client = chromadb.PersistentClient(path=str(folder), settings=ChromaSettings(anonymized_telemetry=False))
    collection = client.get_collection("newsqa")
    apply_search_settings(collection, settings_for(folder, hnsw_ef_search=ef, hnsw_m=m, hnsw_ef_construction=efc),
                          str(folder))
    rss0 = current_rss_mib()
    t0 = time.perf_counter()
    collection.query(query_embeddings=[queries[0].tolist()], n_results=1, include=[])
    load_s, rss_loaded = time.perf_counter() - t0, current_rss_mib()
    for q in queries[:5]:
        collection.query(query_embeddings=[q.tolist()], n_results=K, include=[])
    ms, cpu_ms, recalls = [], [], []
    load0 = os.getloadavg()[0]
    for q, truth in zip(queries, exact, strict=True):
        t, c = time.perf_counter(), time.process_time()
        got = collection.query(query_embeddings=[q.tolist()], n_results=K, include=[])
        ms.append(1000 * (time.perf_counter() - t))
        cpu_ms.append(1000 * (time.process_time() - c))
        recalls.append(len({int(i) for i in got["ids"][0]} & {int(i) for i in truth}) / K)
    rng = np.random.default_rng(0)
    r = np.asarray(recalls)
    boots = [float(r[rng.integers(0, len(r), len(r))].mean()) for _ in range(2000)]
    return {"set": name, "m": m, "efc": efc, "ef_search": ef, "applied": hnsw_of(collection).get("ef_search"),
            "recall": float(r.mean()), "recall_ci": [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))],
            "recall_min": float(r.min()), "queries": len(r), "query_ms": percentiles(ms), "query_cpu_ms": percentiles(cpu_ms), "index_load_s": load_s,
            "index_rss_mib": rss_loaded - rss0, "load1": [load0, os.getloadavg()[0]]}


def run(name: str, m: int, efc: int, efs: list[int]) -> None:
    info = build(name, m, efc)
    log(f"{name} M {m} efc {efc}: built in {info['build_s']:.0f} s ({info['hnsw_disk_mib']:.0f} MiB of HNSW files)")
    for ef in efs:
        out = subprocess.run([sys.executable, __file__, "query-child", name, str(m), str(efc), str(ef)],
                             capture_output=True, text=True, check=True)
        result = {**json.loads(out.stdout.strip().splitlines()[-1]), "build": info,
                  "at": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
        with RESULTS.open("a") as fh:
            fh.write(json.dumps(result) + "\n")
        log(f"{name} M {m} ef {ef}: recall@20 {result['recall']:.3f} {result['recall_ci']}, "
            f"p50/p95 {result['query_ms']['p50']:.1f}/{result['query_ms']['p95']:.1f} ms, "
            f"CPU p50/p95 {result['query_cpu_ms']['p50']:.1f}/{result['query_cpu_ms']['p95']:.1f} ms")


def table() -> None:
    """The last result per (set, M, ef_construction, ef_search) as a markdown table."""
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for line in RESULTS.read_text().splitlines():
        r = json.loads(line)
        rows[(r["set"], r["m"], r["efc"], r["ef_search"])] = r
    print("| vectors | chunks | M | ef_construction | ef_search | questions | recall@20 (95 % CI) "
          "| top-20 p50 / p95 ms | top-20 CPU p50 / p95 ms | build wall (CPU) s | index RSS MiB | load 1 min |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key in sorted(rows, key=lambda k: (k[0].split("-")[0], rows[k]["build"]["n"], k[1:])):
        r = rows[key]
        cpu = r.get("query_cpu_ms")
        cpu_cell = f"{cpu['p50']:.1f} / {cpu['p95']:.1f}" if cpu else "-"
        print(f"| {r['set'].split('-')[0]} | {r['build']['n']:,} | {r['m']} | {r['efc']} | {r['ef_search']} | "
              f"{r['queries']} | {r['recall']:.3f} ({r['recall_ci'][0]:.3f}-{r['recall_ci'][1]:.3f}) | "
              f"{r['query_ms']['p50']:.1f} / {r['query_ms']['p95']:.1f} | {cpu_cell} | {r['build']['build_s']:.0f} "
              f"({r['build']['build_cpu_s']:.0f}) | "
              f"{r['index_rss_mib']:.0f} | {r['load1'][0]:.1f} |")


def main() -> None:
    offline_env()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--sizes", default="100000,1000000")
    p.add_argument("--questions", type=int, default=200)
    p.add_argument("--real-store", type=Path)
    p.add_argument("--real-qa", type=Path, default=ROOT.parent / "shared" / "train" / "crud_train" / "qa.jsonl")
    q = sub.add_parser("requery")
    q.add_argument("--set", required=True)
    q.add_argument("--questions", type=int, required=True)
    q.add_argument("--real-qa", type=Path, default=ROOT.parent / "shared" / "train" / "crud_train" / "qa.jsonl")
    r = sub.add_parser("run")
    r.add_argument("--set", required=True)
    r.add_argument("--m", type=int, default=16)
    r.add_argument("--efc", type=int, default=100)
    r.add_argument("--ef", default="100,200,400,800")
    c = sub.add_parser("query-child")
    for arg in ("name", "m", "efc", "ef"):
        c.add_argument(arg)
    sub.add_parser("table")
    args = parser.parse_args()
    if args.cmd == "prepare":
        if args.sizes:
            prepare_synthetic([int(s) for s in args.sizes.split(",")], args.questions)
        if args.real_store:
            prepare_real(args.real_store, args.real_qa, args.questions)
    elif args.cmd == "requery":
        requery(args.set, args.questions, args.real_qa)
    elif args.cmd == "run":
        run(args.set, args.m, args.efc, [int(e) for e in args.ef.split(",")])
    elif args.cmd == "query-child":
        print(json.dumps(query_child(args.name, int(args.m), int(args.efc), int(args.ef))))
    else:
        table()


if __name__ == "__main__":
    main()
