"""Time-question benchmark: a dated corpus built from any QA set, where the same fact has two figures in two years.

For each of up to ``facts`` answerable questions whose gold answer holds a number (and whose question names no
year), the gold article is printed twice by a fictional city daily (:data:`PUBLICATION`): an *old* copy, as it is,
dated ``OLD_YEAR`` through a sidecar (``<file>.meta.json``), and a *new* copy ``NEW_YEAR - OLD_YEAR`` years later,
dated by its path (``滨江日报/2022-03-01/01.txt``), in which every figure has changed (:func:`shift_numbers`: years
move forward by that many years, other numbers grow by half). Every other article of the set stays, undated. Four
questions per fact, each with the answer expected from one copy (``tag``):

- ``year_old`` ``2019年，<q>`` and ``year_new`` ``2022年，<q>``: the copy of that year;
- ``latest`` ``据最新报道，<q>``: the new copy;
- ``plain`` ``<q>``: the new copy (sources disagree over time: the newest is given, with its date).

An answer is right when it contains the expected copy's figure and not the other copy's, and the first citation
is that copy. The corpus is written by :func:`build_dated_corpus` and scored by :func:`score_dated` over the rows
of :func:`rag.evaluation.evaluate`.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from rag.evaluation import QAItem, _contains

PUBLICATION = "滨江日报"
OLD_YEAR, NEW_YEAR = 2019, 2022
KINDS = ("year_old", "year_new", "latest", "plain")

#: A number on its own: not part of a name such as 5G, COVID-19 or H7N9 (Latin letters or a hyphen beside it).
_NUMBER = re.compile(r"(?<![\d.A-Za-z\-])(\d+(?:\.\d+)?)(?![\d.A-Za-z\-])(\s*年)?")
_NUMBER_ONLY = re.compile(r"\d+(?:\.\d+)?")
_YEAR_IN_QUESTION = re.compile(r"(?:19|20)\d{2}\s*年")


def shift_numbers(text: str, years: int = NEW_YEAR - OLD_YEAR, keep: frozenset[str] = frozenset()) -> str:
    """``text`` with every year (``19xx年``/``20xx年``) ``years`` later and every other number half as large again
    (integers rounded up, at least +1; decimals keep their places): the same report, printed later. Numbers inside
    names (``5G``, ``COVID-19``) stay, and so do the numbers in ``keep`` (those the question names: ``男子100米跑``)."""
    def shift(m: re.Match[str]) -> str:
        digits, year_mark = m.group(1), m.group(2)
        if digits in keep:
            return m.group(0)
        if year_mark and "." not in digits and 1900 <= int(digits) <= 2100:
            return f"{int(digits) + years}{year_mark}"
        if "." in digits:
            places = len(digits.split(".")[1])
            return f"{float(digits) * 1.5:.{places}f}" + (year_mark or "")
        value = int(digits)
        return f"{value + max(1, (value + 1) // 2)}" + (year_mark or "")
    return _NUMBER.sub(shift, text)


def build_dated_corpus(items: Sequence[QAItem], articles: Path, out: Path, facts: int = 60) -> list[QAItem]:
    """Write the dated corpus to ``out/articles`` and return its questions (see the module docstring).

    Raises FileNotFoundError when a gold file is missing from ``articles``.
    """
    target = out / "articles"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    chosen: list[tuple[QAItem, list[str], frozenset[str]]] = []  # (item, golds with a number, numbers it names)
    used: set[str] = set()
    for item in items:
        if len(chosen) >= facts:
            break
        golds = [g for g in item.a if re.search(r"\d", g)]
        if not golds or not item.src or _YEAR_IN_QUESTION.search(item.q) or item.src[0] in used:
            continue
        keep = frozenset(_NUMBER_ONLY.findall(item.q))
        if shift_numbers(golds[0], keep=keep) == golds[0] or not (articles / item.src[0]).is_file():
            continue
        chosen.append((item, golds, keep))
        used.add(item.src[0])
    for path in sorted(articles.iterdir()):
        if path.is_file() and path.name not in used and not path.name.endswith(".meta.json"):
            shutil.copyfile(path, target / path.name)
    questions: list[QAItem] = []
    for n, (item, old_gold, keep) in enumerate(chosen):
        source = articles / item.src[0]
        text = source.read_text("utf-8")
        old_day = date(OLD_YEAR, 3, 1) + timedelta(days=n)
        new_day = date(NEW_YEAR, 3, 1) + timedelta(days=n)
        old_name = f"old_{source.name}"
        (target / old_name).write_text(text, "utf-8")
        meta = {"publication": PUBLICATION, "published": old_day.isoformat(), "page": "第3版"}
        (target / f"{old_name}.meta.json").write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
        new_name = f"{PUBLICATION}/{new_day.isoformat()}/{n % 99 + 1:02d}.txt"
        (target / new_name).parent.mkdir(parents=True, exist_ok=True)
        (target / new_name).write_text(shift_numbers(text, keep=keep), "utf-8")
        new_gold = [shift_numbers(g, keep=keep) for g in old_gold]
        q = item.q.strip()
        for kind, question, gold, src, other in (
            ("year_old", f"{OLD_YEAR}年，{q}", old_gold, old_name, new_gold),
            ("year_new", f"{NEW_YEAR}年，{q}", new_gold, new_name, old_gold),
            ("latest", f"据最新报道，{q}", new_gold, new_name, old_gold),
            ("plain", q, new_gold, new_name, old_gold),
        ):
            questions.append(QAItem(q=question, a=gold, src=[src], tag=f"{kind}|{'||'.join(other)}"))
    return questions


def score_dated(rows: Sequence[dict], items: Sequence[QAItem]) -> dict[str, dict[str, float]]:
    """Per kind (and ``all``): ``right`` (expected copy's figure, not the other's, first citation that copy),
    ``answer`` (expected figure in the answer), ``first_citation`` and ``dated`` (the answer names a date),
    as shares of that kind's questions. ``rows`` are :func:`rag.evaluation.evaluate`'s per-question rows."""
    names = ("right", "answer", "first_citation", "dated")
    outcomes: dict[str, list[tuple[bool, ...]]] = {k: [] for k in (*KINDS, "all")}
    for row, item in zip(rows, items, strict=True):
        kind, _, other = item.tag.partition("|")
        answer = str(row["answer"]) if row["found"] else ""
        has = bool(answer) and _contains(answer, item.a)
        wrong = bool(answer) and _contains(answer, other.split("||"))
        first = bool(row.get("first_source"))
        dated = bool(re.search(r"\d{4}-\d{2}-\d{2}|\d{4}年", answer))
        for key in (kind, "all"):
            outcomes[key].append((has and not wrong and first, has, first, dated))
    return {k: {"questions": len(t), **{name: sum(o[i] for o in t) / max(len(t), 1) for i, name in enumerate(names)}}
            for k, t in outcomes.items()}
