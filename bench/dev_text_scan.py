"""Find dev-set text in the project: a dev question, a paraphrase of one, a dev answer (4+ characters) or a
12-character run of a dev report or passage (punctuation and blanks left out), in the files under the given folders (code, comments, tests, data).

Dev sets (``../shared/eval``): ``seeds_dev.jsonl``, ``cmrc2018_trial`` and ``crud_dev`` (questions, answers and
their ``articles/``). The sample pages the product ships (``data/articles``, ``../shared/corpus/seeds``) are not a
dev set and are not searched for; their text, and the training sets' (``../shared/train``), may be used, so a report
run that also occurs in them is no hit (a phrase both printed, such as a political slogan, is no copy of the dev
set). Their questions' answers still count: a dev answer is a hit wherever it came from. Both sides are compared
NFKC-normalised and converted to simplified Chinese (:func:`rag.text.normalize.normalize`), so a full-width or
traditional copy is found too. A paraphrase is a question-like span (ending in a question mark, or holding an
interrogative word) whose character bigrams overlap a dev question's by a Dice coefficient of at least
:data:`PARAPHRASE` (0.75, set on the hits in tests/ before issue 33's clean-up: a question with one word such as
一共 dropped scored 0.80, the same ten-character question about another city 0.78; two different questions of one
template about different things, such as the same count asked of another place and unit, score about 0.6). Prints one line per hit (``path:line: kind: the matched text``) and exits 1 when there is
any. ``tests/test_dev_text.py`` runs it over :data:`DEFAULT_PATHS` in CI.

    PYTHONPATH=$PWD .venv/bin/python bench/dev_text_scan.py            # rag ingest bot tests
    PYTHONPATH=$PWD .venv/bin/python bench/dev_text_scan.py docs bench  # other folders
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.text.normalize import normalize  # noqa: E402

RUN = 12  # characters of a report run that count as a copy
MIN_ANSWER = 4  # shorter answers (上海市) and dates or figures with one character (2023年) are ordinary words
PARAPHRASE = 0.75  # bigram Dice of a question-like span and a dev question (see the module docstring)
SUFFIXES = {".py", ".txt", ".json", ".jsonl", ".md", ".csv", ".toml", ".yaml", ".yml", ".html", ".js", ".tsv"}
DEFAULT_PATHS = ("rag", "ingest", "bot", "tests")
DEV_SETS = {"seeds_dev": "seeds_dev.jsonl", "cmrc2018_trial": "cmrc2018_trial/qa.jsonl", "crud_dev": "crud_dev/qa.jsonl"}
_QUESTION_SPAN = re.compile(r"[\u4e00-\u9fff0-9A-Za-z（）()、，,“”《》·\-]{5,80}")
_CJK = re.compile(r"[\u4e00-\u9fff]")
SKIP_PARTS = {"__pycache__", "vendor"}  # bytecode; third-party bundles (bot/web/static/vendor: swagger-ui, 1 MB lines)
_INTERROGATIVE = re.compile(r"多少|几|谁|什么|哪|何时|何地|怎样|如何|是否|吗$")


def eval_dir() -> Path | None:
    """``../shared/eval`` beside the project (or ``/work/shared/eval``); None when neither exists."""
    for candidate in (ROOT / ".." / "shared" / "eval", Path("/work/shared/eval")):
        if candidate.exists():
            return candidate.resolve()
    return None


def _cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def _plain(text: str) -> str:
    """``text`` (normalised) without punctuation and blanks: a copy with a comma added or dropped is still found."""
    return re.sub(r"[^\u4e00-\u9fff0-9a-z]", "", text)


def _cjk_runs(text: str) -> set[str]:
    """Every RUN-character window of plain ``text`` with at least RUN // 2 CJK characters (numbers alone are
    common)."""
    text = _plain(text)
    counts = [0]  # counts[i]: CJK characters in text[:i]
    for ch in text:
        counts.append(counts[-1] + _cjk(ch))
    return {text[i : i + RUN] for i in range(len(text) - RUN + 1) if counts[i + RUN] - counts[i] >= RUN // 2}


def _bigrams(text: str) -> frozenset[str]:
    text = _plain(text)
    return frozenset(text[i : i + 2] for i in range(len(text) - 1))


@dataclass
class DevText:
    """The dev sets' text, normalised: questions and answers (-> set name), report runs, question bigrams."""

    questions: dict[str, str] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)
    runs: set[str] = field(default_factory=set)
    shared: Path | None = None

    @classmethod
    def load(cls, folder: Path) -> DevText:
        """Read the three dev sets under ``folder`` (``../shared/eval``). Raises FileNotFoundError naming a missing
        set file."""
        dev = cls(shared=folder.parent)
        for name, relative in DEV_SETS.items():
            path = folder / relative
            for line in path.read_text("utf-8").splitlines():
                if not line.strip():
                    continue
                row = json.loads(line)
                q = normalize(str(row.get("q", ""))).strip().rstrip("?？。 ")
                if len(q) >= 6:
                    dev.questions[q] = name
                for a in row.get("a") or []:
                    a = normalize(str(a)).strip()
                    if len(a) >= MIN_ANSWER and sum(_cjk(ch) for ch in a) >= 2:
                        dev.answers[a] = name
            articles = path.parent / "articles"
            if name != "seeds_dev" and articles.exists():
                for file in articles.iterdir():
                    dev.runs |= _cjk_runs(normalize(file.read_text("utf-8", errors="replace")))
        return dev

    @cached_property
    def _question_index(self) -> tuple[list[tuple[str, frozenset[str]]], dict[str, set[int]]]:
        rows = [(q, _bigrams(q)) for q in self.questions]
        index: dict[str, set[int]] = defaultdict(set)
        for i, (_, grams) in enumerate(rows):
            for gram in grams:
                index[gram].add(i)
        return rows, index

    def paraphrase_of(self, span: str) -> str | None:
        """The dev question ``span`` (normalised) paraphrases (bigram Dice >= PARAPHRASE), or None."""
        grams = _bigrams(span)
        if len(grams) < 4:
            return None
        rows, index = self._question_index
        for i in set().union(*(index.get(g, set()) for g in grams)):
            question, other = rows[i]
            if 2 * len(grams & other) / (len(grams) + len(other)) >= PARAPHRASE:
                return question
        return None

    @cached_property
    def allowed(self) -> str:
        """The text that may be used (sample pages, training sets), plain, one string; read on first use.

        The sample pages are normalised in full; the training sets (24 MB) only NFKC-folded and lower-cased, which
        takes ~1 s instead of ~30 s of pure-Python OpenCC: a traditional-character copy of a training passage is
        then not recognised as allowed and shows as a hit (strict, never lenient)."""
        parts = [normalize(f.read_text("utf-8", errors="replace")) for f in (ROOT / "data" / "articles").glob("*.txt")]
        if self.shared is not None:
            for folder in sorted((self.shared / "train").glob("*/articles")):
                parts += [unicodedata.normalize("NFKC", f.read_text("utf-8", errors="replace")).lower()
                          for f in folder.iterdir() if f.suffix == ".txt"]
        return "\n".join(_plain(part) for part in parts)


def line_hits(dev: DevText, line: str) -> list[tuple[str, str]]:
    """(kind, matched text) of one normalised line: question, paraphrase, answer, report."""
    found = [("question", q) for q in dev.questions if q in line]
    for match in _QUESTION_SPAN.finditer(line):
        span = match.group(0)
        end = line[match.end() : match.end() + 1]
        if end in ("?", "？") or _INTERROGATIVE.search(span):
            question = dev.paraphrase_of(span)
            if question and not any(question == q for _, q in found):
                found.append(("paraphrase", f"{span} ~ {question}"))
    found += [("answer", a) for a in dev.answers if a in line and not any(a in q for _, q in found)]
    if not found:
        plain = _plain(line)
        for i in range(len(plain) - RUN + 1):
            run = plain[i : i + RUN]
            if run in dev.runs and run not in dev.allowed:
                found.append(("report", run))
                break
    return found


def scan(paths: list[Path], dev: DevText | None = None) -> list[str]:
    """The hits (``path:line: kind: text``) in every text file under ``paths``. Raises SystemExit when ``dev`` is
    not given and ``../shared/eval`` is absent."""
    if dev is None:
        folder = eval_dir()
        if folder is None:
            raise SystemExit("../shared/eval not found")
        dev = DevText.load(folder)
    hits: list[str] = []
    for base in paths:
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.suffix in SUFFIXES)
        for file in files:
            if SKIP_PARTS.intersection(file.parts):
                continue
            for number, raw in enumerate(file.read_text("utf-8", errors="replace").splitlines(), 1):
                line = normalize(raw)
                if _CJK.search(line):
                    hits.extend(f"{file}:{number}: {kind}: {text}" for kind, text in line_hits(dev, line))
    return hits


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    hits = scan([Path(a) for a in args or DEFAULT_PATHS])
    print("\n".join(hits) or "no dev-set text found")
    return 1 if hits else 0


if __name__ == "__main__":
    raise SystemExit(main())
