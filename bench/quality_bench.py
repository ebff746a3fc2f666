"""Answer quality: our ``rag.evaluation.evaluate`` beside the stock llama-index retriever, same model, same store
contents.

Shared metrics (answerable questions only, as in ``evaluate``):

- source hit@1 / hit@5 / MRR: rank of the gold file among the distinct source files of the top-5 chunks;
- answer-in-top-chunks: a gold answer appears (normalised text, NFKC + simplified + lower case) in the text of one
  of the top-5 retrieved chunks, i.e. the retriever handed the answer to whatever answers from it.

Ours also has the extractive answer itself (``answer_contains_gold``, refusals); the stock pipeline has no answer
without an LLM, so those are ours only.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from common import percentiles

TOP_K = 5


def load_items(path: Path, sources: set[str] | None) -> list[Any]:
    """QA items of ``path`` whose gold file is in ``sources`` (None = all; unanswerable items are kept)."""
    from rag.evaluation import load_qa

    items = load_qa(path)
    if sources is None:
        return items
    return [i for i in items if not i.src or set(i.src) & sources]


def _contains(text: str, golds: list[str]) -> bool:
    """Gold containment exactly as ``rag.evaluation`` checks an answer (normalised, edge punctuation trimmed)."""
    from rag import evaluation

    return bool(evaluation._contains(text, golds))


def _askable(question: str) -> bool:
    """The questions ``NewsQA.validate_question`` accepts; ``evaluate`` skips the others (2 empty ones in CMRC)."""
    return bool(question.strip()) and len(question.strip()) <= 1000


class _Recorder:
    """Passes ``answer_with_nodes`` through to the service and keeps the retrieved nodes of every call."""

    def __init__(self, service: Any) -> None:
        self.service = service
        self.nodes: list[tuple[str, list[Any]]] = []

    @property
    def store(self) -> Any:
        """The service's store: ``evaluate`` reads a story's printings from it (source hit@k counts every copy)."""
        return self.service.store

    def answer_with_nodes(self, question: str, top_k: int | None = None) -> Any:
        answer, nodes = self.service.answer_with_nodes(question, top_k)
        self.nodes.append((question, nodes))
        return answer, nodes


def eval_ours(service: Any, items: list[Any]) -> dict[str, Any]:
    """``evaluate(service, items, top_k=5)`` figures plus answer-in-top-chunks over the same retrievals."""
    from rag.evaluation import evaluate

    recorder = _Recorder(service)
    report = evaluate(recorder, items, TOP_K)
    by_question = dict(recorder.nodes)
    in_chunks = [
        any(_contains(hit.node.get_content(), item.a) for hit in by_question[item.q])
        for item in items if item.a and item.q in by_question
    ]
    out = report.summary()
    out["answer_in_top_chunks"] = sum(in_chunks) / max(len(in_chunks), 1)
    return out


def eval_stock(retriever: Any, items: list[Any]) -> dict[str, Any]:
    """Source hit@1/hit@5/MRR, answer-in-top-chunks and latency of a llama-index retriever (top 5)."""
    hits1 = hits5 = rr = in_chunks = 0.0
    answerable = 0
    latencies: list[float] = []
    skipped = 0
    for item in items:
        if not _askable(item.q):  # skipped as evaluate() skips them for ours
            skipped += 1
            continue
        started = time.perf_counter()
        nodes = retriever.retrieve(item.q)
        latencies.append(1000 * (time.perf_counter() - started))
        if not item.a:
            continue
        answerable += 1
        files: list[str] = []
        for hit in nodes:
            name = str(hit.node.metadata.get("file_name") or hit.node.metadata.get("source") or "")
            if name not in files:
                files.append(name)
        rank = next((n for n, f in enumerate(files, 1) if f in item.src), None)
        hits1 += rank == 1
        hits5 += rank is not None and rank <= 5
        rr += 1.0 / rank if rank else 0.0
        in_chunks += any(_contains(hit.node.get_content(), item.a) for hit in nodes)
    n = max(answerable, 1)
    lat = percentiles(latencies)
    return {"questions": len(items) - skipped, "skipped": skipped, "answerable": answerable, "hit_at_1": hits1 / n, "hit_at_5": hits5 / n,
            "mrr": rr / n, "answer_in_top_chunks": in_chunks / n, "latency_p50_ms": lat["p50"],
            "latency_p95_ms": lat["p95"]}
