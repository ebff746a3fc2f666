"""Ablation of the hand rules left around the answer selector, end to end on the training sets (a benchmark, not CI).

For each question of a training set (``../shared/train``, :func:`rag.train_data.load_questions`) over a *copy* of
its cached store (``/work/cache/scorer/<set>/store``, built by ``make train`` with the hashed-bigram embedder of
:mod:`bot.train`): retrieve as the service does, answer extractively, and answer again with the question's
sources removed (simulated as :mod:`rag.train_data` does: retrieval :data:`rag.train_data.POOL` deep, the gold
files' chunks and their stories' printings dropped before ``top_k`` are kept). Then the same with each rule
family switched off in turn (by patching this process's modules; the product has no switch for them).

Per question and variant a row: ``contains`` (found and a gold answer in the answer text), ``wrong`` (found, no
gold answer), ``refused``; for the removed variant ``refused``. Figures carry 95 % cluster-bootstrap intervals
(:mod:`rag.eval_stats`, groups = the question's ``item`` / paragraph) and each family's paired difference
against the baseline.

    PYTHONPATH=$PWD .venv/bin/python bench/ablate_rules.py crud --out /tmp/ablate-crud.jsonl
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.train import HashedBigramEmbedder  # noqa: E402
from rag.eval_fabrication import src_files  # noqa: E402
from rag.eval_stats import compare, percentile_interval  # noqa: E402
from rag.evaluation import _MARKER, _contains  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.train_data import POOL, _gold_stories, _is_source, default_sets, load_questions  # noqa: E402

#: make train's cache (TRAIN_CACHE): the training stores built with the hashed-bigram embedder.
CACHE = (ROOT / ".." / "cache" / "scorer").resolve()


def _identity_rerank(nodes, query_str=None):  # noqa: ANN001, ANN202 - llama-index nodes
    return nodes


@contextlib.contextmanager
def family_off(name: str) -> Iterator[None]:
    """Switch one rule family off in this process (see FAMILIES)."""
    import rag.answering.extractive as ex
    import rag.service as svc

    saved: list[tuple[object, str, object]] = []

    def patch(obj: object, attr: str, value: object) -> None:
        raw = vars(obj).get(attr) if isinstance(obj, type) else None  # keeps a staticmethod wrapper
        saved.append((obj, attr, raw if raw is not None else getattr(obj, attr)))
        setattr(obj, attr, value)

    if name == "rerank":  # evidence reranker: keep the fused order
        class Passthrough:
            def __init__(self, top_n: int, **_: object) -> None:
                self.top_n = top_n

            def postprocess_nodes(self, nodes, query_str=None):  # noqa: ANN001, ANN201
                return nodes[: self.top_n]
        patch(svc, "EvidenceReranker", Passthrough)
    elif name == "time_scope":  # no time expression read from the question at all
        from rag.text.time_expr import TimeScope
        patch(svc.NewsQA, "time_scope", lambda self, q: TimeScope())
    elif name == "timeline":  # newest / in-scope report choice and its date prefix
        patch(ex, "newest_answer", lambda q, best, ranked, latest, floor: (best, False))
        patch(ex, "in_scope_answer", lambda q, best, *a: best)
        patch(ex, "dated_prefix", lambda cand: "")
    elif name == "in_scope_answer":  # a dated question: the in-range report when it answers about as well
        patch(ex, "in_scope_answer", lambda q, best, *a: best)
    elif name == "same_passage":  # next answering candidate of the same passage
        patch(ex.ExtractiveAnswerer, "_same_passage", lambda self, best, ranked, chosen: [])
    elif name == "neighbours":  # the sentence before / after the best (restored after the full DRCD run)
        patch(ex.ExtractiveAnswerer, "_neighbours", lambda self, best: [])
    elif name != "baseline":
        raise ValueError(f"family: unknown {name!r}")
    try:
        yield
    finally:
        for obj, attr, value in reversed(saved):
            setattr(obj, attr, value)


RETRIEVAL = ("rerank", "time_scope")
#: The families still in the product. Deleted after this benchmark (docs/ablation-rules.md has their figures):
#: window (clauses around the best one), spell_date, alternatives, in_scope_rank (chunks printed in the question's
#: range x1.2). The neighbours were deleted after a 301-question DRCD sample and restored after the whole set.
FAMILIES = ("baseline", *RETRIEVAL, "timeline", "same_passage", "neighbours")


def open_service(name: str, work: Path, cache: Path = CACHE):  # noqa: ANN201 - NewsQA
    """A service over a fresh copy of the cached store of training set ``name`` (the cache is never written)."""
    from bot.service import build_service

    data_dir = work / name
    if not (data_dir / "store").exists():
        shutil.copytree(cache / name / "store", data_dir / "store", symlinks=True)
        (data_dir / "articles").mkdir(parents=True, exist_ok=True)
    return build_service(Settings(data_dir=data_dir), embedder=HashedBigramEmbedder())  # type: ignore[call-arg]


def run_question(service, row: dict, stories: dict[str, str], families: tuple[str, ...] = FAMILIES,  # noqa: ANN001
                 removed: bool = True) -> dict[str, dict[str, object]]:
    """Per family: the answerable (and, when ``removed``, the sources-removed) outcomes of one training question;
    ``chars``: the answer's length without its citation markers."""
    golds = [str(a) for a in row.get("a") or [] if str(a).strip()]
    files = set(src_files(row.get("src")))
    gold_stories = {stories[f] for f in files if f in stories}
    top_k = service.settings.top_k
    out: dict[str, dict[str, object]] = {}
    pools: dict[str, tuple[list, object, str]] = {}
    for family in families:
        key = family if family in RETRIEVAL else "baseline"
        with family_off(family):
            if key not in pools:
                flt, scope = service.scoped(str(row["q"]), None)
                query = scope.query or str(row["q"])
                pools[key] = (service.retrieve(query, max(POOL, top_k), flt), scope, query)
            pool, scope, query = pools[key]
            answer = service.extractive_answer(query, pool[:top_k], scope)
            rec: dict[str, object] = {"found": answer.found, "confidence": answer.confidence,
                                      "answer": answer.answer}
            if answer.found:
                rec["chars"] = len(_MARKER.sub("", answer.answer))
            if golds:
                ok = answer.found and _contains(answer.answer, golds)
                rec.update(contains=ok, wrong=answer.found and not ok, refused=not answer.found)
                if files and removed:
                    others = [h for h in pool if not _is_source(h, files, gold_stories)][:top_k]
                    rec["removed_refused"] = not service.extractive_answer(query, others, scope).found
            else:
                rec["weak_refused"] = not answer.found
        out[family] = rec
    return out


def _figure(name: str) -> Callable[[Mapping[str, Any]], float | None]:
    """The metric reading figure ``name`` of a row (``None`` where the row lacks it)."""
    return lambda row: row.get(name)


def resume_rows(out: Path, families: tuple[str, ...]) -> list[dict]:
    """The finished rows of an earlier run into ``out``, to resume it.

    A last line cut short by a killed run is dropped (and the file rewritten without it). Raises ``SystemExit``
    naming ``out`` when its rows were made with other families, since mixing them would corrupt the baseline.
    """
    if not out.exists():
        return []
    lines = out.read_text("utf-8").splitlines()
    rows = []
    for n, line in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if n != len(lines) - 1:
                raise SystemExit(f"{out}: line {n + 1} is not JSON; move the file away or pass --fresh") from None
            out.write_text("".join(x + "\n" for x in lines[:-1]), "utf-8")
    for row in rows:
        if tuple(k for k in row if k not in ("q", "group")) != families:
            raise SystemExit(f"{out}: rows were made with families {[k for k in row if k not in ('q', 'group')]},"
                             f" not {list(families)}; pass --fresh to start over")
    return rows


def summarise(rows: list[dict]) -> dict[str, dict[str, object]]:
    """Per family of the rows: each figure with its 95 % interval, and the paired difference against the
    baseline."""
    figures = ("contains", "wrong", "refused", "removed_refused", "weak_refused", "chars")
    table: dict[str, dict[str, object]] = {}
    for family in [k for k in rows[0] if k not in ("q", "group")] if rows else []:
        entry: dict[str, object] = {}
        for fig in figures:
            vals = [(float(r[family][fig]), str(r["group"])) for r in rows if fig in r[family]]
            if not vals:
                continue
            xs, gs = [v for v, _ in vals], [g for _, g in vals]
            entry[fig] = (sum(xs) / len(xs), *percentile_interval(xs, gs), len(xs))
        if family != "baseline":
            base = [{"q": r["q"], "item": r["group"], **{f: float(r["baseline"][f]) for f in figures
                     if f in r["baseline"]}} for r in rows]
            cur = [{"q": r["q"], "item": r["group"], **{f: float(r[family][f]) for f in figures if f in r[family]}}
                   for r in rows]
            metrics = {f: _figure(f) for f in figures}
            diffs = compare(base, cur, metrics, frozenset({"wrong"}))
            entry["diff"] = {c.metric: c.as_dict() for c in diffs}
        table[family] = entry
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("set", choices=("crud", "drcd"))
    parser.add_argument("--limit", type=int, default=None, help="most questions (DRCD: whole paragraphs)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/newsqa-ablate"))
    parser.add_argument("--cache", type=Path, default=CACHE, help="make train's cache (its <set>/store is copied)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--families", default=",".join(FAMILIES),
                        help=f"comma-separated, the baseline first (default {','.join(FAMILIES)})")
    parser.add_argument("--no-removed", action="store_true", help="skip the sources-removed variant")
    parser.add_argument("--fresh", action="store_true", help="overwrite --out instead of resuming it")
    args = parser.parse_args(argv)
    train_dir = (ROOT / ".." / "shared" / "train").resolve()
    train_set = next(s for s in default_sets(train_dir, args.limit) if s.name == args.set)
    if args.set == "crud" and args.limit:
        from dataclasses import replace
        train_set = replace(train_set, limit=args.limit)
    questions = load_questions(train_set)
    families = tuple(args.families.split(","))
    service = open_service(args.set, args.work, args.cache)
    stories = _gold_stories(service, [f for r in questions for f in src_files(r.get("src"))])
    if args.fresh:
        args.out.unlink(missing_ok=True)
    done = {row["q"] for row in resume_rows(args.out, families)}
    started = time.perf_counter()
    with args.out.open("a", encoding="utf-8") as fh:
        for n, row in enumerate(questions):
            if row["q"] in done:
                continue
            rec = {"q": row["q"], "group": row["group"], **run_question(service, row, stories, families,
                                                                            not args.no_removed)}
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            fh.flush()
            if n % 25 == 0:
                print(f"{n}/{len(questions)} {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
    rows = [json.loads(line) for line in args.out.read_text("utf-8").splitlines()]
    summary = summarise(rows)
    args.out.with_suffix(".summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1), "utf-8")
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    service.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
