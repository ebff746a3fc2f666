"""Long run (``make soak HOURS=2``): one real ``newsqa serve`` under a steady mix of questions, with an ingest of new
pages every few minutes and a periodic delete of old ones; a table per interval and a verdict at the end.

What it does:

* A temporary data dir seeded with the sample pages (``data/articles``), ingested once by ``newsqa ingest``; then
  ``newsqa serve`` on 127.0.0.1 with an admin key (a benchmark process, not a test: no fakes anywhere).
* ``--clients`` threads ask continuously (``--think`` seconds between two questions of a client): 70 % ``POST
  /v1/ask``, 30 % the streamed ``POST /v1/ask/stream`` (read to the ``done`` event). The questions are the training
  questions of ``../shared/train/crud_train`` (about reports that are ingested over time, or not: both answers and
  refusals) and a few generic questions about the sample pages' topics.
* Every ``--ingest-every`` seconds ``--files`` new pages are written into the articles folder and ingested through
  ``POST /v1/ingest``. A new page recombines two reports of ``../shared/train`` (the first half of one, the second
  half of another: new text, so new embeddings, not embedding-cache hits) under a new date line. Pages older than
  ``--keep-rounds`` rounds are deleted from the folder first, so the same ingest removes them from the store
  (deletion in newsqa is by the incremental ingest: a file gone from the folder is removed from the store).
* Every ``--interval`` seconds a row: requests, p50/p95 ms (and ``p95_quiet_ms``: the p95 of the requests that
  overlapped no ingest job, since an ingest slows the answers it runs beside), errors, the serving process's RSS,
  open file descriptors and threads (psutil; its children, the passage worker of a REST ingest, counted apart),
  store chunk count (``newsqa_store_chunks`` of ``GET /metrics``) and the
  ingests of the interval. At the end the verdict against the goals of issue 35: zero errors, RSS growth <= 5 %
  after the first interval, no growth of open descriptors, p95 of the last interval within 20 % of the first.

Run: ``python bench/soak.py --hours 0.5 --interval 300`` (``make soak HOURS=0.5 INTERVAL=300``). Exit status 0 when
every goal is met, 1 otherwise. ``--json PATH`` writes the rows and verdict.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rest import free_port, stop_server, wait_ready  # noqa: E402
from common import ROOT, SAMPLE_ARTICLES, machine_info  # noqa: E402

TRAIN = (ROOT / ".." / "shared" / "train").resolve()
#: The packaged Chinese-capable model a fresh clone falls back to (no model hub here).
DEFAULT_MODEL = "intfloat/multilingual-e5-small@q4"
#: Generic questions on the sample pages' topics (written for this benchmark, not from any evaluation set).
GENERIC_QUESTIONS = ["5G基站建设情况如何？", "乡村振兴有哪些举措？", "企业科技创新取得了什么成绩？", "文旅产业怎么发展？",
                     "今年粮食产量是多少？", "月球上的第一家咖啡馆在哪里？"]
#: Goals of issue 35 for the 2-hour run.
RSS_GROWTH_MAX, P95_DRIFT_MAX = 0.05, 0.20


@dataclass
class Interval:
    """What happened in one reporting interval."""

    latencies_ms: list[float] = field(default_factory=list)
    quiet_ms: list[float] = field(default_factory=list)  # requests that overlapped no ingest
    errors: int = 0
    asks: int = 0
    streams: int = 0
    ingests: int = 0
    ingest_seconds: list[float] = field(default_factory=list)
    removed_files: int = 0
    rss_mib: list[float] = field(default_factory=list)
    children_rss_mib: list[float] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)
    threads: list[int] = field(default_factory=list)


class Soak:
    """The shared state of the clients, the ingester and the sampler."""

    def __init__(self, url: str, admin_key: str, articles: Path, server: psutil.Process, questions: list[str],
                 args: argparse.Namespace) -> None:
        self.url, self.admin_key, self.articles, self.server = url, admin_key, articles, server
        self.questions, self.args = questions, args
        self.lock = threading.Lock()
        self.current = Interval()
        self.stop = threading.Event()
        self.error_samples: list[str] = []
        self.reports = _train_reports()
        self.rounds: list[list[Path]] = []
        self.page_seq = 0
        self.ingest_epoch = 0  # odd while an ingest job runs: a request that saw it unchanged and even was quiet

    # --- recording ----------------------------------------------------------------------------------------------
    def record(self, latency_ms: float | None, kind: str, error: str | None = None, quiet: bool = False) -> None:
        with self.lock:
            cur = self.current
            if kind == "ask":
                cur.asks += 1
            elif kind == "stream":
                cur.streams += 1
            if error is not None:
                cur.errors += 1
                if len(self.error_samples) < 20:
                    self.error_samples.append(f"{datetime.now(UTC):%H:%M:%S} {kind}: {error}")
            elif latency_ms is not None:
                cur.latencies_ms.append(latency_ms)
                if quiet:
                    cur.quiet_ms.append(latency_ms)

    def take(self) -> Interval:
        with self.lock:
            done, self.current = self.current, Interval()
            return done

    # --- clients ------------------------------------------------------------------------------------------------
    def client(self, seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=self.url, timeout=120) as http:
            while not self.stop.is_set():
                question = rng.choice(self.questions)
                kind = "stream" if rng.random() < 0.3 else "ask"
                epoch, started = self.ingest_epoch, time.perf_counter()
                try:
                    error = self._stream(http, question) if kind == "stream" else self._ask(http, question)
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                quiet = epoch % 2 == 0 and self.ingest_epoch == epoch
                self.record(1000 * (time.perf_counter() - started), kind, error, quiet)
                self.stop.wait(self.args.think)

    @staticmethod
    def _ask(http: httpx.Client, question: str) -> str | None:
        response = http.post("/v1/ask", json={"question": question})
        if response.status_code != 200:
            return f"HTTP {response.status_code}: {response.text[:200]}"
        return None if "found" in response.json() else "no answer in the body"

    @staticmethod
    def _stream(http: httpx.Client, question: str) -> str | None:
        with http.stream("POST", "/v1/ask/stream", json={"question": question}) as response:
            if response.status_code != 200:
                return f"HTTP {response.status_code}: {response.read()[:200]!r}"
            text = response.read().decode("utf-8")
        if "event: error" in text:
            return "error event: " + text.split("event: error", 1)[1][:200]
        return None if "event: done" in text else "stream ended without a done event"

    # --- ingest and delete --------------------------------------------------------------------------------------
    def ingester(self) -> None:
        rng = random.Random(7)
        headers = {"Authorization": f"Bearer {self.admin_key}"}
        with httpx.Client(base_url=self.url, timeout=60, headers=headers) as http:
            while not self.stop.wait(self.args.ingest_every):
                removed = self._delete_old()
                self.rounds.append([self._write_page(rng) for _ in range(self.args.files)])
                started = time.perf_counter()
                self.ingest_epoch += 1
                try:
                    error = self._run_job(http)
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                finally:
                    self.ingest_epoch += 1
                with self.lock:
                    self.current.ingests += 1
                    self.current.removed_files += removed
                    self.current.ingest_seconds.append(time.perf_counter() - started)
                if error:
                    self.record(None, "ingest", error)

    def _delete_old(self) -> int:
        removed = 0
        while len(self.rounds) >= self.args.keep_rounds:
            for path in self.rounds.pop(0):
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def _write_page(self, rng: random.Random) -> Path:
        """A new report: halves of two training reports under a new date line (the sequence number dates it)."""
        self.page_seq += 1
        first, second = rng.sample(self.reports, 2)
        a, b = _body(first), _body(second)
        day = date(2024, 1, 1) + timedelta(days=self.page_seq)
        text = f"{day.isoformat()} 08:00:00，正文：{a[: len(a) // 2]}{b[len(b) // 2:]}\n"
        path = self.articles / "soak" / f"soak_{self.page_seq:06d}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def _run_job(self, http: httpx.Client) -> str | None:
        for _ in range(600):  # a previous job may still run: retry the 409 for up to ten minutes
            started = http.post("/v1/ingest")
            if started.status_code != 409:
                break
            time.sleep(1)
        if started.status_code != 202:
            return f"ingest HTTP {started.status_code}: {started.text[:200]}"
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:  # finish the job even while stopping: the run ends on a committed store
            job = http.get(started.headers["location"]).json()
            if job["done"]:
                if job["state"] != "succeeded":
                    return f"ingest job {job['state']}: {job.get('error')}"
                failed = job["summary"]["files_failed"]
                return f"ingest: {failed} file(s) failed: {job['summary']['failures']}" if failed else None
            time.sleep(0.5)
        return "ingest job still running after an hour"

    # --- the server ---------------------------------------------------------------------------------------------
    def sample_process(self) -> None:
        """RSS (MiB), open descriptors and threads of the serving process, and the RSS of its children (the passage
        worker while a REST ingest runs, which then exits), every ``--sample`` seconds. The goals are the serving
        process's: the worker is counted apart, so that whether a sample falls inside an ingest does not read as
        growth."""
        while not self.stop.wait(self.args.sample):
            rss, children_rss, fds, threads = _process_tree(self.server)
            with self.lock:
                self.current.rss_mib.append(rss)
                self.current.children_rss_mib.append(children_rss)
                self.current.fds.append(fds)
                self.current.threads.append(threads)

    def store_chunks(self) -> int | None:
        headers = {"Authorization": f"Bearer {self.admin_key}"}
        try:
            text = httpx.get(f"{self.url}/metrics", headers=headers, timeout=30).text
        except httpx.HTTPError:
            return None
        for line in text.splitlines():
            if line.startswith("newsqa_store_chunks "):
                return int(float(line.split()[1]))
        return None


def _process_tree(process: psutil.Process) -> tuple[float, float, int, int]:
    """The serving process's RSS (MiB), its children's summed RSS (MiB), its open descriptors and threads."""
    children = 0.0
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            children += child.memory_info().rss / 2**20
    return process.memory_info().rss / 2**20, children, process.num_fds(), process.num_threads()


def _train_reports() -> list[Path]:
    folders = [TRAIN / "crud_train" / "articles", TRAIN / "crud_more_reports" / "articles",
               TRAIN / "crud_more_reports"]
    files = [p for folder in folders if folder.is_dir() for p in sorted(folder.glob("*.txt"))]
    if len(files) < 2:
        sys.exit(f"no training reports under {TRAIN} (the new pages are made from them)")
    return files


def _body(path: Path) -> str:
    text = path.read_text(encoding="utf-8").strip()
    return text.split("正文：", 1)[1] if "正文：" in text else text


def _questions() -> list[str]:
    qa = TRAIN / "crud_train" / "qa.jsonl"
    rows = [json.loads(line) for line in qa.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row["q"] for row in rows] + GENERIC_QUESTIONS


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0..1) of ``values`` (nan when empty)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


def row_of(index: int, seconds: float, interval: Interval, chunks: int | None) -> dict[str, Any]:
    """The printed and saved figures of one interval."""
    return {
        "interval": index, "minutes": round(seconds / 60, 1), "requests": interval.asks + interval.streams,
        "streams": interval.streams, "p50_ms": round(percentile(interval.latencies_ms, 0.5)),
        "p95_ms": round(percentile(interval.latencies_ms, 0.95)),
        "p95_quiet_ms": round(percentile(interval.quiet_ms, 0.95)) if interval.quiet_ms else None,
        "errors": interval.errors,
        "rss_mib": round(interval.rss_mib[-1]) if interval.rss_mib else None,
        "rss_max_mib": round(max(interval.rss_mib)) if interval.rss_mib else None,
        "worker_rss_max_mib": round(max(interval.children_rss_mib)) if interval.children_rss_mib else None,
        "fds": interval.fds[-1] if interval.fds else None, "fds_max": max(interval.fds) if interval.fds else None,
        "threads": interval.threads[-1] if interval.threads else None, "chunks": chunks,
        "ingests": interval.ingests, "removed_files": interval.removed_files,
        "ingest_s": round(sum(interval.ingest_seconds) / len(interval.ingest_seconds), 1)
        if interval.ingest_seconds else None,
    }


COLUMNS = ("interval", "minutes", "requests", "streams", "p50_ms", "p95_ms", "p95_quiet_ms", "errors", "rss_mib",
           "worker_rss_max_mib", "fds", "threads", "chunks", "ingests", "removed_files", "ingest_s")


def verdict(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The goals of issue 35 checked on the rows (needs at least two intervals)."""
    first, last = rows[0], rows[-1]
    errors = sum(r["errors"] for r in rows)
    rss_growth = (last["rss_mib"] - first["rss_mib"]) / first["rss_mib"] if first["rss_mib"] else math.nan
    p95_drift = (last["p95_ms"] - first["p95_ms"]) / first["p95_ms"] if first["p95_ms"] else math.nan
    quiet = (last["p95_quiet_ms"] - first["p95_quiet_ms"]) / first["p95_quiet_ms"] \
        if first["p95_quiet_ms"] and last["p95_quiet_ms"] else math.nan
    checks = {
        "zero errors": errors == 0,
        "RSS growth <= 5 % after the first interval": rss_growth <= RSS_GROWTH_MAX,
        "no descriptor growth": (last["fds_max"] or 0) <= (first["fds_max"] or 0),
        "last p95 within 20 % of the first": p95_drift <= P95_DRIFT_MAX,
    }
    return {"errors": errors, "rss_growth": round(rss_growth, 4), "p95_drift": round(p95_drift, 4),
            "p95_quiet_drift": round(quiet, 4),  # informative: the same without the requests an ingest slowed
            "fds_first_max": first["fds_max"], "fds_last_max": last["fds_max"], "checks": checks,
            "passed": all(checks.values())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=2.0, help="length of the run (fractions allowed)")
    parser.add_argument("--interval", type=float, default=300.0, help="seconds per reported interval")
    parser.add_argument("--clients", type=int, default=3, help="client threads asking questions")
    parser.add_argument("--think", type=float, default=0.5, help="seconds a client waits between two questions")
    parser.add_argument("--ingest-every", type=float, default=180.0, help="seconds between two ingests")
    parser.add_argument("--files", type=int, default=4, help="new pages per ingest")
    parser.add_argument("--keep-rounds", type=int, default=5, help="ingest rounds whose pages are kept")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between two RSS/descriptor samples")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="embedding model (default: the packaged e5)")
    parser.add_argument("--data-dir", type=Path, help="keep the data dir here (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="write the rows and the verdict here")
    args = parser.parse_args(argv)
    if args.hours * 3600 < 2 * args.interval:
        parser.error("--hours must cover at least two intervals (the verdict compares the first and the last)")

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="newsqa-soak-"))
    shutil.copytree(SAMPLE_ARTICLES, data_dir / "articles", dirs_exist_ok=True)
    admin_key = secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSQA_")}
    env |= {"NEWSQA_DATA_DIR": str(data_dir), "NEWSQA_EMBEDDING_MODEL": args.model, "NEWSQA_LOG_LEVEL": "WARNING",
            "NEWSQA_ADMIN_KEY": admin_key, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "ANONYMIZED_TELEMETRY": "False", "PYTHONPATH": str(ROOT)}
    print(f"soak: {args.hours} h, interval {args.interval:.0f} s, data dir {data_dir}, model {args.model}", flush=True)
    subprocess.run([sys.executable, "-m", "bot.cli", "ingest", "--json"], cwd=data_dir, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port)], cwd=data_dir,
                               env=env, start_new_session=True)
    rows: list[dict[str, Any]] = []
    soak: Soak | None = None
    started_at = datetime.now(UTC)
    try:
        wait_ready(url, process, timeout=300)
        soak = Soak(url, admin_key, data_dir / "articles", psutil.Process(process.pid), _questions(), args)
        workers = [threading.Thread(target=soak.client, args=(i,), daemon=True) for i in range(args.clients)]
        workers += [threading.Thread(target=soak.ingester, daemon=True),
                    threading.Thread(target=soak.sample_process, daemon=True)]
        for worker in workers:
            worker.start()
        print(" | ".join(COLUMNS), flush=True)
        begin = time.monotonic()
        for index in range(1, int(args.hours * 3600 // args.interval) + 1):  # whole intervals only
            time.sleep(max(0.0, begin + index * args.interval - time.monotonic()))
            row = row_of(index, time.monotonic() - begin, soak.take(), soak.store_chunks())
            rows.append(row)
            print(" | ".join(str(row[c]) for c in COLUMNS), flush=True)
            if process.poll() is not None:
                print(f"the server exited with code {process.returncode}", flush=True)
                break
        soak.stop.set()
        for worker in workers:
            worker.join(150)
    finally:
        stop_server(process)
        if args.data_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    result: dict[str, Any] = verdict(rows) if len(rows) >= 2 else {"passed": False, "checks": {"two intervals": False}}
    for name, ok in result["checks"].items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}", flush=True)
    print(json.dumps({k: v for k, v in result.items() if k != "checks"}), flush=True)
    if soak is not None and soak.error_samples:
        print("first errors:\n  " + "\n  ".join(soak.error_samples), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"started": started_at.isoformat(), "args": vars(args) | {
            "data_dir": str(args.data_dir) if args.data_dir else None, "json": str(args.json)},
            "machine": machine_info(), "rows": rows, "verdict": result,
            "errors": soak.error_samples if soak is not None else []},
            ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
