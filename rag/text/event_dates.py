"""Dates: metadata date values to ISO, ISO dates to day numbers, and the dates a text mentions (event dates).

Pure functions, no I/O.

* :func:`iso_date` reads one metadata value (a sidecar ``published``, an HTML ``<meta>``, a PDF ``/CreationDate``,
  a path pattern's groups) as ISO ``YYYY-MM-DD``: ``2021-12-31``, ``2021-12-31T08:00:00+08:00`` (the date as
  written, no time-zone shift), ``2021/12/31``, ``2021.12.31``, ``20211231``, ``2021年12月31日``, PDF dates
  ``D:20211231083000+08'00'``. Impossible dates (``2021-13-45``, ``2021-02-29``) and years outside 1900-2100 are
  None.
* :func:`day_number` turns an ISO date into the integer ``YYYYMMDD`` that Chroma's ``$gte``/``$lte`` compare;
  0 stands for unknown.
* :func:`event_dates` finds the dates a chunk of text mentions: full dates (``2020年11月20日``, ``2021-12-31``),
  year-months (``2022年3月``: the whole month), years (``2022年``, ``2022年度``: the whole year) and month-days
  without a year (``12月29日上午``, ``8月13日``), which are resolved against the article's publication date: the
  year that puts the day nearest to it (``12月29日`` in a paper of 2022-01-02 is 2021-12-29). Without a
  publication date a month-day is left out, never guessed. Relative words (``昨日``, ``今年``) are not read.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

#: Dates kept in a chunk's ``event_dates`` at most (the earliest ones; ``event_min``/``event_max`` cover all).
MAX_EVENT_DATES = 20
MIN_YEAR, MAX_YEAR = 1900, 2100

_ISO_VALUE = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})(?:\s*日|(?=$|[T\s_]))")
#: ``20211231`` alone or before a time (``T0800``), and PDF dates ``D:YYYYMMDDHHmmSS…``.
_COMPACT_VALUE = re.compile(r"^\s*(?:D:(\d{4})(\d{2})(\d{2})|(\d{4})(\d{2})(\d{2})(?=$|[T\s_]))")

_FULL = re.compile(
    r"(?<!\d)(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]"
    r"|(?<![\d.])(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?![\d.])"
)
_YEAR_MONTH = re.compile(r"(?<!\d)(\d{4})\s*年\s*(\d{1,2})\s*月(?!\s*\d{1,2}\s*[日号])")
_YEAR = re.compile(r"(?<![\d.])(\d{4})\s*年(?!\s*\d{1,2}\s*月)")
_MONTH_DAY = re.compile(r"(?<![\d.年])(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]")


def make_date(year: int, month: int, day: int) -> date | None:
    """The date, or None when it does not exist or the year is outside ``MIN_YEAR``-``MAX_YEAR``."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def iso_date(value: object) -> str | None:
    """A metadata value (see the module docstring; also a ``datetime.date``) as ISO ``YYYY-MM-DD``, or None."""
    if isinstance(value, date):
        found: date | None = date(value.year, value.month, value.day)
    elif isinstance(value, str):
        match = _ISO_VALUE.match(value) or _COMPACT_VALUE.match(value)
        found = make_date(*(int(g) for g in match.groups() if g is not None)) if match else None
    else:
        return None
    return found.isoformat() if found and MIN_YEAR <= found.year <= MAX_YEAR else None


def day_number(iso: str | None) -> int:
    """``2021-12-31`` -> ``20211231``; None or a malformed value -> 0 (unknown)."""
    if not iso or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", iso):
        return 0
    return int(iso.replace("-", ""))


def date_number(value: date) -> int:
    """``date(2021, 12, 31)`` -> ``20211231``, the integer of :func:`day_number` for a ``date``."""
    return value.year * 10000 + value.month * 100 + value.day


def resolve_month_day(month: int, day: int, published: date) -> date | None:
    """The date ``month``/``day`` nearest to ``published`` (in its year, the one before or the one after)."""
    candidates = [d for y in (published.year - 1, published.year, published.year + 1)
                  if (d := make_date(y, month, day)) is not None]
    return min(candidates, key=lambda d: abs((d - published).days)) if candidates else None


@dataclass(frozen=True)
class EventDates:
    """Dates a text mentions.

    Attributes:
        dates: day-precise dates (ISO), sorted, unique, at most :data:`MAX_EVENT_DATES`.
        first, last: ``YYYYMMDD`` of the earliest / latest day any mention covers (a year mention covers its
            whole year, a year-month its month); 0 when there is none.
    """

    dates: tuple[str, ...] = ()
    first: int = 0
    last: int = 0

    def metadata(self) -> dict[str, str | int]:
        """The chunk metadata: ``event_dates`` (space-separated), ``event_min``, ``event_max``."""
        return {"event_dates": " ".join(self.dates), "event_min": self.first, "event_max": self.last}


def event_dates(text: str, published: str | None = None) -> EventDates:
    """The dates ``text`` mentions (see the module docstring); ``published``: the article's ISO date or None."""
    pub = date.fromisoformat(published) if iso_date(published) == published and published else None
    days: set[date] = set()
    spans: list[tuple[date, date]] = []
    taken = [False] * len(text)

    def claim(match: re.Match[str]) -> bool:
        if any(taken[match.start():match.end()]):
            return False
        taken[match.start():match.end()] = [True] * (match.end() - match.start())
        return True

    for match in _FULL.finditer(text):
        groups = [g for g in match.groups() if g is not None]
        found = make_date(*(int(g) for g in groups))
        if found and claim(match):
            days.add(found)
    for match in _YEAR_MONTH.finditer(text):
        year, month = int(match.group(1)), int(match.group(2))
        if make_date(year, month, 1) and claim(match):
            spans.append((date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])))
    for match in _YEAR.finditer(text):
        year = int(match.group(1))
        if make_date(year, 1, 1) and claim(match):
            spans.append((date(year, 1, 1), date(year, 12, 31)))
    if pub is not None:
        for match in _MONTH_DAY.finditer(text):
            found = resolve_month_day(int(match.group(1)), int(match.group(2)), pub)
            if found and claim(match):
                days.add(found)
    spans.extend((d, d) for d in days)
    if not spans:
        return EventDates()
    ordered = sorted(days)[:MAX_EVENT_DATES]
    return EventDates(tuple(d.isoformat() for d in ordered), date_number(min(s for s, _ in spans)),
                      date_number(max(e for _, e in spans)))
