"""The quality benchmark's own figures (``bench/quality_bench.py``) come from the same ``evaluate`` as ``newsqa eval``:
its recording wrapper must stand in for the service everywhere ``evaluate`` reads it (the store, for a story's
printings), or the benchmark prints a failure instead of figures."""

from __future__ import annotations

import sys

import pytest

from rag.evaluation import load_qa
from tests.conftest import ROOT

SEEDS_DEV = ROOT.parent / "shared" / "eval" / "seeds_dev.jsonl"


@pytest.mark.skipif(not SEEDS_DEV.exists(), reason="shared eval set not present")
def test_quality_bench_scores_our_answers_through_its_recorder(sample_service, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    try:
        import quality_bench

        figures = quality_bench.eval_ours(sample_service, load_qa(SEEDS_DEV))
    finally:
        for name in ("quality_bench", "common"):  # bench modules, imported by path: not left for other tests
            sys.modules.pop(name, None)
    assert figures["answer_contains_gold"] >= 0.8 and figures["hit_at_1"] >= 0.8
    assert 0.0 < figures["answer_in_top_chunks"] <= 1.0
