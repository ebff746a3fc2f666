"""Fabrication benchmark (:mod:`rag.eval_fabrication`) on the dev sets, through the tests' fake OpenAI-compatible
server: how many substituted answer spans come back cited (target 0), how many correct sentences lose their
citation (target <= 0.05).

    python bench/fabrication_bench.py [--sets seeds,cmrc,crud] [--limit N] [--json]

Each set is ingested into a temporary store (crud: only its questions' source files) with the packaged model.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from common import CMRC_ARTICLES, CMRC_QA, ROOT, SAMPLE_ARTICLES, SEEDS_QA, SHARED_EVAL

sys.path.insert(0, str(ROOT))  # the tests' fake LLM server
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

SETS = {
    "seeds": (SEEDS_QA, SAMPLE_ARTICLES),
    "cmrc": (CMRC_QA, CMRC_ARTICLES),
    "crud": (SHARED_EVAL / "crud_dev" / "qa.jsonl", SHARED_EVAL / "crud_dev" / "articles"),
}


def run_set(name: str, limit: int | None) -> dict:
    from bot.service import build_service
    from rag.eval_fabrication import build_cases, src_files
    from rag.evaluation import load_qa
    from rag.retrieval.embedding import PACKAGED_MODEL_NAME, SentenceTransformerEmbedder, packaged_model_path
    from rag.settings import Settings
    # The tests' fake server, imported by name: mypy checks bench/, not tests/.
    fake_llm = importlib.import_module("tests.llm_fake")
    run_fabrication = importlib.import_module("tests.llm_fake.fabrication").run_fabrication
    llm_overrides = importlib.import_module("tests.llm_fake.fixtures").llm_overrides

    qa, articles = SETS[name]
    items = load_qa(qa)
    cases, skipped = build_cases(items, articles)
    if limit:
        cases = cases[:limit]
    model = str(packaged_model_path())
    embedder = SentenceTransformerEmbedder(PACKAGED_MODEL_NAME, model)
    with tempfile.TemporaryDirectory(prefix="newsqa-fab-") as tmp, fake_llm.FakeLLM() as fake:
        folder = Path(tmp) / "articles"
        if name == "crud":  # the questions' reports only: the benchmark is about the check, not retrieval
            folder.mkdir()
            for item in items:
                for src in src_files(item.src):
                    if (articles / src).is_file() and not (folder / src).exists():
                        shutil.copyfile(articles / src, folder / src)
        else:
            folder.symlink_to(articles.resolve(), target_is_directory=True)
        settings = Settings(_env_file=None, data_dir=Path(tmp), embedding_model=model,  # type: ignore[call-arg]
                            **llm_overrides(fake))
        service = build_service(settings, embedder=embedder)
        service.ingest()
        service.warm_up()
        report = run_fabrication(service, fake, cases, skipped)
        service.close()
    return {"set": name, **report.summary(), "examples": report.examples[:15]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="seeds,cmrc,crud")
    parser.add_argument("--limit", type=int, default=None, help="at most N cases per set")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    for name in args.sets.split(","):
        result = run_set(name, args.limit)
        if args.json:
            print(json.dumps(result, ensure_ascii=False), flush=True)
        else:
            examples = result.pop("examples")
            print(json.dumps(result, ensure_ascii=False), flush=True)
            for example in examples:
                print("   ", json.dumps(example, ensure_ascii=False))


if __name__ == "__main__":
    main()
