"""Dev figures of the answer selector over stores built with the training embedder, for paired before/after runs.

    PYTHONPATH=<code> python bench/selector_dev_eval.py QA_JSONL DATA_DIR --details rows.jsonl

Opens the store in ``DATA_DIR`` (``NEWSQA_DATA_DIR`` layout, ingested with ``bot.train.HashedBigramEmbedder``, as
``make train``'s stores; nothing is ingested) and runs :func:`rag.evaluation.evaluate` (top_k 5), writing one row
per question (``--details``) and printing the summary as JSON. Run it once with the code before a change and once
after (``PYTHONPATH`` picks the code), on copies of the same store, then ``newsqa eval-compare before after``.
Measures only: nothing is fitted on these figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.service import build_service  # noqa: E402
from bot.train import HashedBigramEmbedder  # noqa: E402
from rag.evaluation import evaluate, load_qa  # noqa: E402
from rag.settings import Settings  # noqa: E402


def main() -> None:
    """Evaluate and write the per-question rows."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("qa", type=Path)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--details", type=Path, required=True)
    args = parser.parse_args()
    service = build_service(Settings(data_dir=args.data_dir), embedder=HashedBigramEmbedder())  # type: ignore[call-arg]
    try:
        service.warm_up()
        report = evaluate(service, load_qa(args.qa), 5)
    finally:
        service.close()
    args.details.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in report.per_question), "utf-8")
    print(json.dumps(report.summary(), ensure_ascii=False))


if __name__ == "__main__":
    main()
