"""Find dev-set text in the project: a dev question, a dev answer (4+ characters) or a 12-character run of a dev
report or passage, in the files under the given folders (code, comments, tests, data files).

Dev sets (``../shared/eval``): ``seeds_dev.jsonl``, ``cmrc2018_trial`` and ``crud_dev`` (questions, answers and
their ``articles/``). The sample pages the product ships (``data/articles``, ``../shared/corpus/seeds``) are not a
dev set and are not searched for. Both sides are compared NFKC-normalised and converted to simplified Chinese
(:func:`rag.text.normalize.normalize`), so a full-width or traditional copy is found too. Prints one line per hit
(``path:line: kind: the matched text``) and exits 1 when there is any.

    PYTHONPATH=$PWD .venv/bin/python bench/dev_text_scan.py rag tests
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.text.normalize import normalize  # noqa: E402

RUN = 12  # characters of a report run that count as a copy
MIN_ANSWER = 4  # shorter answers (上海市) and dates or figures with one character (2023年) are ordinary words
SUFFIXES = {".py", ".txt", ".json", ".jsonl", ".md", ".csv", ".toml", ".yaml", ".yml", ".html", ".js", ".tsv"}


def _eval_dir() -> Path:
    for candidate in (ROOT / ".." / "shared" / "eval", Path("/work/shared/eval")):
        if candidate.exists():
            return candidate.resolve()
    raise SystemExit("../shared/eval not found")


def _cjk_runs(text: str) -> set[str]:
    """Every RUN-character window of ``text`` with at least RUN // 2 CJK characters (numbers alone are common)."""
    out = set()
    for i in range(len(text) - RUN + 1):
        window = text[i : i + RUN]
        if sum("\u4e00" <= ch <= "\u9fff" for ch in window) >= RUN // 2:
            out.add(window)
    return out


def dev_text() -> tuple[dict[str, str], dict[str, str], set[str]]:
    """(normalised questions -> set name, normalised answers -> set name, report runs)."""
    eval_dir = _eval_dir()
    questions: dict[str, str] = {}
    answers: dict[str, str] = {}
    runs: set[str] = set()
    sets = {"seeds_dev": eval_dir / "seeds_dev.jsonl", "cmrc2018_trial": eval_dir / "cmrc2018_trial" / "qa.jsonl",
            "crud_dev": eval_dir / "crud_dev" / "qa.jsonl"}
    for name, path in sets.items():
        for line in path.read_text("utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            q = normalize(str(row.get("q", ""))).strip().rstrip("?？。 ")
            if len(q) >= 6:
                questions[q] = name
            for a in row.get("a") or []:
                a = normalize(str(a)).strip()
                if len(a) >= MIN_ANSWER and sum("\u4e00" <= ch <= "\u9fff" for ch in a) >= 2:
                    answers[a] = name
        articles = path.parent / "articles"
        if name != "seeds_dev" and articles.exists():
            for file in articles.iterdir():
                runs |= _cjk_runs(normalize(file.read_text("utf-8", errors="replace")))
    return questions, answers, runs


def scan(paths: list[Path]) -> list[str]:
    """The hits in every text file under ``paths``."""
    questions, answers, runs = dev_text()
    hits = []
    for base in paths:
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.suffix in SUFFIXES)
        for file in files:
            if "__pycache__" in file.parts:
                continue
            for number, raw in enumerate(file.read_text("utf-8", errors="replace").splitlines(), 1):
                line = normalize(raw)
                if not any("\u4e00" <= ch <= "\u9fff" for ch in line):
                    continue
                found = [("question", q) for q in questions if q in line]
                found += [("answer", a) for a in answers if a in line and not any(a in q for _, q in found)]
                if not found:
                    run = next((line[i : i + RUN] for i in range(len(line) - RUN + 1) if line[i : i + RUN] in runs), None)
                    if run:
                        found.append(("report", run))
                hits.extend(f"{file}:{number}: {kind}: {text}" for kind, text in found)
    return hits


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    hits = scan([Path(a) for a in args or ["rag", "tests"]])
    print("\n".join(hits) or "no dev-set text found")
    return 1 if hits else 0


if __name__ == "__main__":
    raise SystemExit(main())
