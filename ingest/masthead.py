"""Masthead lines at the top of a newspaper page: the issue date, the page label and the paper's name.

:func:`read_masthead` looks at the first :data:`MASTHEAD_LINES` non-empty lines of a page (``## `` heading marks
taken off) and only at short ones (at most :data:`MASTHEAD_LINE_MAX_CHARS` characters, no sentence punctuation
such as ``，。；``): a masthead is a few words, article text is sentences. On those lines:

* ``published``: a date printed with its weekday or the lunar date, ``2021年12月31日 星期五``,
  ``2021年12月31日（周五）``, ``2021年12月31日 农历十一月廿八``. A bare date is no masthead: inside article text it
  is an event date, never the publication date (see :mod:`rag.text.event_dates`).
* ``page``: ``第5版`` / ``第05版`` / ``第四版`` -> ``第5版``/``第4版``, ``A3版`` / ``A03版`` as printed, standing as a
  word of the line (not inside text such as ``见今日第四版``).
* ``publication``: a word that is just a newspaper name, ``平顶山日报``, ``焦作日报``, ``大河报``, ``《郑州晚报》``,
  ending in 日报/晚报/早报/报 (not a 通报/简报/喜报-style heading, not 本报).

Pure function, no I/O; the precedence against other sources is in :mod:`ingest.metadata`.
"""

from __future__ import annotations

import re

from ingest.metadata import normalise_page
from rag.text.event_dates import make_date

#: Non-empty lines at the top of a page where a masthead may be.
MASTHEAD_LINES = 15
#: Longest masthead line (characters).
MASTHEAD_LINE_MAX_CHARS = 40

_SENTENCE = re.compile(r"[，。；！？,;!?]")
_DATE = re.compile(
    r"(?<!\d)(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日\s*[（(]?\s*(?:星期|礼拜|周)[一二三四五六日天]"
    r"|(?<!\d)(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日(?=.*(?:农历|夏历))"
)
_PAGE = re.compile(
    r"(?<![\u4e00-\u9fffA-Za-z0-9])(第\s*(?:\d{1,3}|[一二三四五六七八九十]{1,3})\s*版|[A-Za-z]\s*\d{1,3}\s*版)"
)
_NEWSPAPER = re.compile(r"[\u4e00-\u9fff]{2,10}(?:日报|晚报|早报|报)")
_NOT_A_PAPER = ("通报", "简报", "快报", "喜报", "捷报", "海报", "情报", "汇报", "公报", "举报", "预报", "回报",
                "年报", "月报", "周报", "季报", "画报", "电报", "申报", "上报", "呈报", "学报", "板报", "黑板报")


def _masthead_lines(text: str) -> list[str]:
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.strip().removeprefix("##").strip(" \t\u3000\ufeff")
        if not line:
            continue
        lines.append(line)
        if len(lines) >= MASTHEAD_LINES:
            break
    return [line for line in lines if len(line) <= MASTHEAD_LINE_MAX_CHARS and not _SENTENCE.search(line)]


def _newspaper(word: str) -> str | None:
    name = word.strip("《》〈〉「」")
    if not _NEWSPAPER.fullmatch(name) or name.startswith("本报") or name.endswith(_NOT_A_PAPER):
        return None
    return name


def read_masthead(text: str) -> dict[str, str]:
    """``published`` (ISO), ``page`` and ``publication`` a page's masthead lines give (module docstring)."""
    found: dict[str, str] = {}
    for line in _masthead_lines(text):
        date_match = _DATE.search(line)
        if date_match and "published" not in found:
            year, month, day = (int(g) for g in date_match.groups() if g is not None)
            day_of = make_date(year, month, day)
            if day_of:
                found["published"] = day_of.isoformat()
        page_match = _PAGE.search(line)
        if page_match and "page" not in found:
            page = normalise_page(page_match.group(1))
            if page:
                found["page"] = page
        if "publication" not in found:
            name = next((n for word in re.split(r"[\s\u3000·|｜]+", line) if (n := _newspaper(word))), None)
            if name:
                found["publication"] = name
    return found
