"""The keyword index alone at archive scale (1k .. 1M chunks): build, disk, open, RSS, query, refresh.

    .venv/bin/python bench/keyword_bench.py [--sizes 1000,10000,100000,1000000] [--bm25s-max 300000]

No Chroma and no model: the chunk tokens are recombined from the real chunks' jieba tokens (the base material of
``bench/scale_bench.py``, which ``make bench`` writes), one synthetic chunk per title + two half chunks, like the
scale stores. Per size, a fresh child process opens the persisted index (what a worker does at start), answers
150 real questions through the keyword leg (top 20, as ``NewsQA.retrieve`` asks it), then catches up with 2,000
added chunks and with 2,000 removed ones through :func:`rag.retrieval.keyword_sync.catch_up` (a stand-in store
answers the change log and the chunk reads; Chroma's own share of a refresh is measured by ``bench/scale_bench.py``).
The bm25s index the core used before is built beside it up to ``--bm25s-max`` chunks. Indexes are cached in
``CACHE_DIR/keyword-v1-<size>``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CACHE_DIR, current_rss_mib, offline_env, peak_rss_mib, percentiles  # noqa: E402

VERSION = 1


def _base() -> dict[str, Any]:
    bases = sorted(CACHE_DIR.glob("base-v*.pkl"), key=lambda p: p.stat().st_mtime)
    if not bases:
        raise SystemExit(f"no base material in {CACHE_DIR}: run `make bench` (or bench/run.py) once")
    with bases[-1].open("rb") as fh:
        return dict(pickle.load(fh))


def synthetic_docs(base: dict[str, Any], start: int, count: int, seed: int) -> list[tuple[str, list[str], dict]]:
    """``count`` chunks ``(id, tokens, metadata)`` numbered from ``start`` (24 chunks per page)."""
    rng = random.Random(seed * 1_000_003 + start)
    arts, chunks = base["articles"], base["chunks"]
    out = []
    for n in range(start, start + count):
        art = arts[rng.randrange(len(arts))]
        first = chunks[art["chunks"][rng.randrange(len(art["chunks"]))]]
        second = chunks[rng.randrange(len(chunks))]
        h1 = (len(first["tokens"]) + 1) // 2
        h2 = len(second["tokens"]) // 2
        tokens = list(art["title_tokens"])
        for part in first["tokens"][:h1] + second["tokens"][len(second["tokens"]) - h2:]:
            tokens.extend(part)
        out.append((f"k{n:08d}:0", tokens, {"source": f"scale/p{n // 24:06d}.txt"}))
    return out


class _Log:
    def __init__(self, entries: list[tuple[str, list[str]]]) -> None:
        self.entries = entries

    def read(self, after: int, upto: int) -> list[tuple[str, list[str]]]:
        return self.entries


class _Chunks:
    id = "bench"


class StandInStore:
    """What :func:`catch_up` and :func:`save` ask of a store, answered from memory."""

    def __init__(self, entries: list[tuple[str, list[str]]], docs: dict[str, tuple[list[str], dict]]) -> None:
        self.changes = _Log(entries)
        self.docs = docs
        self.chunks = _Chunks()

    def chunk_metadatas(self, ids: list[str]) -> tuple[list[str], list[dict]]:
        found = [i for i in ids if i in self.docs]
        return found, [{**self.docs[i][1], "tokens": " ".join(self.docs[i][0])} for i in found]


def state(seq: int, version: str) -> dict[str, Any]:
    return {"version": version, "log_epoch": "bench", "log_seq": seq, "log_version": version}


def build(size: int, folder: Path) -> dict[str, Any]:
    """Child: build and persist the index of ``size`` synthetic chunks."""
    import numpy as np

    from rag.retrieval import keyword_sync
    from rag.retrieval.keyword import BM25Index
    from rag.retrieval.segments import build_segment

    base = _base()
    started, cpu = time.perf_counter(), time.process_time()
    vocab: dict[str, int] = {}
    segments = []
    for start in range(0, size, keyword_sync.SEGMENT_ROWS):
        docs = synthetic_docs(base, start, min(keyword_sync.SEGMENT_ROWS, size - start), seed=size)
        segments.append(build_segment(docs, vocab))
    df = np.zeros(len(vocab), dtype=np.int32)
    for seg in segments:
        df[: len(seg.indptr) - 1] += np.diff(np.asarray(seg.indptr)).astype(np.int32)
    index = BM25Index(StandInStore([], {}), segments, [np.zeros(s.n, dtype=bool) for s in segments],  # type: ignore[arg-type]
                      vocab, df, version="v0", epoch="bench", seq=0)
    build_s, build_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    shutil.rmtree(folder, ignore_errors=True)
    t0 = time.perf_counter()
    keyword_sync.save(index, folder)
    disk = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return {"size": size, "build_s": build_s, "build_cpu_s": build_cpu_s, "save_s": time.perf_counter() - t0, "disk_mib": disk / 2**20,
            "postings": int(sum(len(s.docs) for s in segments)), "terms": len(vocab),
            "build_peak_rss_mib": peak_rss_mib()}


def serve(size: int, folder: Path, questions: list[str]) -> dict[str, Any]:
    """Child: open the persisted index, answer ``questions``, catch up with 2,000 added and 2,000 removed chunks."""
    import numpy as np

    from rag.retrieval import keyword_sync
    from rag.text.normalize import tokenize

    rss0 = current_rss_mib()
    queries = [tokenize(q) for q in questions]  # jieba loaded outside the timed open
    rss_jieba = current_rss_mib()
    t0, cpu = time.perf_counter(), time.process_time()
    stand_in = StandInStore([], {})
    index = keyword_sync.load(stand_in, folder)  # type: ignore[arg-type]
    open_s, open_cpu_s = time.perf_counter() - t0, time.process_time() - cpu
    assert index is not None and index.n_docs == size
    rss_open = current_rss_mib()
    for q in queries[:3]:
        index.search(q, 20)
    ms = []
    for q in queries:
        t = time.perf_counter()
        index.search(q, 20)
        ms.append(1000 * (time.perf_counter() - t))
    rss_queries = current_rss_mib()

    added = synthetic_docs(_base(), size, min(2000, size // 2), seed=size + 1)  # more would be a rebuild
    docs = {i: (t, m) for i, t, m in added}
    refresh: dict[str, float] = {}
    work = folder.parent / f"{folder.name}-refresh"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(folder, work)
    gone = [index.chunk_id(r) for r in range(0, min(2000, size // 2))]
    for name, entries in (("add_2000", [("put", list(docs))]), ("remove_2000", [("del", gone)])):
        store = StandInStore(entries, docs)
        t, cpu = time.perf_counter(), time.process_time()
        new = keyword_sync.catch_up(index, store, state(index.seq + 1, f"v{index.seq + 1}"))  # type: ignore[arg-type]
        assert new is not None
        caught = time.perf_counter() - t
        keyword_sync.save(new, work)
        refresh[f"{name}_s"] = time.perf_counter() - t
        refresh[f"{name}_cpu_s"] = time.process_time() - cpu
        refresh[f"{name}_in_memory_s"] = caught
        index = new
    shutil.rmtree(work, ignore_errors=True)
    after = [index.search(q, 20) for q in queries[:20]]
    del after
    out = {"size": size, "open_s": open_s, "open_cpu_s": open_cpu_s, "load1": os.getloadavg()[0], "query_ms": percentiles(ms), "rss_start_mib": rss0,
           "rss_jieba_mib": rss_jieba, "rss_after_open_mib": rss_open, "rss_after_queries_mib": rss_queries,
           "peak_rss_mib": peak_rss_mib(), "segments_after": len(index.segments), **refresh}
    del np
    return out


def bm25s_side(size: int, questions: list[str]) -> dict[str, Any]:
    """Child: the previous in-memory bm25s index over the same chunks: build time, RSS, query latency."""
    import bm25s

    from rag.text.normalize import tokenize

    queries = [tokenize(q) for q in questions]
    base = _base()
    rss0 = current_rss_mib()
    t0 = time.perf_counter()
    vocab: dict[str, int] = {}
    corpus = []
    for start in range(0, size, 50_000):
        for _i, tokens, _m in synthetic_docs(base, start, min(50_000, size - start), seed=size):
            corpus.append([vocab.setdefault(t, len(vocab)) for t in tokens])
    vocab.setdefault("", len(vocab))
    bm = bm25s.BM25()
    bm.index((corpus, vocab), show_progress=False)
    del corpus
    build_s = time.perf_counter() - t0
    rss = current_rss_mib()
    ms = []
    for q in queries:
        known = [t for t in q if t in bm.vocab_dict]
        t = time.perf_counter()
        if known:
            bm.retrieve([known], k=20, show_progress=False, n_threads=1)
        ms.append(1000 * (time.perf_counter() - t))
    return {"size": size, "build_s": build_s, "rss_index_mib": rss - rss0, "peak_rss_mib": peak_rss_mib(),
            "query_ms": percentiles(ms)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--bm25s-max", type=int, default=300_000)
    parser.add_argument("--questions", type=int, default=150)
    parser.add_argument("--out", type=Path, default=CACHE_DIR / "keyword-results.json")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    offline_env()
    from scale_bench import questions

    qs = questions(args.questions)
    if args.child:
        kind, size_text = args.child
        size = int(size_text)
        folder = CACHE_DIR / f"keyword-v{VERSION}-{size}"
        result = {"build": lambda: build(size, folder), "serve": lambda: serve(size, folder, qs),
                  "bm25s": lambda: bm25s_side(size, qs)}[kind]()
        print("RESULT " + json.dumps(result))
        return 0
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        row: dict[str, Any] = {"size": size}
        folder = CACHE_DIR / f"keyword-v{VERSION}-{size}"
        marker = folder / "built.json"
        kinds = ([] if marker.exists() else ["build"]) + ["serve"] + (["bm25s"] if size <= args.bm25s_max else [])
        if marker.exists():
            row["build"] = {**json.loads(marker.read_text()), "cached": True}
        for kind in kinds:
            proc = subprocess.run([sys.executable, __file__, "--child", kind, str(size),
                                   "--questions", str(args.questions)], capture_output=True, text=True)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            result = json.loads(lines[-1][7:]) if lines else {"error": proc.stderr[-2000:]}
            row[kind] = result
            if kind == "build" and "error" not in result:
                marker.write_text(json.dumps(result))
        print(json.dumps(row), flush=True)
        rows.append(row)
    args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
