"""Time expressions in questions: ``2021年``, ``去年``, ``上个月``, ``最近``, ``最新`` as a date range and a recency wish.

A newsroom question names its time the way people do: absolute (``2021年``, ``2021年12月``, ``2021-12-31``) or
relative (``今年``, ``去年``, ``前年``, ``本月``, ``上个月``, ``本周``, ``上周``, ``今天``, ``昨天``, ``近三年``,
``近30天``, ``最近一周``). :func:`parse_time_expression` turns the first such expression into an inclusive
:class:`TimeScope` relative to a reference day: the newest article in the corpus, or the ``today`` setting (an
archive is read as of its last issue: ``今年`` over a 2021 archive is 2021, not the calendar year of the reader).
``最新``, ``最近``, ``目前``, ``现在``, ``如今`` alone set ``prefer_latest`` without a range: when several reports
answer, the newest is preferred.

Ranges are calendar ranges (a month is its first to last day; ``近三年`` is the three years ending on the
reference day). The rules are our own; expressions are matched on normalised text (half-width digits, simplified).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

#: See :attr:`TimeScope.recency`.
Recency = Literal["auto", "latest", "off"]

_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10,
              "半": 0}
_NUM = r"(\d{1,3}|[一二两三四五六七八九十]{1,3}|半)"
_UNIT_DAYS = {"天": 1, "日": 1, "周": 7, "星期": 7}

_DAY = re.compile(r"(?<!\d)((?:19|20)\d{2})\s*(?:年|[-/.])\s*(\d{1,2})\s*(?:月|[-/.])\s*(\d{1,2})\s*日?")
_MONTH = re.compile(r"(?<!\d)((?:19|20)\d{2})\s*年\s*(\d{1,2})\s*月(?![份]?\s*\d)")
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})\s*年(?!代)")
_RECENT_SPAN = re.compile(rf"(?:最近|近|过去|前)\s*{_NUM}\s*(?:个)?\s*(年|月|周|星期|天|日)")
#: After a date: an open end. ``2019年以来`` / ``至今`` / ``起`` / ``以后`` run to the present (since the date),
#: ``以前`` / ``之前`` from the beginning (until it). Both ends are kept inclusive, the safe side for a filter.
_SINCE = re.compile(r"\s*(?:以来|至今|迄今|起(?![草步])|以后|之后)")
_UNTIL = re.compile(r"\s*(?:以前|之前)")
_LATEST = re.compile(r"最新|最近|近期|目前|现在|如今|当前|眼下|近来")
#: Recency phrasing about the reports themselves, removed from the query (据最新报道，/ 最新消息称): reports never
#: say it of themselves. Words such as 目前 or 最新 alone stay: texts say them too (目前支援的语言有…).
_LATEST_PHRASE = re.compile(
    r"(?:据|根据)?(?:最新|最近|近期)(?:的)?(?:报道|消息|通报)(?:中|称|显示|指出)?[，,：:]?"
)


@dataclass(frozen=True)
class TimeScope:
    """What a question says about time: ``since``..``until`` (inclusive dates, either may be None), whether it asks
    for the newest report (``prefer_latest``) and the ``expression`` matched (for logs and replies)."""

    since: date | None = None
    until: date | None = None
    prefer_latest: bool = False
    expression: str = ""
    #: The question without its relative time words (``去年``, ``最新报道中``): the words retrieval and answer
    #: scoring should look for (a report says 2022年 or 今年 relative to its own date, never the reader's 去年).
    query: str = ""

    @property
    def has_range(self) -> bool:
        return self.since is not None or self.until is not None

    @property
    def iso_range(self) -> tuple[str, str] | None:
        """``(since, until)`` as ISO strings (``""`` / ``"9999"`` for an open end), None without a range."""
        if not self.has_range:
            return None
        return (self.since.isoformat() if self.since else "", self.until.isoformat() if self.until else "9999")

    @property
    def recency(self) -> Recency:
        """How the answerer weighs newer reports: ``latest`` when asked for the newest, ``off`` when the question
        names its own time (its range decides), else ``auto`` (the newest when dated sources disagree)."""
        return "latest" if self.prefer_latest else ("off" if self.has_range else "auto")


def _count(token: str) -> int:
    if token.isdigit():
        return int(token)
    if len(token) == 1:  # 半 is 0
        return _CN_DIGITS[token]
    if token.startswith("十"):  # 十二
        return 10 + _CN_DIGITS.get(token[1:], 0)
    head, _, tail = token.partition("十")  # 二十, 二十三
    return _CN_DIGITS.get(head, 1) * 10 + (_CN_DIGITS.get(tail, 0) if tail else 0)


def _month_range(year: int, month: int) -> tuple[date, date] | None:
    if not 1 <= month <= 12:
        return None
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _shift_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _relative(text: str, ref: date) -> tuple[date, date, str] | None:
    """The first relative expression of ``text`` as ``(since, until, expression)``."""
    found: list[tuple[int, date, date, str]] = []

    def add(pattern: str, since: date, until: date) -> None:
        pos = text.find(pattern)
        if pos >= 0:
            found.append((pos, since, until, pattern))

    for word, years in (("今年", 0), ("本年", 0), ("去年", 1), ("前年", 2)):
        pos = text.find(word)
        if pos >= 0:
            lo, hi, part = _part_of_year(ref.year - years, text[pos + len(word):])
            found.append((pos, lo, hi, word + part))
    last = _shift_months(date(ref.year, ref.month, 1), -1)
    this_month, last_month = _month_range(ref.year, ref.month), _month_range(last.year, last.month)
    assert this_month is not None and last_month is not None  # months of real dates
    monday, yesterday = ref - timedelta(days=ref.weekday()), ref - timedelta(days=1)
    for words, span in ((("本月", "这个月", "当月"), this_month), (("上个月", "上月"), last_month),
                        (("本周", "这周", "这星期", "本星期"), (monday, monday + timedelta(days=6))),
                        (("上周", "上星期", "上个星期"), (monday - timedelta(days=7), monday - timedelta(days=1))),
                        (("今天", "今日"), (ref, ref)), (("昨天", "昨日"), (yesterday, yesterday))):
        for word in words:
            add(word, *span)
    for m in _RECENT_SPAN.finditer(text):
        n, unit = _count(m.group(1)), m.group(2)
        if unit == "年":
            since = _shift_months(ref, -12 * n if n else -6)  # clamps 29 February to the 28th
        elif unit == "月":
            since = _shift_months(ref, -n) if n else ref - timedelta(days=15)
        else:
            since = ref - timedelta(days=max(n, 1) * _UNIT_DAYS[unit])
        found.append((m.start(), since + timedelta(days=1), ref, m.group(0)))
    if not found:
        return None
    _pos, since, until, expression = min(found, key=lambda f: f[0])
    return since, until, expression


_HALF = re.compile(r"^\s*(?:的)?\s*(上半年|下半年|(?:第)?([一二三四1-4])季度|底|末|初(?![步次级中]))")
_QUARTER = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4}
#: First and last month of a part of a year: 年底 / 年末 are our reading, the last two months; 年初 (not 初步,
#: 初次 ...) the first two.
_PARTS = {"上半年": (1, 6), "下半年": (7, 12), "底": (11, 12), "末": (11, 12), "初": (1, 2)}


def _part_of_year(year: int, rest: str) -> tuple[date, date, str]:
    """``(since, until, words)``: the part of ``year`` that ``rest`` (the text right after it) names, ``上半年`` /
    ``下半年`` / ``第三季度`` / ``底`` / ``初`` (年底 and 年末 the last two months, 年初 the first two), else the
    whole year (``words`` empty)."""
    m = _HALF.match(rest)
    if not m:
        return date(year, 1, 1), date(year, 12, 31), ""
    first, last = _PARTS.get(m.group(1)) or (3 * _QUARTER[m.group(2)] - 2, 3 * _QUARTER[m.group(2)])
    return date(year, first, 1), date(year, last, calendar.monthrange(year, last)[1]), m.group(0)


def _absolute(text: str) -> tuple[date | None, date | None, str] | None:
    """Every absolute date, month and year of ``text`` (``1990年3月至1991年2月``: both ends) as one span; one date
    followed by ``以来`` (``至今``, ``起``...) or ``以前`` leaves the other end open (None)."""
    spans: list[tuple[int, int, date, date]] = []
    taken: list[tuple[int, int]] = []

    def free(m: re.Match[str]) -> bool:
        return all(m.end() <= a or m.start() >= b for a, b in taken)

    for m in _DAY.finditer(text):
        try:
            day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            continue
        spans.append((m.start(), m.end(), day, day))
        taken.append((m.start(), m.end()))
    for m in _MONTH.finditer(text):
        month = _month_range(int(m.group(1)), int(m.group(2)))
        if month is not None and free(m):
            spans.append((m.start(), m.end(), *month))
            taken.append((m.start(), m.end()))
    for m in _YEAR.finditer(text):
        if not free(m):
            continue
        lo, hi, part = _part_of_year(int(m.group(1)), text[m.end():])
        spans.append((m.start(), m.end() + len(part), lo, hi))
        taken.append((m.start(), m.end()))
    if not spans:
        return None
    spans.sort()
    since: date | None = min(s[2] for s in spans)
    until: date | None = max(s[3] for s in spans)
    end = spans[-1][1]
    if len(spans) == 1 and (tail := _SINCE.match(text, end)):
        until, end = None, tail.end()
    elif len(spans) == 1 and (tail := _UNTIL.match(text, end)):
        since, end = None, tail.end()
    return since, until, text[spans[0][0]: end]


def parse_time_expression(question: str, reference: date) -> TimeScope:
    """The time a question asks about, relative to ``reference`` (the newest article's date or the ``today``
    setting). ``question`` should be normalised (:func:`rag.text.normalize.normalize`). Absolute dates win over
    relative ones, and several of them (``2016年至2020年间``) make one span; impossible dates (``2021年13月``) are
    ignored. Returns an empty scope when the question names no time."""
    latest = bool(_LATEST.search(question))
    query = _LATEST_PHRASE.sub("", question).strip(" ，,") or question
    absolute = _absolute(question)
    if absolute is not None:
        return TimeScope(absolute[0], absolute[1], latest, absolute[2], query)
    relative = _relative(question, reference)
    if relative is not None:
        since, until, expression = relative
        cleaned = query.replace(expression, "", 1).strip(" ，,的") or query
        return TimeScope(since, until, latest, expression, cleaned)
    return TimeScope(prefer_latest=latest, expression=m.group(0) if (m := _LATEST.search(question)) else "",
                     query=query)
