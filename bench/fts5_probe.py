"""SQLite FTS5 over the same synthetic chunk tokens as ``bench/keyword_bench.py``: build and query cost.

    .venv/bin/python bench/fts5_probe.py [--size 100000]

One of the mechanisms issue 15 names for the incremental keyword index. Tokens are stored space-joined (the
``unicode61`` tokenizer then splits on the spaces only; jieba tokens hold no spaces); each question is an ``OR``
of its distinct tokens, ranked by FTS5's ``bm25()``, top 20. FTS5's BM25 is not bm25s's (its IDF differs and it
cannot be changed), so its ranking would not equal today's; this probe only measures its cost.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import offline_env, percentiles  # noqa: E402
from keyword_bench import _base, synthetic_docs  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    args = parser.parse_args()
    offline_env()
    from scale_bench import questions

    from rag.text.normalize import tokenize

    qs = [sorted(set(tokenize(q))) for q in questions(150)]
    base = _base()
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(Path(tmp) / "fts.db")
        db.execute("CREATE VIRTUAL TABLE chunks USING fts5(id UNINDEXED, tokens, tokenize='unicode61')")
        t0 = time.perf_counter()
        for start in range(0, args.size, 50_000):
            docs = synthetic_docs(base, start, min(50_000, args.size - start), seed=args.size)
            db.executemany("INSERT INTO chunks VALUES (?, ?)", ((i, " ".join(t)) for i, t, _m in docs))
        db.commit()
        build_s = time.perf_counter() - t0
        added = synthetic_docs(base, args.size, 2000, seed=args.size + 1)
        t0 = time.perf_counter()
        db.executemany("INSERT INTO chunks VALUES (?, ?)", ((i, " ".join(t)) for i, t, _m in added))
        db.commit()
        add_s = time.perf_counter() - t0
        ms = []
        for toks in qs:
            match = " OR ".join('"' + t.replace('"', '""') + '"' for t in toks)
            t0 = time.perf_counter()
            if toks:
                db.execute("SELECT id FROM chunks WHERE chunks MATCH ? ORDER BY bm25(chunks) LIMIT 20",
                           (match,)).fetchall()
            ms.append(1000 * (time.perf_counter() - t0))
        size_mib = (Path(tmp) / "fts.db").stat().st_size / 2**20
    print({"size": args.size, "build_s": round(build_s, 1), "add_2000_s": round(add_s, 2), "disk_mib": round(size_mib),
           "query_ms": {k: round(v, 1) for k, v in percentiles(ms).items()}})


if __name__ == "__main__":
    main()
