"""Archive filters: publication date range and newspaper, applied inside both retrieval legs.

An :class:`ArchiveFilter` holds what a user asked for explicitly (``since``/``until``/``publication`` from REST, CLI
or Telegram: *strict*, only dated articles in the range, only that newspaper) and what the question itself says
(``2021年``, ``去年``: a *scope*, lenient: an article passes when it was printed in the range (or up to
:data:`SCOPE_GRACE_DAYS` after it), when one of its event dates (``event_min``..``event_max``, see
:mod:`rag.text.event_dates`) overlaps it, or when its date is unknown; a reader's ``2022年他被选为…`` is often
printed in 2023, and an undated page must not vanish).

Both legs get the same condition before ranking, never as a post-filter that empties the top-k: the dense leg as a
Chroma ``where`` clause over the integer ``published_day``/``event_min``/``event_max`` metadata (Chroma compares
numbers only), the keyword leg as a row mask over the per-chunk fields of the index segments. Publication names
match by containment after normalisation (``平顶山`` matches ``平顶山日报``), resolved to the exact stored names
first so that Chroma can use ``$in``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any, Protocol

import numpy as np

from rag.errors import InputError
from rag.text.event_dates import date_number
from rag.text.normalize import normalize, normalize_cached


class Segment(Protocol):
    """What a filter reads of a keyword-index segment (:class:`rag.retrieval.segments.Segment`): its chunk count
    and per-field ``(codes (n,) int32, sorted distinct values)``."""

    @property
    def n(self) -> int: ...

    fields: dict[str, tuple[np.ndarray, list[str]]]


#: Days after a question's time range in which a report printed still counts as printed "in" it: reports about a
#: period appear after it (half-year figures in July, the year's review the next spring).
SCOPE_GRACE_DAYS = 184
_FIRST_DAY, _LAST_DAY = date(1, 1, 1), date(9999, 12, 31)


def parse_day(value: str | date | None, name: str) -> date | None:
    """An ISO date (``2021-12-31``; a datetime's date part is taken) or None; raises InputError naming ``name``."""
    if value is None or isinstance(value, date):
        return value
    text = str(value).strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise InputError(f"{name}: not a date (expected YYYY-MM-DD, got {text[:40]!r})") from None


@dataclass(frozen=True)
class ArchiveFilter:
    """Which articles retrieval may return (see the module docstring). Dates are inclusive.

    ``publications`` is the set of stored publication names ``publication`` resolved to (:meth:`resolved`);
    None until resolved.
    """

    since: date | None = None
    until: date | None = None
    publication: str | None = None
    scope_since: date | None = None
    scope_until: date | None = None
    publications: frozenset[str] | None = None

    @classmethod
    def parse(cls, since: str | date | None = None, until: str | date | None = None,
              publication: str | None = None) -> ArchiveFilter:
        """A strict filter from user input; raises InputError naming ``since``/``until`` for a bad date or an empty
        range."""
        lo, hi = parse_day(since, "since"), parse_day(until, "until")
        if lo and hi and lo > hi:
            raise InputError(f"since: {lo.isoformat()} is after until {hi.isoformat()}")
        pub = publication.strip() if isinstance(publication, str) else None
        return cls(lo, hi, pub or None)

    @property
    def strict(self) -> bool:
        return bool(self.since or self.until or self.publication)

    @property
    def scoped(self) -> bool:
        return bool(self.scope_since or self.scope_until)

    def __bool__(self) -> bool:
        return self.strict or self.scoped

    def with_scope(self, since: date | None, until: date | None) -> ArchiveFilter:
        """This filter plus the lenient range a question names."""
        return replace(self, scope_since=since, scope_until=until)

    def resolved(self, known: Iterable[str]) -> ArchiveFilter:
        """``publication`` resolved against the stored publication names ``known`` (containment, normalised)."""
        if not self.publication:
            return self
        wanted = normalize(self.publication)
        # every query resolves against the same stored names: their normal forms come from the cache
        return replace(self, publications=frozenset(p for p in known if wanted in normalize_cached(p)))

    def _scope_days(self) -> tuple[date, date, date]:
        """``(first, last, printed_until)`` of the question's scope: its range (open ends made explicit) and the
        last publication day counted as printed in it (``last`` plus :data:`SCOPE_GRACE_DAYS`)."""
        first, last = self.scope_since or _FIRST_DAY, self.scope_until or _LAST_DAY
        late = _LAST_DAY if last == _LAST_DAY else min(last + timedelta(days=SCOPE_GRACE_DAYS), _LAST_DAY)
        return first, last, late

    # --- the dense leg ----------------------------------------------------------------------------------------
    def chroma_where(self) -> dict[str, Any] | None:
        """The Chroma ``where`` clause of this filter (None when it lets everything through)."""
        clauses: list[dict[str, Any]] = []
        if self.since or self.until:  # strict: undated articles (published_day 0) never pass
            clauses.append({"published_day": {"$gte": date_number(self.since or _FIRST_DAY)}})
        if self.until:
            clauses.append({"published_day": {"$lte": date_number(self.until)}})
        if self.publication:
            names = sorted(self.publications or ())
            clauses.append({"publication": {"$in": names or ["\0no publication matches"]}})
        if self.scoped:
            first, last, late = (date_number(d) for d in self._scope_days())
            printed = [{"published_day": {"$gte": first}}, {"published_day": {"$lte": late}}]
            mentions = [{"event_max": {"$gte": first}}, {"event_min": {"$lte": last}}, {"event_min": {"$gt": 0}}]
            clauses.append({"$or": [{"$and": printed}, {"$and": mentions}, {"published_day": {"$eq": 0}}]})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    # --- the keyword leg --------------------------------------------------------------------------------------
    def row_mask(self, seg: Segment) -> np.ndarray:
        """Boolean ``(seg.n,)``: the segment's chunks this filter lets through (the keyword leg's RowFilter).
        Each predicate runs once per distinct field value, then one gather by the per-chunk value codes."""
        keep = np.ones(seg.n, dtype=bool)
        if self.since or self.until:
            lo, hi = (self.since or _FIRST_DAY).isoformat(), (self.until or _LAST_DAY).isoformat()
            keep &= _value_mask(seg, "published", lambda p: lo <= p[:10] <= hi, absent=False)
        if self.publication:
            names = self.publications or frozenset()
            keep &= _value_mask(seg, "publication", names.__contains__, absent=False)
        if self.scoped:
            first, last, late = self._scope_days()
            lo, late_iso = first.isoformat(), late.isoformat()
            first_n, last_n = date_number(first), date_number(last)
            printed = _value_mask(seg, "published", lambda p: lo <= p[:10] <= late_iso, absent=True)
            # event fields are stored as the strings of their YYYYMMDD numbers (0 = none)
            mentions = (_value_mask(seg, "event_max", lambda e: int(e) >= first_n, absent=False)
                        & _value_mask(seg, "event_min", lambda e: 0 < int(e) <= last_n, absent=False))
            keep &= printed | mentions
        return keep


def _value_mask(seg: Segment, name: str, predicate: Callable[[str], bool], absent: bool) -> np.ndarray:
    """Boolean ``(seg.n,)``: ``predicate`` of each chunk's value of field ``name``; ``absent`` where it has none."""
    if name not in seg.fields:
        return np.full(seg.n, absent, dtype=bool)
    codes, values = seg.fields[name]
    table = np.array([bool(v) and predicate(v) if v else absent for v in values] + [absent], dtype=bool)
    return table[np.asarray(codes)]


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "$eq": lambda a, b: a == b, "$ne": lambda a, b: a != b, "$gt": lambda a, b: a > b, "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b, "$in": lambda a, b: a in b, "$nin": lambda a, b: a not in b,
}


def where_matches(where: Mapping[str, Any], meta: Mapping[str, Any]) -> bool:
    """Whether a record's metadata ``meta`` passes the Chroma ``where`` clause ``where`` (``$and``/``$or`` of
    ``{field: {op: value}}`` or ``{field: value}``, the operators of Chroma's metadata filters); a missing field
    passes only ``$ne``/``$nin``, as in Chroma. Raises ValueError for an operator it does not know."""
    for key, cond in where.items():
        if key in ("$and", "$or"):
            results = (where_matches(part, meta) for part in cond)
            if not (all(results) if key == "$and" else any(results)):
                return False
            continue
        ops = cond if isinstance(cond, Mapping) else {"$eq": cond}
        for op, value in ops.items():
            if op not in _COMPARE:
                raise ValueError(f"where clause: unknown operator {op!r}")
            if key not in meta:
                if op not in ("$ne", "$nin"):
                    return False
                continue
            try:
                if not _COMPARE[op](meta[key], value):
                    return False
            except TypeError:  # a string compared with a number: Chroma matches neither
                return False
    return True

