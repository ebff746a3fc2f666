"""Report datelines: the metadata a scraped or wire report carries before its text, kept out of titles and answers.

Online and wire reports reach an archive as the site printed them: a header with the publication time and outlet,
``2023-08-16 17:27，正文：…``, ``来源：中国新闻网 | 2023年08月16日 21:47:11，正文：…``, ``发布时间：2023-07-26 07:22:40``,
sometimes an ``原标题：…`` run straight into the body, and a lead naming the outlet (``中新网兰州5月3日电 (记者 李明)``,
``IT之家 5 月 3 日消息``, ``【环球网报道】``). :func:`parse_dateline` splits that header off a page and returns what it
says: the publication date (ISO ``YYYY-MM-DD``, only when the header gives a year: a bare ``7-20 17:56`` stays
unknown), the outlet and the original headline, each with the place it came from (``dateline``, ``lead``).

A header is accepted only when, once its dates, times, outlet labels, URLs and breadcrumbs are taken out, at most
:data:`HEADER_RESIDUE_CHARS` characters remain, so article text is never mistaken for one. The rules are our own,
measured on the CRUD-RAG news archive (Lyu et al., 2024) and checked against the sample newspaper pages, where they
must change nothing; lengths are in characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.text.event_dates import make_date
from rag.text.headline import LEAD, ORIGINAL_TITLE, lead_outlet, split_headline

#: Longest header (characters before ``正文：`` or the first line break) that is read as a dateline.
HEADER_MAX_CHARS = 160
#: Characters a header may keep once its known parts are removed (``来自北京市`` …); more means it is text.
HEADER_RESIDUE_CHARS = 12

_BODY_MARKER = re.compile(r"[，,\s]*正文[:：]")
_FULL_DATE = re.compile(r"(?<!\d)(\d{4})\s*[-/年.]\s*(\d{1,2})\s*[-/月.]\s*(\d{1,2})\s*日?")
_COMPACT_DATE = re.compile(r"(?<!\d)(20\d{2})(\d{2})/?(\d{2})(?!\d)")
_SHORT_YEAR_DATE = re.compile(r"(?<![\d/-])(\d{2})-(\d{2})-(\d{2})(?![\d-])")
_MONTH_DAY = re.compile(r"(?<![\d-])(\d{1,2})\s*[-/月]\s*(\d{1,2})(?![\d-])\s*日?")
_TIME = re.compile(r"(?<!\d)(\d{1,2}):(\d{2})(?::(\d{2}))?(?!\d)")
_SOURCE_LABEL = re.compile(r"(?:来源|稿源|出处)\s*[:：]\s*([^\s|｜，,:：\[\]]{2,20})")
_FROM_LABEL = re.compile(r"来自\s*[\u4e00-\u9fff]{2,10}")
_URL = re.compile(r"(?:https?://|www\.)[\w./\-?=&%#:]+")
_NOISE = re.compile(r"(?:发布|更新|编辑)?时间\s*[:：]|[\[\]【】()（）|｜>＞/\\\-:：,，.\s\u00a0\u3000]")

# A web page's photo caption (▲/△ ...) scraped into the text before the next sentence, ending at its credit.
_GLUED_CAPTION = re.compile(
    r"^[△▲]\s*[^。！？]{0,60}?(?:（[^（）]{1,16}）|图源[:：\s]\s*[^，。]{1,20}?(?:客户端|官网|网站|网|社))\s*")


@dataclass(frozen=True)
class Dateline:
    """What the header and lead of a report say, and the report without its header.

    Attributes:
        body: the text after the header (the whole text when there is none), ``原标题`` marker removed.
        published: ISO date ``YYYY-MM-DD``, or None when no header gives a year.
        time: ``HH:MM`` or ``HH:MM:SS`` from the header, or None.
        publication: the outlet (``中国新闻网``, ``中新网``, ``IT之家``), or None.
        title: the report's headline when the text gives one (``原标题：`` or a headline run into the first
            sentence), else None; ``body`` then starts after it.
        provenance: field name -> where it came from (``dateline``, ``lead``, ``original_title``, ``glued``).
        month_day: ``MM-DD`` when the header (or else the lead, ``中新网北京7月24日电``) gives a day but no year
            (``7-24 19:15，正文：``) and ``published`` is None: :mod:`ingest.dating` may find the year from the
            archive.
    """

    body: str
    published: str | None = None
    time: str | None = None
    publication: str | None = None
    title: str | None = None
    provenance: dict[str, str] = field(default_factory=dict)
    month_day: str | None = None


def parse_dateline(text: str) -> Dateline:
    """Split the dateline header (and a headline run into the text) off ``text``; see the module docstring.

    Never raises; text without a header comes back whole as ``body`` with every field None.
    """
    provenance: dict[str, str] = {}
    stripped = text.lstrip("\ufeff \t\r\n\u3000\u00a0")
    header, body = _split_header(stripped)
    published = clock = publication = None
    if header is not None:
        published, clock, publication = _read_header(header)
        for name, value in (("published", published), ("time", clock), ("publication", publication)):
            if value:
                provenance[name] = "dateline"
    else:
        body = stripped
    body = body.lstrip(" \t\u3000\u00a0")
    marked = bool(ORIGINAL_TITLE.match(body))
    title, body = split_headline(body)
    if title:
        provenance["title"] = "original_title" if marked else "glued"
    if publication is None:
        lead = lead_outlet(body)
        if lead:
            publication = lead
            provenance["publication"] = "lead"
    month_day = None
    if published is None:
        month_day = _month_day(header) if header is not None else None
        opening = LEAD.match(body)
        month_day = month_day or (_month_day(opening.group(0)) if opening else None)
    if header is None and not title:
        return Dateline(body=text, publication=publication, provenance=provenance, month_day=month_day)
    return Dateline(body=body, published=published, time=clock, publication=publication, title=title,
                    provenance=provenance, month_day=month_day)


def _month_day(text: str) -> str | None:
    """``MM-DD`` of the first month-day in ``text`` (``7-24``, ``07/19``, ``7月24日``), or None."""
    match = _MONTH_DAY.search(text)
    if not match or not (1 <= int(match[1]) <= 12 and 1 <= int(match[2]) <= 31):
        return None
    return f"{int(match[1]):02d}-{int(match[2]):02d}"


def strip_lead(sentence: str) -> str:
    """``sentence`` without an opening outlet lead, leftover dateline (``，正文：``), a photo caption run into it up to
    its credit (``▲俄海军登陆舰…号（美联社）``, ``△资料图 图源：某新闻客户端``) or a sub-headline run into it
    (``新桥合龙，通车在即据本报5月3日报道，…``, :func:`split_headline`): how an answer should read."""
    caption = _GLUED_CAPTION.match(sentence)
    if caption and caption.end() < len(sentence):
        sentence = sentence[caption.end():]
    match = LEAD.match(sentence)
    if match and match.end() < len(sentence) and lead_outlet(sentence):
        sentence = sentence[match.end():]
    header, body = _split_header(sentence)
    sentence = body if header is not None and body else sentence
    headline, rest = split_headline(sentence)
    return rest if headline and rest else sentence


def _split_header(text: str) -> tuple[str | None, str]:
    """``(header, body)`` when ``text`` opens with a metadata-only header, else ``(None, text)``."""
    marker = _BODY_MARKER.search(text, 0, HEADER_MAX_CHARS + 8)
    if marker:
        header = text[: marker.start()]
        if _is_metadata(header):
            return header, text[marker.end():]
        return None, text
    newline = text.find("\n")
    first = text if newline < 0 else text[:newline]
    if 0 < len(first) <= HEADER_MAX_CHARS and (_FULL_DATE.search(first) or _TIME.search(first)) \
            and _is_metadata(first) and newline >= 0:
        return first, text[newline + 1:]
    return None, text


def _is_metadata(header: str) -> bool:
    rest = _URL.sub("", header)
    rest = _SOURCE_LABEL.sub("", rest)
    rest = _FROM_LABEL.sub("", rest)
    for pattern in (_FULL_DATE, _COMPACT_DATE, _SHORT_YEAR_DATE, _TIME, _MONTH_DAY):
        rest = pattern.sub("", rest)
    rest = re.sub(r"(?:[\u4e00-\u9fff]{2,8}\s*[>＞]\s*)+[\u4e00-\u9fff]{2,8}", "", rest)  # breadcrumbs
    rest = _NOISE.sub("", rest)
    return len(rest) <= HEADER_RESIDUE_CHARS


def _read_header(header: str) -> tuple[str | None, str | None, str | None]:
    """(ISO date or None, time or None, outlet or None) from a header."""
    published = None
    for pattern, century in ((_FULL_DATE, 0), (_COMPACT_DATE, 0), (_SHORT_YEAR_DATE, 2000)):
        match = pattern.search(header)
        if match and (day := make_date(century + int(match[1]), int(match[2]), int(match[3]))):
            published = day.isoformat()
            break
    clock = None
    time_match = _TIME.search(header)
    if time_match and int(time_match.group(1)) < 24 and int(time_match.group(2)) < 60:
        clock = time_match.group(0)
    source = _SOURCE_LABEL.search(header)
    return published, clock, source.group(1) if source else None

