"""The fabrication benchmark (:mod:`rag.eval_fabrication`) on the training sets, and the ablation of the citation
check (:mod:`rag.answering.citation_check`) it supports.

    python bench/citation_fit.py record --set crud|drcd --data-dir DIR --out cases.jsonl [--limit N]
    python bench/citation_fit.py ablate --data-dir DIR cases.jsonl [...] [--json]

``record`` asks the real service every case's question twice (the substituted and the correct reply, from the tests'
fake OpenAI-compatible server, over HTTP and the streaming verifier) over a copy of a training store built by
``bot/train.py`` (``DIR``: a copy of ``../cache/scorer/<set>``, never the cache itself: the service writes to it),
with the refusal threshold at 0 so that the LLM is always asked. It writes one row per case: the end-to-end outcome
of both replies, the sources and question the verifier saw, the group (``item`` / paragraph) for the bootstrap.

``ablate`` replays the recorded replies through :func:`rag.answering.citation_check.check_answer` (the same sources,
question and corpus IDF as the service used), once as the code stands and once per criterion switched off
(:func:`_variants`), and prints the rates with 95 % intervals (cluster bootstrap, :mod:`rag.eval_stats`) and the
paired difference of each variant from the full check. Two more rates need no recording, checked offline: the
*subject swap* (:func:`_swap`: the correct reply and its question with their shared name replaced by another; it
should not come back cited) and the *restated* reply (:func:`_restated`: the question with the answer in place of
its question word; it should keep its citation).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import random
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT

sys.path.insert(0, str(ROOT))  # the tests' fake LLM server
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

TRAIN = (ROOT / ".." / "shared" / "train").resolve()


def _service(data_dir: Path, **overrides: Any) -> Any:
    from bot.service import build_service
    from bot.train import HashedBigramEmbedder
    from rag.settings import Settings

    settings = Settings(_env_file=None, data_dir=data_dir, min_answer_confidence=0.0, **overrides)  # type: ignore[call-arg]
    return build_service(settings, embedder=HashedBigramEmbedder())


def record(set_name: str, data_dir: Path, out: Path, limit: int | None) -> None:
    """Ask every case both ways through the service and the fake LLM; write the rows to ``out``."""
    import rag.answering.generate as generate
    from rag.eval_fabrication import build_cases
    from rag.evaluation import QAItem
    from rag.train_data import default_sets, load_questions

    logging.getLogger("rag").setLevel(logging.ERROR)  # one warning per unsupported reply otherwise
    fake_llm = importlib.import_module("tests.llm_fake")
    Reply = importlib.import_module("tests.llm_fake.server").Reply
    llm_overrides = importlib.import_module("tests.llm_fake.fixtures").llm_overrides
    train_set = next(s for s in default_sets(TRAIN, limit) if s.name == set_name)
    rows = load_questions(train_set)
    items = [QAItem(str(r["q"]), [str(a) for a in r.get("a") or []],  # type: ignore[attr-defined]
                    [str(s) for s in (r["src"] if isinstance(r["src"], list) else [r["src"]])], item=str(r["group"]))
             for r in rows if r.get("src")]
    group = {item.q: item.item for item in items}
    cases, skipped = build_cases(items, train_set.articles[0])
    seen: list[tuple[list[dict[str, str]], str]] = []

    class Recording(generate.StreamVerifier):  # type: ignore[misc,name-defined]
        """The production verifier, noting the sources and question it was given."""

        def __init__(self, nodes: Any, question: str, idf: Any = None) -> None:
            super().__init__(nodes, question, idf)
            seen.append(([{"title": str(n.node.metadata.get("title", "")), "text": n.node.get_content()}
                          for n in nodes], question))

    generate.StreamVerifier = Recording  # type: ignore[attr-defined,misc]
    with fake_llm.FakeLLM() as fake, out.open("w", encoding="utf-8") as handle:
        service = _service(data_dir, **llm_overrides(fake))
        service.warm_up()
        for n, case in enumerate(cases):
            row: dict[str, Any] = {"set": set_name, "q": case.question, "group": group.get(case.question, case.question),
                                   "kind": case.kind, "gold": case.gold, "substitute": case.substitute}
            for label, substituted in (("fake", True), ("real", False)):
                seen.clear()
                sent: dict[str, Any] = {}

                def reply(request: Any, case: Any = case, substituted: bool = substituted, sent: Any = sent) -> str:
                    sources = [(number, src) for number, _title, src, _text in request.sources()]
                    sent["text"], sent["retrieved"] = case.reply(sources, substituted)
                    return str(sent["text"])

                fake.reset()
                fake.script("answer", Reply.text(reply))
                answer = service.ask(case.question)
                fake.reset()
                span = case.substitute if substituted else case.gold
                row[label] = {"mode": answer.mode, "found": answer.found, "retrieved": sent.get("retrieved", False),
                              "cited": answer.mode == "llm" and answer.found and _norm(span) in _norm(answer.answer),
                              "nodes": seen[-1][0] if seen else [], "question": seen[-1][1] if seen else "",
                              "reply": sent.get("text", "")}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            if n % 50 == 0:
                print(f"{set_name}: {n}/{len(cases)} cases ({skipped} skipped)", file=sys.stderr, flush=True)
        service.close()


def _norm(text: str) -> str:
    from rag.text.normalize import normalize

    return normalize(text)


_MISSING = object()


@contextlib.contextmanager
def _patched(target: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(target, name, _MISSING)
    setattr(target, name, value)
    try:
        yield
    finally:
        if old is _MISSING:
            delattr(target, name)
        else:
            setattr(target, name, old)


def _variants() -> dict[str, Callable[[], contextlib.AbstractContextManager[None]]]:
    """Each criterion of the check switched off (a context manager patching the module for the replay). The
    criteria deleted after the ablation (bigram overlap, digits, subject share, locality, slot-filler gate, connective
    and unmarked units, spans by question type) were switched off here at f095d47 (subject share: with
    ``claims.MIN_TOPIC_SHARE=0.0`` on the code of f095d47)."""
    from rag.answering import citation_check as cc
    from rag.answering import claims

    return {
        "answer spans": lambda: _patched(claims, "stated", lambda span, norm: True),  # type: ignore[arg-type]
        "new-word share": lambda: _patched(claims, "MIN_NEW_WORD_SHARE", 0.0),
        "new words IDF-weighted": lambda: _patched(claims.Claim, "supported_by", _no_idf(claims.Claim.supported_by)),
        "re-attach": lambda: _patched(cc.StreamVerifier, "_check", _no_reattach(cc.StreamVerifier._check)),
    }


def _no_reattach(check: Any) -> Any:
    from rag.answering.claims import Claim, is_refusal

    def strict(self: Any, unit: Any) -> list[str]:
        valid = [n - 1 for n in unit.markers if 1 <= n <= len(self._sources)]
        if valid and unit.text.strip() and not is_refusal(unit.text):
            claim = Claim(unit.text, self._question_norm, self._question_words)
            if not any(claim.supported_by(self._sources[i], self._idf) for i in valid):
                self._dropped += 1
                return []
        return check(self, unit)  # type: ignore[no-any-return]
    return strict


def _no_idf(supported_by: Any) -> Any:
    def unweighted(self: Any, source: Any, idf: Any = None) -> Any:
        return supported_by(self, source, None)
    return unweighted


def _setting(spec: str) -> Callable[[], contextlib.AbstractContextManager[None]]:
    """``module.NAME=value`` (e.g. ``claims.MIN_BIGRAM_OVERLAP=0.3``): that constant of ``rag.answering.module``."""
    target, value = spec.split("=", 1)
    module, name = target.rsplit(".", 1)
    mod = importlib.import_module(f"rag.answering.{module}")
    return lambda: _patched(mod, name, type(getattr(mod, name))(value))


def replay(rows: list[dict[str, Any]], idf: Callable[[str], float], whole_file: bool = True) -> dict[str, np.ndarray]:
    """Per case: the substituted reply came back cited (``fake``), the correct one did (``real``); NaN where the
    LLM was not asked (``fake``) or, for ``real``, the gold file was not among the sources (``whole_file``, as
    :func:`rag.eval_fabrication.score` counts) or the chunk the reply cites does not hold its whole sentence."""
    from llama_index.core.schema import NodeWithScore, TextNode

    from rag.answering.citation_check import check_answer

    out: dict[str, list[float]] = {"fake": [], "real": []}
    pools = _name_pools(rows)
    for row in rows:
        for label, span in (("fake", row["substitute"]), ("real", row["gold"])):
            rec = row[label]
            nodes = [NodeWithScore(node=TextNode(text=n["text"], metadata={"title": n["title"]}), score=1.0)
                     for n in rec["nodes"]]
            if not rec["reply"] or (label == "real" and not (rec["retrieved"] if whole_file else _states(rec["reply"], nodes))):
                out[label].append(float("nan"))
                continue
            result, _ = check_answer(rec["reply"], nodes, rec["question"], idf)
            out[label].append(float(result.outcome == "cited" and _norm(span) in _norm(result.text)))
    out["swap"] = [_swap(row, pools, idf, check_answer) for row in rows]
    out["restated"] = [_restated(row, idf, check_answer) for row in rows]
    return {k: np.array(v) for k, v in out.items()}


_NAMES = ("person", "place", "org", "other_name")
_ASKS = re.compile(r"什么时候|什么|哪里|哪儿|哪一?[个家年位座种天国]?|多少|几[个家年位座种天]?|何时|何地|谁")


def _restated(row: dict[str, Any], idf: Callable[[str], float], check: Any) -> float:
    """The *restated* reply, as models often answer: the question with its question word replaced by the gold answer
    (``河湾县县长是谁？`` -> ``河湾县县长是李文博[n]。``), cited to the chunk that holds the gold sentence. 1.0 when it
    loses its citation, NaN when the question has not exactly one question word or the chunk lacks the sentence."""
    from llama_index.core.schema import NodeWithScore, TextNode

    rec = row["real"]
    nodes = [NodeWithScore(node=TextNode(text=n["text"], metadata={"title": n["title"]}), score=1.0)
             for n in rec["nodes"]]
    question = _norm(rec["question"]).rstrip("？?。 ")
    if not rec["reply"] or not _states(rec["reply"], nodes) or len(_ASKS.findall(question)) != 1:
        return float("nan")
    number = re.search(r"\[(\d+)\]。$", rec["reply"]).group(1)  # type: ignore[union-attr]
    gold, ask = _norm(row["gold"]), _ASKS.search(question)
    end = ask.end() + (question[ask.end() : ask.end() + 1] == gold[-1:])  # type: ignore[union-attr]  # 多少名 -> 224名
    reply = question[: ask.start()] + gold + question[end:]  # type: ignore[union-attr]
    result, _ = check(reply + f"[{number}]。", nodes, rec["question"], idf)
    return float(not (result.outcome == "cited" and gold in _norm(result.text)))


def _names(norm: str) -> list[Any]:
    from rag.answering import claims

    try:
        spans = claims.answer_spans(norm, "")
    except TypeError:  # the check before f095d47's deletions: answer_spans(norm, question, qtype)
        spans = claims.answer_spans(norm, "", None)  # type: ignore[call-arg]
    return [span for span in spans if span.kind in _NAMES]


def _name_pools(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    pools: dict[str, set[str]] = {}
    for row in rows:
        for span in _names(_norm(row["real"]["reply"])):
            pools.setdefault(span.kind, set()).add(span.text)
    return {kind: sorted(names) for kind, names in pools.items()}


def _swap(row: dict[str, Any], pools: dict[str, list[str]], idf: Callable[[str], float], check: Any) -> float:
    """The *subject swap*: the correct reply and its question with a name they share (the subject, not the answer)
    replaced by another of its kind that the cited chunk does not hold, so the reply states the report's fact of
    another subject. 1.0 when it comes back cited, NaN when the case has no such name or its chunk lacks the
    sentence."""
    from llama_index.core.schema import NodeWithScore, TextNode

    rec = row["real"]
    nodes = [NodeWithScore(node=TextNode(text=n["text"], metadata={"title": n["title"]}), score=1.0)
             for n in rec["nodes"]]
    if not rec["reply"] or not _states(rec["reply"], nodes):
        return float("nan")
    reply, question = _norm(rec["reply"]), _norm(rec["question"])
    cited = nodes[int(re.search(r"\[(\d+)\]。$", reply).group(1)) - 1].node  # type: ignore[union-attr]
    source = _norm(str(cited.metadata.get("title", "")) + cited.get_content())
    gold = _norm(row["gold"])
    for span in _names(reply):
        if span.text not in question or span.text in gold or gold in span.text:
            continue
        options = [n for n in pools.get(span.kind, []) if n not in source and n not in reply and n not in question]
        if options:
            other = random.Random(row["q"]).choice(options)
            result, _ = check(reply.replace(span.text, other), nodes, question.replace(span.text, other), idf)
            return float(result.outcome == "cited" and other in _norm(result.text))
    return float("nan")


def _states(reply: str, nodes: list[Any]) -> bool:
    """The source a one-sentence reply cites holds that sentence verbatim (normalised): the source shown is the
    part of the gold file that says it, not another chunk of it."""
    match = re.search(r"\[(\d+)\]。$", reply)
    if match is None or not 1 <= int(match.group(1)) <= len(nodes):
        return False
    number = int(match.group(1))
    node = nodes[number - 1].node
    return _norm(reply[: match.start()]) in _norm(str(node.metadata.get("title", "")) + "\n" + node.get_content())


def _rate(values: np.ndarray, groups: list[str]) -> dict[str, Any]:
    from rag.eval_stats import percentile_interval

    keep = ~np.isnan(values)
    g = [x for x, k in zip(groups, keep, strict=True) if k]
    lo, hi = percentile_interval(values[keep], g)
    return {"n": int(keep.sum()), "count": int(values[keep].sum()), "rate": round(float(values[keep].mean()), 4),
            "ci": [round(lo, 4), round(hi, 4)]}


def _diff(base: np.ndarray, other: np.ndarray, groups: list[str]) -> dict[str, Any]:
    from rag.eval_stats import percentile_interval

    keep = ~np.isnan(base) & ~np.isnan(other)
    d = other[keep] - base[keep]
    lo, hi = percentile_interval(d, [x for x, k in zip(groups, keep, strict=True) if k])
    return {"diff": round(float(d.mean()), 4), "ci": [round(lo, 4), round(hi, 4)], "worse": int((d > 0).sum()),
            "better": int((d < 0).sum())}


def ablate(paths: list[Path], data_dir: Path, names: list[str], baseline: str, whole_file: bool,
           as_json: bool) -> None:
    """Replay the recorded cases under the full check and each variant; print rates and paired differences."""
    rows = [json.loads(line) for p in paths for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    groups = [f"{r['set']}:{r['group']}" for r in rows]
    service = _service(data_dir)
    idf = service.term_idf()
    agree = sum(1 for r in rows for label in ("fake", "real") if r[label]["reply"])
    variants = _variants()

    def combined(spec: str) -> Callable[[], contextlib.AbstractContextManager[Any]]:
        parts = [variants[p] if p in variants else _setting(p) for p in spec.split("+")]

        def enter() -> contextlib.AbstractContextManager[Any]:
            stack = contextlib.ExitStack()
            for part in parts:
                stack.enter_context(part())
            return stack
        return enter

    with combined(baseline)() if baseline else contextlib.nullcontext():
        base = replay(rows, idf, whole_file)
    mismatch = sum(1 for label in ("fake", "real") for i, r in enumerate(rows)
                   if not np.isnan(base[label][i]) and bool(base[label][i]) != r[label]["cited"])
    chosen = {spec: combined(spec) for spec in (names or list(variants))}
    table = [{"variant": baseline or "full check", "substituted_cited": _rate(base["fake"], groups),
              "correct_lost": _rate(1 - base["real"], groups), "subject_swap_cited": _rate(base["swap"], groups),
              "restated_lost": _rate(base["restated"], groups),
              "replay_vs_service_mismatches": mismatch,
              "replies": agree}]
    for name, enter in chosen.items():
        with enter():
            got = replay(rows, idf, whole_file)
        table.append({"variant": name, "substituted_cited": _rate(got["fake"], groups),
                      "correct_lost": _rate(1 - got["real"], groups),
                      "d_substituted_cited": _diff(base["fake"], got["fake"], groups),
                      "d_correct_lost": _diff(1 - base["real"], 1 - got["real"], groups),
                      "subject_swap_cited": _rate(got["swap"], groups),
                      "d_subject_swap_cited": _diff(base["swap"], got["swap"], groups),
                      "restated_lost": _rate(got["restated"], groups),
                      "d_restated_lost": _diff(base["restated"], got["restated"], groups)})
        print(json.dumps(table[-1], ensure_ascii=False) if as_json else _line(table[-1]), flush=True)
    service.close()
    print(json.dumps(table[0], ensure_ascii=False) if as_json else _line(table[0]), flush=True)


def _line(row: dict[str, Any]) -> str:
    def f(r: dict[str, Any]) -> str:
        return f"{r['count']}/{r['n']} = {r['rate']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]"

    def d(r: dict[str, Any] | None) -> str:
        return "" if r is None else f" (diff {r['diff']:+.3f} [{r['ci'][0]:+.3f}, {r['ci'][1]:+.3f}])"

    return (f"{row['variant']:<28} substituted cited {f(row['substituted_cited'])}{d(row.get('d_substituted_cited'))}"
            f" | correct lost {f(row['correct_lost'])}{d(row.get('d_correct_lost'))}"
            f" | subject swap cited {f(row['subject_swap_cited'])}{d(row.get('d_subject_swap_cited'))}"
            f" | restated lost {f(row['restated_lost'])}{d(row.get('d_restated_lost'))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("--set", choices=["crud", "drcd"], required=True)
    rec.add_argument("--data-dir", type=Path, required=True, help="a copy of ../cache/scorer/<set>")
    rec.add_argument("--out", type=Path, required=True)
    rec.add_argument("--limit", type=int, default=None, help="questions sampled (whole groups, deterministic)")
    abl = sub.add_parser("ablate")
    abl.add_argument("cases", type=Path, nargs="+")
    abl.add_argument("--data-dir", type=Path, required=True, help="the store whose IDF the service used")
    abl.add_argument("--variant", action="append", default=[], help="criteria switched off or constants set, "
                     "joined by '+' (e.g. 'numbers+claims.MIN_NEW_WORD_SHARE=0.8'; default: each criterion in turn)")
    abl.add_argument("--baseline", default="", help="the reference the differences are taken from, as a variant "
                     "(default: the check as it stands)")
    abl.add_argument("--chunk", action="store_true", help="count correct replies only where the chunk they cite "
                     "holds their whole sentence (default: where the gold file is among the sources)")
    abl.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.command == "record":
        record(args.set, args.data_dir, args.out, args.limit)
    else:
        ablate(args.cases, args.data_dir, args.variant, args.baseline, not args.chunk, args.json)


if __name__ == "__main__":
    main()
