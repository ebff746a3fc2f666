"""The year of a report whose dateline gives only a day (``7-24 19:15，正文：…``), read off the archive around it.

Scraped reports often carry a month-day without a year (a quarter of the CRUD-RAG archive's reports: 124 headers
such as ``7-24 19:15`` or ``07/19``, 21 more leads such as ``中新网北京7月24日电``). A newsroom's folder of one period
holds many dated reports beside them, so the year is taken from the dated reports *of the same folder* printed
within :data:`WINDOW_DAYS` of that month-day (in any year): when at least :data:`MIN_EVIDENCE` of them are dated
and :data:`MIN_SHARE` of those share one year, that year is given, with ``published_from: archive``. A folder
that mixes years around that day (a ten-year archive in one folder), or has too few dated reports, leaves the
date unknown, as before. The rule and its thresholds are our own.

The evidence is the datelines of every text file the ingest run sees (unchanged files included: the run reads
them for their fingerprints anyway), so the year does not depend on the order files are processed in.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import PurePosixPath

from rag.text.dateline import parse_dateline

#: Days either side of the month-day whose dated reports count (a folder of one period spans weeks).
WINDOW_DAYS = 7
#: Fewest dated reports in the window before a year is given.
MIN_EVIDENCE = 5
#: Least share of those reports printed in one year.
MIN_SHARE = 0.9
#: Characters of a file's start read for its dateline (headers are at most 160, rag.text.dateline).
HEAD_CHARS = 400
#: File suffixes whose start is plain text with a dateline (PDF, HTML and scans give dates by other means).
TEXT_SUFFIXES = frozenset((".txt", ".md", ".text"))


def _folder(source: str) -> str:
    return str(PurePosixPath(source).parent)


class ArchiveDates:
    """Publication dates of dated reports, by folder; :meth:`year_for` reads a year off them (module docstring)."""

    def __init__(self) -> None:
        self._dates: dict[str, Counter[date]] = defaultdict(Counter)
        self._years: dict[str, set[int]] = defaultdict(set)

    def add(self, source: str, published: str) -> None:
        """Count ``published`` (ISO ``YYYY-MM-DD``) for the folder of ``source`` (a source key, ``a/b.txt``);
        a value that is no date is ignored."""
        try:
            printed = date.fromisoformat(published[:10])
        except ValueError:
            return
        folder = _folder(source)
        self._dates[folder][printed] += 1
        self._years[folder].add(printed.year)

    def add_head(self, source: str, data: bytes) -> None:
        """Count the dateline of a text file's first bytes, if it gives a full date (others are ignored).

        The bytes are decoded as UTF-8, dropping what does not decode: the digits of a date survive any ASCII
        compatible encoding."""
        if PurePosixPath(source).suffix.lower() not in TEXT_SUFFIXES:
            return
        head = data[: HEAD_CHARS * 4].decode("utf-8", errors="ignore")[:HEAD_CHARS]
        published = parse_dateline(head).published
        if published:
            self.add(source, published)

    def year_for(self, source: str, month_day: str) -> int | None:
        """The year of a report of ``source``'s folder dated only ``month_day`` (``MM-DD``), or None when the
        folder's dated reports around that day are too few or disagree. Cost: (years in the folder) x 15 lookups."""
        try:
            month, day = (int(x) for x in month_day.split("-"))
        except ValueError:
            return None
        folder = _folder(source)
        dates = self._dates.get(folder)
        if not dates:
            return None
        years: Counter[int] = Counter()
        # Windows of one month-day in different years never overlap; year + 1 catches 12-30 beside 01-02.
        for year in self._years[folder] | {y + 1 for y in self._years[folder]}:
            middle = _same_day_in(year, month, day)
            if middle is None:
                continue
            years[year] += sum(dates.get(middle + timedelta(days=k), 0) for k in range(-WINDOW_DAYS, WINDOW_DAYS + 1))
        total = sum(years.values())
        if total < MIN_EVIDENCE:
            return None
        year, count = years.most_common(1)[0]
        return year if count >= MIN_SHARE * total else None

    def published_for(self, source: str, month_day: str) -> str | None:
        """ISO date of ``month_day`` in the year :meth:`year_for` gives, or None (also for 02-29 of a common year)."""
        year = self.year_for(source, month_day)
        if year is None:
            return None
        month, day = (int(x) for x in month_day.split("-"))
        found = _same_day_in(year, month, day)
        return found.isoformat() if found else None


def _same_day_in(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
