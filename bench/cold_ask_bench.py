"""Cold start of ``newsqa ask``: wall time of a fresh process answering one question over the sample corpus.

    python bench/cold_ask_bench.py                    # copy data/articles to a temp data dir, ingest, 7 timed runs
    python bench/cold_ask_bench.py --runs 11 --json out.json
    python bench/cold_ask_bench.py --data-dir data    # an already ingested data dir (nothing is written but the
                                                      # keyword index, if it is missing)

Each run is ``python -m bot.cli ask --server local QUESTION`` (what the ``newsqa`` console script runs) in a new
interpreter: imports, settings, store opening, embedding model, keyword index, jieba's dictionary and the answer,
all of it. One run first warms the OS file cache (the figure is a cold *process*, not a cold disk); it is reported
apart as the first run, the first ask after the ingest. Wall seconds per run, their median (the goal: <= 3 s on
our 2-core machine), and the runs' user+system CPU seconds (from ``getrusage(RUSAGE_CHILDREN)``: a check against a
busy machine). Every run must print the same answer. ``PYTHONPATH=DIR`` measures the code in ``DIR`` instead.

``--breakdown`` adds one process that times the phases in itself: the CLI's imports, the core's
imports (llama-index, chromadb), the first answer (store, model, keyword index, jieba), then a second, warm answer.
The environment is offline (``HF_HUB_OFFLINE=1``): the default model falls back to the packaged
multilingual-e5-small@q4 as on a machine without the hub. This is a script, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_ARTICLES = ROOT / "data" / "articles"
QUESTION = "郏县建成了多少座5G基站？"
GOAL_S = 3.0

#: Run in the breakdown process: the phases of a cold ask, timed from inside (seconds, ``time.perf_counter``).
_BREAKDOWN = """
import json, sys, time
t0 = time.perf_counter()
import bot.cli as cli
t1 = time.perf_counter()
from bot.cli_answer import collector_paused
with collector_paused():
    from bot.service import build_service
    t2 = time.perf_counter()
    service = build_service(cli._settings())
    first = service.ask(sys.argv[1])
t3 = time.perf_counter()
service.ask(sys.argv[1])
t4 = time.perf_counter()
print(json.dumps({"cli_imports_s": t1 - t0, "core_imports_s": t2 - t1, "first_answer_s": t3 - t2,
                  "warm_answer_s": t4 - t3, "embedding_model": service.embedder.name}))
"""


def _env(data_dir: Path) -> dict[str, str]:
    """This checkout on the path (after a ``--core`` copy in ``PYTHONPATH``, see bench/run.py), offline, no stray
    ``NEWSQA_*`` settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSQA_")}
    env.update(NEWSQA_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               ANONYMIZED_TELEMETRY="False", TOKENIZERS_PARALLELISM="false")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)]))
    return env


def _ask(env: dict[str, str], question: str) -> tuple[float, float, str]:
    """``(wall s, user+system CPU s, stdout)`` of one cold ``newsqa ask``.

    It runs in the data dir: ``python -m`` puts the working directory first on ``sys.path``, so from the repository
    it would shadow a ``--core`` copy named by ``PYTHONPATH``, and the data dir has no ``.env`` to read.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bot.cli", "ask", "--server", "local", question],
                          cwd=env["NEWSQA_DATA_DIR"], env=env, capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"newsqa ask failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), proc.stdout


def _ingest(env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bot.cli", "ingest", "--json"], cwd=env["NEWSQA_DATA_DIR"],
                          env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"newsqa ingest failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return time.perf_counter() - started


def run(runs: int, question: str = QUESTION, data_dir: Path | None = None, breakdown: bool = False) -> dict[str, Any]:
    """Ingest the sample corpus (unless ``data_dir`` is given), then ``runs`` timed cold asks; see the docstring."""
    with tempfile.TemporaryDirectory(prefix="newsqa-cold-") as tmp:
        ingest_s = None
        if data_dir is None:
            data_dir = Path(tmp)
            shutil.copytree(SAMPLE_ARTICLES, data_dir / "articles")
            ingest_s = _ingest(_env(data_dir))
        env = _env(data_dir.resolve())
        load_before = os.getloadavg()[0]
        first_s, _, answer = _ask(env, question)  # not in the median: OS file cache (and what follows an ingest)
        walls, cpus = [], []
        for _ in range(runs):
            wall, cpu, out = _ask(env, question)
            if out != answer:
                raise SystemExit("newsqa ask printed another answer in a later run")
            walls.append(wall)
            cpus.append(cpu)
        result: dict[str, Any] = {
            "question": question, "runs": runs, "wall_s": [round(w, 3) for w in walls],
            "cpu_s": [round(c, 3) for c in cpus], "median_wall_s": round(statistics.median(walls), 3),
            "min_wall_s": round(min(walls), 3), "median_cpu_s": round(statistics.median(cpus), 3),
            "goal_s": GOAL_S, "met": statistics.median(walls) <= GOAL_S, "ingest_s": ingest_s,
            "first_run_s": round(first_s, 3),
            "load1_before": load_before, "load1_after": os.getloadavg()[0], "answer": answer.strip(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        }
        if breakdown:
            proc = subprocess.run([sys.executable, "-c", _BREAKDOWN, question], cwd=env["NEWSQA_DATA_DIR"],
                                  env=env, capture_output=True, text=True, timeout=300)
            result["breakdown"] = (json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0
                                   else {"error": proc.stderr[-2000:]})
    return result


def table(result: dict[str, Any]) -> str:
    """Markdown lines of :func:`run`'s figures."""
    lines = ["| runs | median wall s | fastest s | all runs s | median CPU s | first run s | goal | load before / after |",
             "|---|---|---|---|---|---|---|---|",
             f"| {result['runs']} | {result['median_wall_s']:.2f} | {result['min_wall_s']:.2f} | "
             f"{' / '.join(f'{w:.2f}' for w in result['wall_s'])} | {result['median_cpu_s']:.2f} | "
             f"{result['first_run_s']:.2f} | "
             f"<= {result['goal_s']:.0f} s: {'**met**' if result['met'] else '**missed**'} | "
             f"{result['load1_before']:.1f} / {result['load1_after']:.1f} |"]
    parts = result.get("breakdown")
    if parts and "error" not in parts:
        lines += ["", "| phase (one process) | s |", "|---|---|"]
        for key, label in (("cli_imports_s", "CLI imports (typer, rich, pydantic settings and models)"),
                           ("core_imports_s", "core imports (llama-index, chromadb)"),
                           ("first_answer_s", "first answer (store, embedding model, keyword index, jieba)"),
                           ("warm_answer_s", "second answer, same process")):
            lines.append(f"| {label} | {parts[key]:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed cold runs (after one untimed)")
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--data-dir", type=Path, default=None, help="an ingested data dir (default: ingest a copy "
                        "of data/articles into a temporary one)")
    parser.add_argument("--breakdown", action="store_true", help="also time the phases inside one process")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.runs, args.question, args.data_dir, args.breakdown)
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", "utf-8")
    print(table(result))


if __name__ == "__main__":
    main()
