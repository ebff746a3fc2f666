"""Ablation of the time rules on a dated archive built from a *training* set (a benchmark, not CI).

:func:`rag.eval_dated.build_dated_corpus` prints up to ``--facts`` of crud_train's reports twice (2019 and 2022,
the figures changed) beside the rest of crud_train's reports; each fact is asked four ways (``2019年，q``,
``2022年，q``, ``据最新报道，q``, ``q``). The archive is ingested with the hashed-bigram embedder of
:mod:`bot.train` and every question answered extractively with each time family of :mod:`bench.ablate_rules` on,
then off. ``right``: the expected copy's figure, not the other's, first citation that copy
(:func:`rag.eval_dated.score_dated`); 95 % intervals by question (:mod:`rag.eval_stats`).

    PYTHONPATH=$PWD .venv/bin/python bench/ablate_dated.py --facts 30 --out /tmp/ablate-dated.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # bench/ is not a package: its scripts import each other by file name

from ablate_rules import family_off  # noqa: E402

from bot.train import HashedBigramEmbedder  # noqa: E402
from rag.eval_dated import build_dated_corpus, score_dated  # noqa: E402
from rag.eval_stats import compare, percentile_interval  # noqa: E402
from rag.evaluation import _contains, load_qa  # noqa: E402
from rag.settings import Settings  # noqa: E402

FAMILIES = ("baseline", "time_scope", "timeline", "in_scope_answer")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=30)
    parser.add_argument("--work", type=Path, default=Path("/tmp/newsqa-ablate-dated"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated, baseline first")
    args = parser.parse_args(argv)
    families = tuple(args.families.split(","))
    from bot.service import build_service

    train = (ROOT / ".." / "shared" / "train" / "crud_train").resolve()
    items = build_dated_corpus(load_qa(train / "qa.jsonl"), train / "articles", args.work, args.facts)
    service = build_service(Settings(data_dir=args.work), embedder=HashedBigramEmbedder())  # type: ignore[call-arg]
    service.ingest()
    rows: dict[str, list[dict]] = {f: [] for f in families}
    for item in items:
        for family in families:
            with family_off(family):
                answer, _ = service.answer_with_nodes(item.q)
            first = answer.citations[0] if answer.found and answer.citations else None
            files = {first.source, *(c.source for c in first.also)} if first else set()
            kind, _, other = item.tag.partition("|")
            has = answer.found and _contains(answer.answer, item.a)
            bad = answer.found and _contains(answer.answer, other.split("||"))
            rows[family].append({"q": item.q, "kind": kind, "answer": answer.answer, "found": answer.found,
                                 "first_source": bool(files & set(item.src)),
                                 "right": float(has and not bad and bool(files & set(item.src)))})
    with args.out.open("w", encoding="utf-8") as fh:
        for family, rs in rows.items():
            for r in rs:
                fh.write(json.dumps({"family": family, **r}, ensure_ascii=False) + "\n")
    summary: dict[str, object] = {}
    for family in families:
        scored = score_dated(rows[family], items)
        right = [r["right"] for r in rows[family]]
        entry: dict[str, object] = {"by_kind": scored, "right": (sum(right) / len(right), *percentile_interval(right))}
        if family != "baseline":
            diff = compare(rows["baseline"], rows[family], {"right": lambda r: r["right"]})
            entry["diff"] = diff[0].as_dict()
        summary[family] = entry
    args.out.with_suffix(".summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1), "utf-8")
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    service.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
