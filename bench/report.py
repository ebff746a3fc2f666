"""Turns the results dict of ``bench/run.py`` into a console table, ``benchmarks.md`` and PNG plots."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

GOAL_INGEST_FLOOR = 1.3
GOAL_INGEST_STOCK = 1.0
GOAL_REINGEST = 0.05
GOAL_ASK_P95_MS = 100.0
GOAL_RSS_MIB = 2048.0
GOAL_SIZE = 100_000
NOTES = Path(__file__).resolve().parent / "NOTES.md"


def _f(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, int | float):
        return f"{value:,.{digits}f}"
    return str(value)


def _ratio(a: Any, b: Any) -> float | None:
    try:
        return float(a) / float(b) if b else None
    except (TypeError, ValueError):
        return None


def _runs(side: dict[str, Any], key: str) -> str:
    return " / ".join(f"{w:.1f}" for w in side.get(f"{key}_runs", [side.get(key, {}).get("wall_s", 0.0)]))


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per goal of issue 6: name, target, measured value (text), met (bool or None = not measured)."""
    ours = results.get("ingest_ours") or {}
    stock = results.get("ingest_stock") or {}
    rows: list[dict[str, Any]] = []
    full = (ours.get("full") or {}).get("wall_s")
    floor_ = (ours.get("floor") or {}).get("wall_s")
    r = _ratio(full, floor_)
    cpu_r = _ratio((ours.get("full") or {}).get("cpu_s"), (ours.get("floor") or {}).get("cpu_s"))
    rows.append({"goal": "full ingest / encode-only floor", "target": f"<= {GOAL_INGEST_FLOOR}",
                 "measured": f"{_f(r, 2)} (CPU time: {_f(cpu_r, 2)})",
                 "met": None if r is None else r <= GOAL_INGEST_FLOOR})
    r = _ratio(full, (stock.get("full") or {}).get("wall_s"))
    cpu_r = _ratio((ours.get("full") or {}).get("cpu_s"), (stock.get("full") or {}).get("cpu_s"))
    rows.append({"goal": "full ingest / stock llama-index ingest", "target": f"< {GOAL_INGEST_STOCK:g}",
                 "measured": f"{_f(r, 2)} (CPU time: {_f(cpu_r, 2)})",
                 "met": None if r is None else r < GOAL_INGEST_STOCK})
    re_ = ours.get("reingest") or {}
    r = _ratio(re_.get("wall_s"), full)
    embedded = re_.get("chunks_embedded")
    rows.append({"goal": "unchanged re-ingest / full ingest, 0 chunks embedded", "target": f"<= {GOAL_REINGEST}, 0",
                 "measured": f"{_f(r, 3)}, {embedded} embedded",
                 "met": None if r is None else (r <= GOAL_REINGEST and embedded == 0)})
    at_goal = [s for s in results.get("scale", []) if s.get("size") == GOAL_SIZE and "error" not in s]
    if at_goal:
        s = at_goal[0]
        p95 = s["ask_ms"]["p95"]
        rows.append({"goal": f"answer p95 at {GOAL_SIZE:,} chunks (model load excluded)",
                     "target": f"<= {GOAL_ASK_P95_MS:g} ms", "measured": f"{_f(p95)} ms",
                     "met": p95 <= GOAL_ASK_P95_MS})
        rss = s["peak_rss_mib"]
        rows.append({"goal": f"serving process peak RSS at {GOAL_SIZE:,} chunks", "target": "<= 2 GiB",
                     "measured": f"{_f(rss, 0)} MiB", "met": rss <= GOAL_RSS_MIB})
    else:
        rows.append({"goal": f"answer p95 at {GOAL_SIZE:,} chunks", "target": f"<= {GOAL_ASK_P95_MS:g} ms",
                     "measured": "not measured in this run", "met": None})
        rows.append({"goal": f"serving process peak RSS at {GOAL_SIZE:,} chunks", "target": "<= 2 GiB",
                     "measured": "not measured in this run", "met": None})
    cold = results.get("cold_ask") or {}
    if "median_wall_s" in cold:
        rows.append({"goal": "cold `newsqa ask`, sample corpus (median wall)", "target": f"<= {cold['goal_s']:g} s",
                     "measured": f"{_f(cold['median_wall_s'], 2)} s", "met": bool(cold["met"])})
    return rows


def _met(value: bool | None) -> str:
    return "n/a" if value is None else ("**met**" if value else "**missed**")


def _load(results: dict[str, Any]) -> str:
    parts = []
    for key, label in (("load_at_start", "start"), ("load_after_ingest", "after ingest"),
                       ("load_after_scale", "after scale runs")):
        if results.get(key):
            parts.append(f"{label} {results[key][0]:.2f}")
    return ", ".join(parts)


def markdown(results: dict[str, Any], plots: list[str]) -> str:
    m = results["machine"]
    ours = results.get("ingest_ours") or {}
    stock = results.get("ingest_stock") or {}
    lines: list[str] = ["# Benchmarks", ""]
    lines += [
        f"Produced by `{results['command']}` (`make bench`{' --quick' if results['mode'] == 'quick' else ''}) "
        f"on {results['started_at']}, {results['mode']} run, {_f(results['total_s'] / 60)} min in all. "
        "Every figure below comes from that one run; the raw figures are written to "
        "`/tmp/newsqa-bench-cache/results-<mode>.json` (or `results.json` in `--out-dir`).",
        "",
        "## Machine",
        "",
        "| | |", "|---|---|",
        f"| CPU | {m['cpu']}, {m['cores']} cores |",
        f"| memory | {m['memory_gib']} GiB |",
        f"| OS, Python | {m['os']}, Python {m['python']} |",
        f"| commit | {m['commit']} |" if not results.get("core") else
        f"| core measured | **patched copy in `{results['core']}`** (not the repository's rag/ and ingest/) |",
        f"| 1-minute load average | {_load(results)} (shared machine: other engineers' test suites ran too) |",
        "| versions | " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + " |",
        "| embedding model | sentence-transformers/all-MiniLM-L6-v2 (packaged, offline, CPU) on every side |",
        "",
        "## Goals",
        "",
        "| goal | target | measured | |", "|---|---|---|---|",
    ]
    for row in goals(results):
        lines.append(f"| {row['goal']} | {row['target']} | {row['measured']} | {_met(row['met'])} |")

    lines += ["", "## Ingest", ""]
    if "error" in ours or "error" in stock or not ours:
        lines.append(f"Ingest phase failed or skipped: {ours.get('error', '')} {stock.get('error', '')}")
    else:
        of, fl, re_, sf = ours["full"], ours["floor"], ours["reingest"], stock["full"]
        lines += [
            f"Corpus: {ours['files']} files (CMRC 2018 trial articles + sample pages"
            f"{', a subset' if results['mode'] == 'quick' else ''}). Model load ({_f(ours['model_load_s'])} s ours, "
            f"{_f(stock['model_load_s'])} s stock), jieba's dictionary ({_f(ours['jieba_init_s'], 2)} s) and "
            f"llama-index's tiktoken vocabulary ({_f(stock['tokenizer_init_s'], 2)} s) are loaded before timing on "
            "both sides and are excluded; both sides use the same loaded model object, and one warm-up encode runs "
            "before any timed section. CPU time is the process's user+system time over all threads: less "
            "sensitive to other load on the machine than wall time. "
            + (f"Each timed section ran {len(ours.get('full_runs', [1]))} times, interleaved (ours, stock, ours, "
               "stock, each in a fresh process and a fresh store); the table shows the fastest run (wall times of "
               f"all runs: floor {_runs(ours, 'floor')}, ours {_runs(ours, 'full')}, stock {_runs(stock, 'full')} s)."
               if ours.get("full_runs") else ""),
            "",
            "| | files | chunks | chunks embedded | word pieces encoded | wall s | CPU s | chunks/s | peak RSS MiB | "
            "vs full ingest |",
            "|---|---|---|---|---|---|---|---|---|---|",
            f"| ours: full ingest | {ours['files']} | {of['chunks_added']} | {of['chunks_embedded']} | "
            f"{_f(ours.get('encoder_tokens'), 0)} | "
            f"{_f(of['wall_s'])} | {_f(of['cpu_s'])} | {_f(of['chunks_per_s'], 2)} | {_f(of['peak_rss_mib'], 0)} | 1 |",
            f"| encode-only floor (same {ours['embed_texts']} texts, one batched call) | | {ours['embed_texts']} | "
            f"{ours['embed_texts']} | {_f(ours.get('encoder_tokens'), 0)} | {_f(fl['wall_s'])} | {_f(fl['cpu_s'])} | "
            f"{_f(ours['embed_texts'] / fl['wall_s'] if fl['wall_s'] else None, 2)} | | "
            f"{_f(_ratio(fl['wall_s'], of['wall_s']), 2)} |",
            f"| stock llama-index ingest | {stock['files']} | {sf['chunks']} | {stock.get('embed_texts', sf['chunks'])} | "
            f"{_f(stock.get('encoder_tokens'), 0)} | {_f(sf['wall_s'])} | "
            f"{_f(sf['cpu_s'])} | {_f(sf['chunks_per_s'], 2)} | {_f(sf['peak_rss_mib'], 0)} | "
            f"{_f(_ratio(sf['wall_s'], of['wall_s']), 2)} |",
            f"| ours: re-ingest, unchanged corpus | {ours['files']} | {re_['chunks_added']} | "
            f"{re_['chunks_embedded']} | 0 | {_f(re_['wall_s'], 2)} | {_f(re_['cpu_s'], 2)} | | | "
            f"{_f(_ratio(re_['wall_s'], of['wall_s']), 3)} |",
            "",
            f"Mean chunk length: ours {_f(ours['embed_chars_mean'], 0)} characters embedded (title + chunk), stock "
            f"{_f(stock.get('chunk_chars_mean'), 0)} characters (SentenceSplitter, 1024 tokens; it embeds "
            f"{_f(stock.get('embed_chars_mean'), 0)} characters per chunk with its `file_path` metadata line). "
            "all-MiniLM-L6-v2 reads at most 256 word pieces, so both sides' chunks are truncated for embedding; "
            "*word pieces encoded* counts what the model really processes (the encoding work; at most "
            f"{ours.get('max_seq_length', 256)} per chunk on our side, {stock.get('max_seq_length', 256)} on the "
            "stock side). "
            f"Cleaning, segmentation, chunking and jieba alone (untimed preparation of the floor's texts) took "
            f"{_f(ours['prep_s'])} s. The re-ingest ran in a fresh service without a loaded model "
            f"(model loaded: {re_.get('model_loaded')}).",
        ]
        if "ingest_ours" in results and (ours.get("full") or {}).get("failures"):
            lines.append(f"Failures: {ours['full']['failures']}")

    lines += ["", "## Query latency and memory against corpus size", ""]
    scale = [s for s in results.get("scale", []) if "error" not in s]
    if scale:
        lines += [
            "Synthetic stores recombined from the real chunks (see `bench/scale_bench.py`), written in the "
            "core's store format; the measured path is the real `NewsQA.retrieve(q, 5)` (hybrid dense + BM25, "
            "weighted RRF, evidence rerank) and `NewsQA.ask(q)` (the same plus the extractive answer), beside "
            "`VectorStoreIndex.from_vector_store(ChromaVectorStore(<same collection>)).as_retriever("
            "similarity_top_k=5)`. Each size runs in its own serving process: model load, store opening and the "
            "BM25 index build happen before the timed questions (the build is reported as *index build*), then "
            f"3 warm-up questions, then {scale[0]['questions']} real questions (CMRC 2018 trial + seeds_dev), "
            "each retrieved then asked. Peak RSS is the serving process's `ru_maxrss` after our questions.",
            "",
            "| chunks | index build s | ours retrieve p50 / p95 ms | ours answer p50 / p95 ms | stock retrieve p50 / "
            "p95 ms | answer p95 / stock p95 | RSS after model MiB | RSS after index MiB | peak RSS MiB |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for s in scale:
            lines.append(
                f"| {s['chunks']:,} | {_f(s['index_build']['wall_s'], 2)} | {_f(s['retrieve_ms']['p50'])} / "
                f"{_f(s['retrieve_ms']['p95'])} | {_f(s['ask_ms']['p50'])} / {_f(s['ask_ms']['p95'])} | "
                f"{_f(s['stock_retrieve_ms']['p50'])} / {_f(s['stock_retrieve_ms']['p95'])} | "
                f"{_f(_ratio(s['ask_ms']['p95'], s['stock_retrieve_ms']['p95']), 1)} | "
                f"{_f(s['rss_after_model_mib'], 0)} | {_f(s['rss_after_index_mib'], 0)} | {_f(s['peak_rss_mib'], 0)} |"
            )
        built = [s["build"] for s in scale if s.get("build")]
        lines += ["", "Store build (not part of any goal): " + "; ".join(
            f"{b['size']:,} chunks {_f(b['build_s'])} s" + (" (cached from an earlier run)" if b.get("cached") else "")
            + ("" if b.get("same_base_as_this_run", True) else ", built from an earlier version of the corpus chunks")
            for b in built) + ". Cached stores live in `/tmp/newsqa-bench-cache/` (delete it to rebuild)."]
        lines += archive_tables(scale)
    lines += keyword_tables(results.get("keyword") or [])
    for s in results.get("scale", []):
        if "error" in s:
            lines.append(f"\nScale {s['size']}: {s['error']}")
    for plot in plots:
        lines += ["", f"![{plot}]({plot})"]

    lines += ["", "## Answer quality", ""]
    if ours.get("quality") and stock.get("quality"):
        lines += [
            "Both systems over the same store contents (the ingested corpus above, so each question set also sees "
            "the other set's files as distractors), same embedding model, top 5 chunks. *source hit@k* / *MRR*: "
            "rank of the gold file among the distinct files of the top 5 chunks; *answer in top-5 chunks*: a gold "
            "answer occurs in one of the 5 chunk texts (normalised); *answer contains gold*: our extractive "
            "answer contains it (the stock pipeline has no answer without an LLM). Answerable questions only.",
            "",
            "| set | system | questions (answerable) | source hit@1 | hit@5 | MRR | answer in top-5 chunks | "
            "answer contains gold | latency p50 / p95 ms |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name in ours["quality"]:
            q, sq = ours["quality"][name], stock["quality"].get(name, {})
            lines.append(
                f"| {name} | ours (`evaluate`) | {q['questions']} ({q['answerable']}) | {_f(q['hit_at_1'], 3)} | "
                f"{_f(q['hit_at_5'], 3)} | {_f(q['mrr'], 3)} | {_f(q['answer_in_top_chunks'], 3)} | "
                f"{_f(q['answer_contains_gold'], 3)} | {_f(q['latency_p50_ms'])} / {_f(q['latency_p95_ms'])} |")
            if sq:
                lines.append(
                    f"| {name} | stock llama-index | {sq['questions']} ({sq['answerable']}) | {_f(sq['hit_at_1'], 3)} | "
                    f"{_f(sq['hit_at_5'], 3)} | {_f(sq['mrr'], 3)} | {_f(sq['answer_in_top_chunks'], 3)} | n/a | "
                    f"{_f(sq['latency_p50_ms'])} / {_f(sq['latency_p95_ms'])} |")
        if results.get("quality_beside_builds"):
            lines += ["", "In this run the quality children ran beside the scale-store builds (one core each), so the "
                      "latency columns of this table are indicative only; the scale section measures latency alone."]
        lines += ["", f"Mean chunk length: ours {_f(ours.get('embed_chars_mean'), 0)} characters with the title, "
                  f"stock {_f(stock.get('chunk_chars_mean'), 0)}: a longer chunk holds the answer more often, so "
                  "*answer in top-5 chunks* favours the stock pipeline's larger chunks."]
    else:
        lines.append("Quality phase failed or skipped.")

    lines += ["", "## REST", ""]
    rest = results.get("rest")
    if not rest:
        lines.append("`bench/bench_rest.py` was not present in this run; REST figures are not included.")
    else:
        lines.append(f"From `{rest['command']}` (another engineer's script, run as a subprocess; exit status "
                     f"{rest.get('returncode')}): `POST /v1/ask` over HTTP on 127.0.0.1 against the sample corpus, "
                     "one uvicorn worker, client-side latency.")
        if rest.get("rows"):
            lines += ["", "| concurrent clients | requests | errors | requests/s | p50 ms | p95 ms |",
                      "|---|---|---|---|---|---|"]
            for c, n, e, rps, p50, p95 in rest["rows"]:
                lines.append(f"| {c:.0f} | {n:.0f} | {e:.0f} | {rps:.1f} | {p50:.1f} | {p95:.1f} |")
        else:
            tail = (rest.get("stdout") or "") + (rest.get("stderr") or "") or rest.get("error", "")
            lines += ["", "```text", tail.strip()[-3000:], "```"]

    embed = results.get("embedding_backends")
    if embed:
        lines += ["", "## Embedding backends", ""]
        if "error" in embed:
            lines.append(f"`bench/embed_bench.py` failed: {embed['error']}")
        else:
            from embed_bench import table

            lines += [f"From `{embed['command']}`: ingest encoding (chunks/s) and query embedding latency per "
                      "backend, as ratios against sentence-transformers all-MiniLM-L6-v2 in the same run.", "",
                      table(embed)]

    cold = results.get("cold_ask")
    if cold:
        lines += ["", "## Cold start: `newsqa ask`", ""]
        if "error" in cold:
            lines.append(f"`bench/cold_ask_bench.py` failed: {cold['error']}")
        else:
            from cold_ask_bench import table as cold_table

            lines += [f"From `{cold['command']}`: wall seconds of `newsqa ask --server local \"{cold['question']}\"` "
                      "in a fresh interpreter each run (imports, store, model, keyword index, jieba, answer) over "
                      "the sample corpus, ingested first; warm OS file cache (see bench/NOTES.md, section 9).", "",
                      cold_table(cold)]

    if NOTES.exists():  # linked, not copied: this page states where things stand, the notes how they got there
        lines += ["", "What costs what, and the changes each measurement led to: "
                  "[`bench/NOTES.md`](../bench/NOTES.md)."]
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], out_dir: Path) -> list[str]:
    """Write the PNGs; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names: list[str] = []
    scale = sorted([s for s in results.get("scale", []) if "error" not in s], key=lambda s: s["chunks"])
    if scale:
        x = [s["chunks"] for s in scale]
        fig, ax = plt.subplots(figsize=(7.5, 4.5))
        series = [("ask_ms", "ours: answer (retrieve + extract)", "tab:red"),
                  ("retrieve_ms", "ours: hybrid retrieve + rerank", "tab:orange"),
                  ("stock_retrieve_ms", "stock llama-index retriever", "tab:blue")]
        for key, label, color in series:
            ax.plot(x, [s[key]["p95"] for s in scale], "-o", color=color, label=f"{label}, p95")
            ax.plot(x, [s[key]["p50"] for s in scale], "--", marker=".", color=color, alpha=0.7,
                    label=f"{label}, p50")
        ax.axhline(GOAL_ASK_P95_MS, color="gray", linestyle=":", label="goal: answer p95 <= 100 ms at 100k")
        ax.set_xscale("log")
        top = max(max(s[key]["p95"] for s in scale) for key, _, _ in series)
        ax.set_ylim(0, max(GOAL_ASK_P95_MS, top) * 1.45)
        ax.set_xlabel("chunks in the store")
        ax.set_ylabel("latency per question, ms")
        ax.set_title("Query latency against corpus size (all-MiniLM-L6-v2, 2 CPU cores)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", ncol=2)
        fig.tight_layout()
        fig.savefig(out_dir / "bench_latency.png", dpi=110)
        plt.close(fig)
        names.append("bench_latency.png")

        fig, ax = plt.subplots(figsize=(7.5, 4))
        ax.plot(x, [s["peak_rss_mib"] for s in scale], "-o", color="tab:red", label="serving process, peak RSS")
        ax.plot(x, [s["rss_after_index_mib"] for s in scale], "--.", color="tab:orange",
                label="after model load + BM25 index build")
        ax.plot(x, [s["rss_after_model_mib"] for s in scale], ":.", color="tab:green", label="after model load")
        ax.axhline(GOAL_RSS_MIB, color="gray", linestyle=":", label="goal: 2 GiB at 100k")
        ax.set_xscale("log")
        ax.set_xlabel("chunks in the store")
        ax.set_ylabel("MiB")
        ax.set_title("Memory of a serving process against corpus size")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / "bench_memory.png", dpi=110)
        plt.close(fig)
        names.append("bench_memory.png")

    ours, stock = results.get("ingest_ours") or {}, results.get("ingest_stock") or {}
    if ours.get("full") and stock.get("full"):
        labels = ["encode-only floor", "ours: full ingest", "stock llama-index", "ours: re-ingest\n(unchanged)"]
        wall = [ours["floor"]["wall_s"], ours["full"]["wall_s"], stock["full"]["wall_s"], ours["reingest"]["wall_s"]]
        cpu = [ours["floor"]["cpu_s"], ours["full"]["cpu_s"], stock["full"]["cpu_s"], ours["reingest"]["cpu_s"]]
        fig, ax = plt.subplots(figsize=(7.5, 4))
        pos = range(len(labels))
        ax.bar([p - 0.2 for p in pos], wall, width=0.4, label="wall s", color="tab:red")
        ax.bar([p + 0.2 for p in pos], cpu, width=0.4, label="CPU s (all threads)", color="tab:gray")
        for p, w in zip(pos, wall, strict=True):
            ax.annotate(f"{w:.1f}", (p - 0.2, w), ha="center", va="bottom", fontsize=8)
        ax.set_xticks(list(pos), labels, fontsize=8)
        ax.set_ylabel("seconds")
        ax.set_title(f"Ingest of {ours['files']} files ({ours['full']['chunks_added']} of our chunks), model load excluded")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / "bench_ingest.png", dpi=110)
        plt.close(fig)
        names.append("bench_ingest.png")
    return names


def archive_tables(scale: list[dict[str, Any]]) -> list[str]:
    """Start, keyword refresh and Chroma HNSW figures of the serving processes (issue 15)."""
    rows = [s for s in scale if s.get("keyword_refresh")]
    if not rows:
        return []
    lines = ["", "Per serving process, after the questions: *start to first answer* is the wall time from process "
             "start (imports, model, store, keyword index opened from disk, first question) of a process started "
             "as `newsqa serve` is, on a warm page cache (in brackets: the same right after the serving child, "
             "whose exact-search pass read every stored vector); *RSS anon / file* splits the serving process's "
             "resident memory after its questions into anonymous memory and clean file-backed pages (memory-mapped "
             "postings, libraries, weights: the kernel drops and re-reads those under pressure); *refresh* is the "
             "keyword index catching up after another store client added 2,000 chunks (copies of stored records) "
             "and committed a version, then after it removed them again (`LiveKeywordIndex.refresh_now`, what the "
             "background refresh runs; wall, CPU in brackets); the Chroma columns are that client's writes. Dense: "
             "50 questions, Chroma top-20 query alone, and recall@20 of HNSW against exact cosine search over every "
             "stored vector.", "",
             "| chunks | warm-up s | start to first answer s | RSS anon / file MiB | refresh +2,000 s | "
             "refresh -2,000 s | Chroma add 2,000 s | Chroma delete 2,000 s | dense top-20 p50 / p95 ms | "
             "recall@20 (min) | HNSW |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in rows:
        r, d = s["keyword_refresh"], s.get("dense") or {}
        h = d.get("hnsw") or {}
        parts = s.get("rss_parts_mib") or {}
        after = s.get("start_after_serving_run_s")
        lines.append(
            f"| {s['chunks']:,} | {_f(s['index_build']['wall_s'], 2)} | {_f(s.get('start_to_first_answer_s'))}"
            f"{f' ({_f(after)})' if after is not None else ''} | {_f(parts.get('anon'), 0)} / "
            f"{_f(parts.get('file'), 0)} | "
            f"{_f(r['add_refresh_s'], 2)} ({_f(r['add_refresh_cpu_s'], 2)}) | {_f(r['remove_refresh_s'], 2)} "
            f"({_f(r['remove_refresh_cpu_s'], 2)}) | {_f(r['chroma_add_s'], 1)} | {_f(r['chroma_remove_s'], 1)} | "
            f"{_f(d['query_ms']['p50'])} / {_f(d['query_ms']['p95'])} | {_f(d['recall_at_20'], 3)} "
            f"({_f(d['recall_min'], 2)}) | M {h.get('max_neighbors')}, ef_search {h.get('ef_search')}, "
            f"ef_construction {h.get('ef_construction')} |")
    return lines


def keyword_tables(rows: list[dict[str, Any]]) -> list[str]:
    """The keyword index alone from 1k to 1M chunks (``bench/keyword_bench.py``)."""
    rows = [r for r in rows if "serve" in r and "error" not in r["serve"] and "build" in r]
    if not rows:
        return []
    lines = ["", "## Keyword index alone, 1k to 1M chunks", "",
             "From `bench/keyword_bench.py` (see its docstring): synthetic chunk tokens recombined from the real "
             "chunks' jieba tokens, no Chroma, no model. *open* is a fresh process loading the persisted index "
             "(ids and vocabulary read, postings memory-mapped); *query* is the keyword leg's top-20; *+2,000* / "
             "*-2,000* is `catch_up` plus persisting (wall, CPU in brackets); bm25s is the in-memory index the core "
             "used before, built over the same chunks.", "",
             "| chunks | postings | disk MiB | build s (CPU) | open s | RSS after open / queries MiB | query p50 / "
             "p95 ms | +2,000 s (CPU) | -2,000 s (CPU) | bm25s build s | bm25s index MiB | bm25s p50 / p95 ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b, v, o = r["build"], r["serve"], r.get("bm25s") or {}
        bm = (f"{_f(o['build_s'], 1)} | {_f(o['rss_index_mib'], 0)} | {_f(o['query_ms']['p50'])} / "
              f"{_f(o['query_ms']['p95'])}") if "build_s" in o else "not run | | "
        lines.append(
            f"| {r['size']:,} | {b['postings']:,} | {_f(b['disk_mib'], 0)} | {_f(b['build_s'], 1)} "
            f"({_f(b.get('build_cpu_s'), 1)}) | {_f(v['open_s'], 2)} | {_f(v['rss_after_open_mib'], 0)} / "
            f"{_f(v['rss_after_queries_mib'], 0)} | {_f(v['query_ms']['p50'])} / {_f(v['query_ms']['p95'])} | "
            f"{_f(v['add_2000_s'], 2)} ({_f(v['add_2000_cpu_s'], 2)}) | {_f(v['remove_2000_s'], 2)} "
            f"({_f(v['remove_2000_cpu_s'], 2)}) | {bm} |")
    return lines


def write_report(results: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    names = plot(results, out_dir)
    (out_dir / "benchmarks.md").write_text(markdown(results, names), encoding="utf-8")


def print_table(results: dict[str, Any]) -> None:
    """The goals and the headline figures on stdout."""
    print(f"\nnewsqa benchmarks ({results['mode']} run, {results['total_s'] / 60:.1f} min)")
    print(f"{'goal':58} {'target':>16} {'measured':>30}  result")
    for row in goals(results):
        print(f"{row['goal']:58} {row['target']:>16} {row['measured']:>30}  "
              f"{'n/a' if row['met'] is None else 'met' if row['met'] else 'MISSED'}")
    scale = [s for s in results.get("scale", []) if "error" not in s]
    if scale:
        print(f"\n{'chunks':>8} {'build s':>8} {'retrieve p50/p95':>18} {'answer p50/p95':>16} "
              f"{'stock p50/p95':>15} {'peak RSS MiB':>13}")
        for s in scale:
            print(f"{s['chunks']:>8,} {s['index_build']['wall_s']:>8.2f} "
                  f"{s['retrieve_ms']['p50']:>8.1f}/{s['retrieve_ms']['p95']:<8.1f} "
                  f"{s['ask_ms']['p50']:>7.1f}/{s['ask_ms']['p95']:<8.1f} "
                  f"{s['stock_retrieve_ms']['p50']:>6.1f}/{s['stock_retrieve_ms']['p95']:<8.1f} "
                  f"{s['peak_rss_mib']:>12.0f}")
    ours, stock = results.get("ingest_ours") or {}, results.get("ingest_stock") or {}
    for name, q in (ours.get("quality") or {}).items():
        sq = (stock.get("quality") or {}).get(name, {})
        print(f"{name:16} hit@1 ours {q['hit_at_1']:.3f} stock {sq.get('hit_at_1', float('nan')):.3f}   "
              f"answer in top-5 chunks ours {q['answer_in_top_chunks']:.3f} "
              f"stock {sq.get('answer_in_top_chunks', float('nan')):.3f}   "
              f"our answer contains gold {q['answer_contains_gold']:.3f}")
