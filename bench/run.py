"""``make bench``: ingest, query latency, memory and answer quality, ours beside a stock llama-index pipeline.

    .venv/bin/python bench/run.py            # full run (< 15 min on 2 cores): writes docs/benchmarks.md + PNGs
    .venv/bin/python bench/run.py --quick    # smoke run (~2 min, CI): small corpus, 1k chunks; writes to /tmp
    .venv/bin/python bench/run.py --profile  # also write pyinstrument profiles to /tmp/newsqa-bench-profiles

Every measured phase runs in a child process of this script (``--child``), so each peak RSS is that phase's own.
Scale stores (1k/10k/100k chunks) are cached under /tmp/newsqa-bench-cache between runs; see bench/scale_bench.py.
If ``bench/bench_rest.py`` exists, it is run as a subprocess and its output included.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402 - after the path set-up above
    CACHE_DIR,
    CMRC_ARTICLES,
    ROOT,
    SAMPLE_ARTICLES,
    corpus_files,
    log,
    machine_info,
    offline_env,
    read_json,
    write_json,
)

FULL_SIZES = [1_000, 10_000, 100_000]
QUICK_SIZES = [1_000]
#: The keyword index alone (no Chroma, no model) goes to the archive size: ten years of a city daily.
KEYWORD_SIZES = [1_000, 10_000, 100_000, 300_000, 1_000_000]
CHILD_TIMEOUT = 900  # seconds; one phase never runs longer
PROFILE_DIR = Path("/tmp/newsqa-bench-profiles")


def run_child(name: str, spec: dict[str, Any], workdir: Path, timeout: int = CHILD_TIMEOUT) -> dict[str, Any]:
    """Run ``name`` in a fresh interpreter; returns its result dict (or ``{"error": ...}``)."""
    spec_path = workdir / f"{name}-spec.json"
    out_path = workdir / f"{name}-result.json"
    write_json(spec_path, spec)
    out_path.unlink(missing_ok=True)
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child", name.split("@")[0], "--spec", str(spec_path),
             "--result", str(out_path)],
            cwd=ROOT, timeout=timeout,
        )
        code = proc.returncode
    except subprocess.TimeoutExpired:
        return {"error": f"{name}: timed out after {timeout} s"}
    if code != 0 or not out_path.exists():
        return {"error": f"{name}: exit status {code}"}
    result = read_json(out_path)
    result["child_wall_s"] = time.perf_counter() - started
    return result


def child_main(name: str, spec_path: Path, result_path: Path) -> None:
    offline_env()
    spec = read_json(spec_path)
    if name == "ingest-ours":
        from ingest_bench import run_ours

        result = run_ours(spec)
    elif name == "ingest-stock":
        from ingest_bench import run_stock

        result = run_stock(spec)
    elif name == "quality-ours":
        from ingest_bench import run_quality_ours

        result = run_quality_ours(spec)
    elif name == "quality-stock":
        from ingest_bench import run_quality_stock

        result = run_quality_stock(spec)
    elif name == "scale-build":
        from scale_bench import build_store

        result = build_store(spec)
    elif name == "scale-serve":
        from scale_bench import serve

        result = serve(spec)
    elif name == "scale-export":
        from scale_bench import export_queries

        result = export_queries(spec)
    elif name == "scale-start":
        from scale_bench import first_answer

        result = first_answer(spec)
    else:
        raise SystemExit(f"unknown child {name!r}")
    write_json(result_path, result)


def merge_rep(first: dict[str, Any], again: dict[str, Any]) -> None:
    """Keep the fastest run of each timed section ("floor", "full") in ``first``; all wall times in ``*_runs``."""
    for key in ("floor", "full"):
        if key not in first or key not in again:
            continue
        runs = first.setdefault(f"{key}_runs", [first[key]["wall_s"]])
        runs.append(again[key]["wall_s"])
        if again[key]["wall_s"] < first[key]["wall_s"]:
            kept = {k: first[key][k] for k in ("peak_rss_mib",) if k in first[key]}
            first[key] = {**again[key], **kept}


def cached_key(size: int, key: str | None) -> str | None:
    """The base key of the store to use for ``size``: this run's if cached or buildable, else a cached one.

    Building 100k chunks takes ~6.5 min here, so when the chunker changed since the cached store was built, the
    cached store (same generator, same store format) is reused and the report says so; ``--rebuild-scale``
    forces a store built from this run's chunks.
    """
    from scale_bench import GENERATOR_VERSION, store_dir_for

    if key is not None and (store_dir_for(size, key) / "complete.json").exists():
        return key
    cached = sorted(CACHE_DIR.glob(f"scale-v{GENERATOR_VERSION}-*-{size}/complete.json"),
                    key=lambda p: p.stat().st_mtime)
    if cached:
        return cached[-1].parent.name.split("-")[2]
    return key


def run_untimed(sizes: list[int], size_keys: dict[int, str | None], source_store: str | None,
                quality_jobs: list[tuple[str, str, dict[str, Any]]], workdir: Path,
                ) -> tuple[dict[int, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Build (or reuse, see ``scale_bench.build_store``) the scale stores and run the quality children, two at a
    time, before any timed serving process starts.

    Each store build is one Chroma writer on one core, so on a 2-core machine lane one builds the smallest store
    (which also writes the base material the others read) and then the largest, while lane two runs the quality
    children and then the middle sizes. Returns ``({size: build info}, {results key: quality figures})``.
    """
    ordered = sorted(sizes)
    base_ready = threading.Event()
    built: dict[int, dict[str, Any]] = {}
    quality: dict[str, dict[str, Any]] = {}

    def build(size: int) -> None:
        log(f"scale {size}: building (or reusing cached) store")
        spec = {"size": size, "key": size_keys[size], "source_store": source_store}
        # 100k chunks build in about 3 to 5 minutes here; Chroma's HNSW inserts grow with the store, so the
        # limit grows with the size (1M: 100 minutes).
        built[size] = run_child(f"scale-build@{size}", spec, workdir, timeout=max(1500, size * 3 // 500))

    def lane_one() -> None:
        try:
            if ordered:
                build(ordered[0])
        finally:
            base_ready.set()
        if len(ordered) > 1:
            build(ordered[-1])

    def lane_two() -> None:
        for side, name, spec in quality_jobs:
            log(f"quality: {name}")
            quality[side] = run_child(name, spec, workdir)
        base_ready.wait()
        for size in ordered[1:-1]:
            build(size)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(lane_one), pool.submit(lane_two)]:
            future.result()
    return built, quality


def run_keyword(sizes: list[int]) -> list[dict[str, Any]]:
    """The keyword index alone up to 1M chunks (bench/keyword_bench.py; its indexes are cached like the stores)."""
    log(f"keyword index alone: {', '.join(f'{s:,}' for s in sizes)} chunks")
    out = CACHE_DIR / "keyword-results.json"
    cmd = [sys.executable, str(Path(__file__).resolve().parent / "keyword_bench.py"),
           "--sizes", ",".join(map(str, sizes)), "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, timeout=7200)
    if proc.returncode != 0 or not out.exists():
        return [{"error": f"keyword_bench.py: exit status {proc.returncode}"}]
    return list(read_json(out))


def run_rest(quick: bool) -> dict[str, Any] | None:
    """Figures of bench/bench_rest.py (another engineer's script) when it exists."""
    script = Path(__file__).resolve().parent / "bench_rest.py"
    if not script.exists():
        return None
    log("REST: running bench/bench_rest.py")
    args = ["--requests", "20", "--warmup", "3"] if quick else ["--requests", "100"]
    cmd = [sys.executable, str(script), *args]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return {"command": " ".join(cmd), "error": "timed out after 600 s"}
    rows = []  # its table: clients, requests, errors, req/s, p50 ms, p95 ms
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 6:
            try:
                rows.append([float(p) for p in parts])
            except ValueError:
                continue
    return {"command": " ".join(["python bench/bench_rest.py", *args]), "returncode": proc.returncode,
            "rows": rows, "stdout": proc.stdout[-6000:], "stderr": proc.stderr[-2000:]}


def _run_json_script(script: str, args: list[str], out: Path) -> dict[str, Any]:
    """Run ``bench/<script> *args --json out`` (15 min at most): its JSON figures with the command, or an error."""
    cmd = [sys.executable, str(Path(__file__).resolve().parent / script), *args, "--json", str(out)]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        return {"error": "timed out after 900 s"}
    if proc.returncode != 0 or not out.exists():
        return {"error": f"exit status {proc.returncode}: {proc.stderr[-2000:]}"}
    return {"command": " ".join([f"python bench/{script}", *args]), **read_json(out)}


def run_embed(quick: bool, workdir: Path) -> dict[str, Any]:
    """Figures of bench/embed_bench.py: chunks/s and query p50 per embedding backend, against MiniLM."""
    log("embedding backends: bench/embed_bench.py")
    args = ["--chunks", "64", "--queries", "20"] if quick else ["--chunks", "256", "--queries", "40"]
    return _run_json_script("embed_bench.py", args, workdir / "embed.json")


def run_cold(quick: bool, workdir: Path) -> dict[str, Any]:
    """Figures of bench/cold_ask_bench.py: wall time of a fresh ``newsqa ask`` process over the sample corpus."""
    log("cold start: bench/cold_ask_bench.py")
    args = ["--runs", "3"] if quick else ["--runs", "7", "--breakdown"]
    return _run_json_script("cold_ask_bench.py", args, workdir / "cold.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small corpus, 1k chunks only")
    parser.add_argument("--profile", action="store_true", help=f"write pyinstrument profiles to {PROFILE_DIR}")
    parser.add_argument("--out-dir", type=Path, default=None,
                        help="where benchmarks.md and the PNGs go (default docs/, or a temp folder with --quick)")
    parser.add_argument("--sizes", type=str, default=None, help="comma-separated scale sizes in chunks")
    parser.add_argument("--questions", type=int, default=None, help="questions per scale size")
    parser.add_argument("--skip", type=str, default="",
                        help="comma-separated phases to skip: ingest, quality, scale, keyword, rest, embed, cold")
    parser.add_argument("--rebuild-scale", action="store_true",
                        help="build scale stores from this run's corpus even when stores built from an earlier "
                             "version of the chunks are cached")
    parser.add_argument("--core", type=Path, default=None,
                        help="measure the rag/ and ingest/ packages in this folder instead of the installed ones "
                             "(a patched copy: before/after figures for a proposed core change)")
    parser.add_argument("--reps", type=int, default=None,
                        help="runs of each ingest measurement, interleaved ours/stock; the fastest counts "
                             "(default 3, 1 with --quick)")
    parser.add_argument("--keep", action="store_true", help="keep the ingested stores of this run (temp folder)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(args.child, args.spec, args.result)
        return 0

    offline_env()
    if args.core:
        core = args.core.resolve()
        if not (core / "rag" / "service.py").exists():
            parser.error(f"--core {core}: no rag/service.py there")
        os.environ["PYTHONPATH"] = os.pathsep.join([str(core), *filter(None, [os.environ.get("PYTHONPATH")])])
    started = time.perf_counter()
    mode = "quick" if args.quick else "full"
    out_dir = args.out_dir or (Path(tempfile.gettempdir()) / "newsqa-bench-quick" if args.quick else ROOT / "docs")
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else (QUICK_SIZES if args.quick else FULL_SIZES)
    n_questions = args.questions or (30 if args.quick else 150)
    reps = args.reps or (1 if args.quick else 3)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    command = "python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    workdir = Path(tempfile.mkdtemp(prefix="newsqa-bench-"))
    profile_dir = str(PROFILE_DIR) if args.profile else None
    results: dict[str, Any] = {"mode": mode, "command": command.strip(), "machine": machine_info(),
                               "core": str(args.core.resolve()) if args.core else None,
                               "load_at_start": os.getloadavg(), "started_at": time.strftime("%Y-%m-%d %H:%M:%S %Z")}

    files = corpus_files([CMRC_ARTICLES, SAMPLE_ARTICLES]) if not args.quick else (
        corpus_files([CMRC_ARTICLES], limit=16) + corpus_files([SAMPLE_ARTICLES], limit=1))
    results["corpus_files"] = len(files)
    ours_store: str | None = None
    quality_jobs: list[tuple[str, str, dict[str, Any]]] = []
    if "ingest" not in skip:
        spec = {"files": [str(p) for p in files], "profile_dir": profile_dir}
        log(f"ingest: {len(files)} files, ours (floor, full, re-ingest)")
        results["ingest_ours"] = run_child("ingest-ours", {**spec, "work_dir": str(workdir / "ours")}, workdir)
        log("ingest: stock llama-index (full)")
        results["ingest_stock"] = run_child("ingest-stock", {**spec, "work_dir": str(workdir / "stock")}, workdir)
        for rep in range(2, reps + 1):  # interleaved repetitions; the best (lowest) time of each counts
            log(f"ingest: repetition {rep} of {reps} (ours floor + full ingest, then stock)")
            extra = {**spec, "rep_only": True, "profile_dir": None}
            for side, child in (("ingest_ours", "ingest-ours"), ("ingest_stock", "ingest-stock")):
                again = run_child(f"{child}@{rep}", {**extra, "work_dir": str(workdir / f"{child}-{rep}")}, workdir)
                if "error" not in results[side] and "error" not in again:
                    merge_rep(results[side], again)
        ours_store = results["ingest_ours"].get("store_dir")
        if "quality" not in skip:
            for side, name in (("ingest_ours", "ours"), ("ingest_stock", "stock")):
                if "error" not in results[side]:
                    quality_jobs.append((side, f"quality-{name}", {**spec, "work_dir": str(workdir / name)}))
    results["load_after_ingest"] = os.getloadavg()

    key: str | None = None
    size_keys: dict[int, str | None] = {}
    if "scale" not in skip:
        from scale_bench import base_key

        if ours_store is None:  # scale only: reuse the base material of the newest cached run
            bases = sorted(CACHE_DIR.glob("base-v*.pkl"), key=lambda p: p.stat().st_mtime)
            key = bases[-1].stem.split("-", 2)[2] if bases else None
        else:
            key = base_key(Path(ours_store))
        size_keys = {size: key if args.rebuild_scale else cached_key(size, key) for size in sizes}

    # Untimed work, two lanes at a time: the quality children and the scale-store builds.
    buildable = [size for size in size_keys if size_keys[size] is not None]
    built, quality = run_untimed(buildable, size_keys, ours_store, quality_jobs, workdir)
    for side, figures in quality.items():
        if "error" in figures:
            results[side]["quality_errors"] = {"all": figures["error"]}
        else:
            results[side].update({k: v for k, v in figures.items() if k != "child_wall_s"})
    results["quality_beside_builds"] = bool(quality) and any(not b.get("cached", True) for b in built.values())

    if "scale" not in skip:
        results["scale"] = []
        for size in sizes:
            size_key = size_keys[size]
            if size_key is None:
                results["scale"].append({"size": size, "error": "no base corpus (run the ingest phase once)"})
                continue
            build = {**built[size], "same_base_as_this_run": size_key == key}
            if "error" in build:
                results["scale"].append({"size": size, **build})
                continue
            build["query_export"] = run_child(f"scale-export@{size}", {"size": size, "key": size_key}, workdir)
            log(f"scale {size}: serving process, {n_questions} questions")
            served = run_child(f"scale-serve@{size}", {"size": size, "key": size_key, "questions": n_questions,
                                                      "profile_dir": profile_dir}, workdir)
            if "error" not in served:  # start to first answer: a process starting as `newsqa serve` does
                # Twice: right after the serving child, whose exact-search pass read every stored vector and so
                # pushed much of the store out of the page cache, then again as a restart finds it (warm).
                after = run_child(f"scale-start@{size}", {"size": size, "key": size_key}, workdir)
                start = run_child(f"scale-start@{size}", {"size": size, "key": size_key}, workdir)
                served["start"] = start
                served["start_after_serving_run"] = after
                served["start_with_model_first_s"] = served.get("start_to_first_answer_s")
                served["start_to_first_answer_s"] = start.get("start_to_first_answer_s")
                served["start_after_serving_run_s"] = after.get("start_to_first_answer_s")
            results["scale"].append({"size": size, **served, "build": build})
    results["load_after_scale"] = os.getloadavg()

    if "keyword" not in skip:
        results["keyword"] = run_keyword(sizes if args.quick else KEYWORD_SIZES)

    if "rest" not in skip:
        results["rest"] = run_rest(args.quick)
    if "embed" not in skip:
        results["embedding_backends"] = run_embed(args.quick, workdir)
    if "cold" not in skip:
        results["cold_ask"] = run_cold(args.quick, workdir)

    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        results["workdir"] = str(workdir)
    results["total_s"] = time.perf_counter() - started
    results["finished_at"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    results_path = out_dir / "results.json" if args.out_dir else CACHE_DIR / f"results-{mode}.json"
    write_json(results_path, results)

    from report import print_table, write_report

    write_report(results, out_dir)
    print_table(results)
    log(f"done in {results['total_s'] / 60:.1f} min; report in {out_dir}, raw figures in {results_path}")
    failed = [k for k in ("ingest_ours", "ingest_stock") if "error" in results.get(k, {})]
    failed += [f"scale {r['size']}" for r in results.get("scale", []) if "error" in r]
    if failed:
        log("failed phases: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
