"""No dev-set text in the code, tests or data files (issue 33): ``bench/dev_text_scan.py`` over ``rag/``, ``ingest/``,
``bot/`` and ``tests/`` finds no dev question (whole or paraphrased), dev answer or run of a dev report.

The dev sets live beside the project (``../shared/eval``); without them there is nothing to compare against and the
tests skip. The scanner itself is tested on text it is handed at run time from the dev sets (a question in
traditional characters and full-width punctuation, a paraphrase, a report run with a comma added), so no dev text
is written here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import dev_text_scan  # noqa: E402

EVAL = dev_text_scan.eval_dir()
pytestmark = pytest.mark.skipif(EVAL is None, reason="../shared/eval (the dev sets) not present: nothing to scan for")


@pytest.fixture(scope="module")
def dev() -> dev_text_scan.DevText:
    assert EVAL is not None
    return dev_text_scan.DevText.load(EVAL)


def _first(path: Path, keep) -> dict:  # noqa: ANN001
    return next(row for line in path.read_text("utf-8").splitlines() if line.strip()
                for row in [json.loads(line)] if keep(row))


def test_the_scanner_finds_dev_text_in_any_form(tmp_path: Path, dev: dev_text_scan.DevText) -> None:
    from opencc import OpenCC

    assert EVAL is not None
    qa = EVAL / "crud_dev" / "qa.jsonl"
    row = _first(qa, lambda r: len(r["q"]) >= 10 and any(len(a) >= 6 for a in r["a"]))
    question = row["q"].rstrip("？?")
    answer = next(a for a in row["a"] if len(a) >= 6)
    report = (EVAL / "crud_dev" / "articles" / row["src"][0]).read_text("utf-8")
    start = report.index("，正文：") + 5 if "，正文：" in report else 0
    run = next(report[i : i + 16] for i in range(start, len(report) - 16)
               if all("\u4e00" <= ch <= "\u9fff" for ch in report[i : i + 16]))
    lines = [
        "plain = 1  # 青松镇坚持党建引领，对全镇21个自然村的服务中心进行完善。",  # written here: no hit
        f'q = "{OpenCC("s2t").convert(question)}？"',  # traditional characters, full-width question mark
        f'p = "请问{question}呢？"',  # a paraphrase: two words around it
        f'a = "答案是{answer}"',
        f'r = "{run[:8]}，{run[8:]}"',  # a comma added inside the run
    ]
    path = tmp_path / "sample.py"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    hits = dev_text_scan.scan([path], dev)
    kinds = {int(hit.split(":")[1]): hit.split(": ")[1] for hit in hits}
    assert 1 not in kinds, hits
    assert kinds.get(2) == "question" and kinds.get(4) == "answer" and kinds.get(5) == "report", hits
    assert kinds.get(3) in ("question", "paraphrase"), hits


def test_a_paraphrase_is_caught_and_another_question_of_the_template_is_not(dev: dev_text_scan.DevText) -> None:
    assert EVAL is not None
    row = _first(EVAL / "crud_dev" / "qa.jsonl", lambda r: 10 <= len(r["q"]) <= 30)
    question = dev_text_scan.normalize(row["q"]).rstrip("?？")
    assert dev.paraphrase_of("据报道" + question) is not None
    assert dev.paraphrase_of("青松镇有多少个自然村") is None


def test_no_dev_text_in_code_tests_or_data(dev: dev_text_scan.DevText) -> None:
    hits = dev_text_scan.scan([ROOT / p for p in dev_text_scan.DEFAULT_PATHS], dev)
    assert hits == [], "dev-set text (replace it with text written for the test or from ../shared/train):\n" + "\n".join(
        hits[:40])
