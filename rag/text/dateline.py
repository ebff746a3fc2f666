"""Report datelines: the metadata a scraped or wire report carries before its text, kept out of titles and answers.

Online and wire reports reach an archive as the site printed them: a header with the publication time and outlet,
``2023-08-16 17:27，正文：…``, ``来源：中国新闻网 | 2023年08月16日 21:47:11，正文：…``, ``发布时间：2023-07-26 07:22:40``,
sometimes an ``原标题：…`` run straight into the body, and a lead naming the outlet (``中新网合肥8月16日电 (记者 张强)``,
``IT之家 8 月 16 日消息``, ``【环球网报道】``). :func:`parse_dateline` splits that header off a page and returns what it
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

#: Longest header (characters before ``正文：`` or the first line break) that is read as a dateline.
HEADER_MAX_CHARS = 160
#: Characters a header may keep once its known parts are removed (``来自北京市`` …); more means it is text.
HEADER_RESIDUE_CHARS = 12
#: Longest headline split off a report's first sentence when no ``原标题`` marker says where it ends.
GLUED_TITLE_MAX_CHARS = 40
#: Shortest headline split off without a marker (a shorter prefix is a phrase such as 当地时间).
GLUED_TITLE_MIN_CHARS = 8
#: Longest ``原标题`` headline (characters).
ORIGINAL_TITLE_MAX_CHARS = 80

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

_OUTLET = r"(?:(?!据)[\u4e00-\u9fffA-Za-z]){1,10}?(?:网|社|报|台|之家|客户端|经纬|新闻|消息)"  # 据 starts an attribution, never a name
#: A lead naming the outlet: 中新网合肥8月16日电, 人民网北京8月16日电, IT之家 8 月 16 日消息, 深圳新闻网2023年8月8日讯,
#: 羊城晚报讯, 【环球网报道】, 央视网消息：. Group ``outlet`` is the outlet's name.
_LEAD = re.compile(
    rf"^[【\[]?\s*(?P<outlet>{_OUTLET})\s*(?:[\u4e00-\u9fff]{{0,8}}?\s*)?"
    r"(?:(?:\d{4}\s*年\s*)?\d{1,2}\s*月\s*\d{1,2}\s*日\s*)?(?:电|讯|消息|报道|快讯)\s*[】\]]?"
    r"\s*(?:[(（][^()（）]{0,40}[)）])?\s*[:：，,]?\s*"
)
_ORIGINAL_TITLE = re.compile(r"^原标题\s*[:：]\s*")
#: Where a report's own text starts after a headline run into it: a lead, a time phrase, an attribution.
#: Outlets a lead names inside run-on text, where the start of a free-form name cannot be told from the headline
#: before it: the national wire services and sites, and names ending in a distinctive newspaper suffix.
_KNOWN_OUTLETS = (
    "新华社|新华网|中新社|中新网|人民网|央视网|央广网|中国新闻网|环球网|海外网|澎湃新闻|新京报|中新经纬|参考消息网"
    "|光明网|中国网|国际在线|正义网|中青网|界面新闻|红星新闻|封面新闻|极目新闻|IT之家"
    "|中国证券网|中证网|上证报|证券时报|第一财经|财联社|人民日报|光明日报|经济日报|环球时报|南方日报|南都|羊城晚报"
    "|红网|观点网|华声在线"
)
_RUN_ON_OUTLET = rf"(?:{_KNOWN_OUTLETS}|[\u4e00-\u9fff]{{2,4}}(?:日报|晚报|都市报|商报|新闻网|客户端))"
#: An undated ``…讯`` lead's outlet where its start can be told: a known name or a short one (中证网, 观点网, 甘州融媒).
_SHORT_OUTLET = rf"(?:{_KNOWN_OUTLETS}|(?:(?!本报)[\u4e00-\u9fff]){{1,2}}[网报]|[\u4e00-\u9fff]{{2}}(?:日报|晚报|融媒|新闻))"
# A web page's photo caption (▲/△ ...) scraped into the text before the next sentence, ending at its credit.
_GLUED_CAPTION = re.compile(
    r"^[△▲]\s*[^。！？]{0,60}?(?:（[^（）]{1,16}）|图源[:：\s]\s*[^，。]{1,20}?(?:客户端|官网|网站|网|社))\s*")
_STRONG_OPENER = re.compile(
    rf"{_RUN_ON_OUTLET}[\u4e00-\u9fff]{{0,6}}?\s*\d{{1,2}}\s*月\s*\d{{1,2}}\s*日\s*(?:电|讯|消息|报道)"
    r"|本报讯|据[\u4e00-\u9fffA-Za-z·]{2,16}?(?:\d{1,2}月\d{1,2}日|\d{1,2}日)?(?:报道|消息|介绍|通报|发布)"
    r"|\d{1,2}月\d{1,2}日(?:[，,]|[上下]午|晚上?|凌晨|早上?|中午|\d{1,2}时)"
)
_WEAK_OPENER = re.compile(
    r"近日|日前|昨日|昨天|今天|今日|当地时间|记者[\u4e00-\u9fff]{0,6}(?:获悉|了解|从)|截至|本文转自|[↑▲△]"
)
#: Where a headline printed without punctuation before its text ends at the next block: a run of spaces (layout
#: padding) or a byline or source label (来源：, 文/, 每经记者：). An outlet's lead run into the headline
#: (…发展壮大南方日报讯) is left alone: where the outlet's name starts is not known.
_BLOCK_OPENER = re.compile(
    r"[ \u3000\u00a0]{3,}"
    r"|(?:来源|作者)[：:]|(?<![\u4e00-\u9fff])文/|每经(?:记者|编辑)[：:]|本平台"
)
#: Where an ``原标题`` headline printed without punctuation ends at its byline: an outlet's lead or reporter credit
#: (极目新闻记者 王峻, 本报香港8月10日电, 中证网讯（记者 倪铭娅）, 南都讯记者…, 【环球网报道】, 记者 王文彬 通讯员 …).
_BYLINE_OPENER = re.compile(
    rf"(?:{_KNOWN_OUTLETS}|本报)[\u4e00-\u9fff]{{0,4}}?(?:\d{{1,2}}月\d{{1,2}}日)?(?:电|讯|记者|[（(【])"
    rf"|{_SHORT_OUTLET}讯(?:\s|[（(:：]|记者)"
    r"|[（(]\s*(?:文/图\s*)?(?:见习|实习|特约)?(?:记者|通讯员)"
    r"|【[^】]{0,20}(?:报道|记者|讯|电|稿)"
    r"|(?:见习|实习|特约|全媒体)?记者\s*[\u4e00-\u9fff]{2,3}\s*(?:通讯员|实习生|\s)"
)
#: A byline, lead or second dateline left at the end of an ``原标题`` headline: 新京报讯, 华声在线8月3日讯（,
#: 【环球网报道 见习记者 X】, …客户端 | 记者 X, 2023-08-01 20:08:01.
_TRAILING_BYLINE = re.compile(
    r"(?:【[^】]{0,30}】|[\u4e00-\u9fffA-Za-z]{0,10}[|｜\s]*(?:见习|实习|特约)?记者[\u4e00-\u9fff\s·]{0,20}"
    r"|通讯员[\u4e00-\u9fff\s·]{0,20}|[文图、]{1,3}/"
    rf"|(?:{_KNOWN_OUTLETS}|[\u4e00-\u9fff]{{2}}(?:都市报|日报|晚报))(?:客户端)?[\s|｜\-]*"  # 楚天都市报 |, 河南日报客户端
    rf"|(?:(?:{_KNOWN_OUTLETS})[\u4e00-\u9fff]{{0,10}})?\d{{1,2}}月\d{{1,2}}日电"  # a dated lead: …共克时艰8月16日电, 新华社澳大利亚…7月27日电
    r"|\d{4}-\d{1,2}-\d{1,2}\s*\d{1,2}:\d{2}(?::\d{2})?"  # a second dateline
    rf"|{_SHORT_OUTLET}讯|[\u4e00-\u9fff]{{2,4}}\d{{1,2}}月\d{{1,2}}日讯[（(]?"  # a lead (a dated one names a short outlet)
    r"|[\u4e00-\u9fffA-Za-z]{2,10}获悉)$"
)
#: A prefix that is no headline: a byline (记者 X), a phrase that opens a sentence, a year cut from its date.
_NOT_A_HEADLINE = re.compile(r"[。！？!?；;：:|｜【】]|来源|消息|记者|通讯员|编辑|摄|^[“\"「]|^(?:当地时间|据|受|这|今天|昨天)"
    r"|(?:显示|获悉|报道|表示|称|[年\d、，,）)])$"
)
#: Characters a headline does not end with (a continuing sentence does): 于8月4日, 在近日.
_CONTINUES = set("于在从至到的是和与及对向把将被为由自据")


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
    marked = bool(_ORIGINAL_TITLE.match(body))
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
        opening = _LEAD.match(body)
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


def lead_outlet(text: str) -> str | None:
    """The outlet a report's lead names (``中新网`` of ``中新网合肥8月16日电 (记者 张强)``), or None."""
    match = _LEAD.match(text)
    if not match:
        return None
    outlet = match.group("outlet")
    # 本报讯 names no outlet; a one-word 消息 is no outlet either.
    return None if outlet in ("本报", "消息", "新闻") or len(outlet) < 2 else outlet


def strip_lead(sentence: str) -> str:
    """``sentence`` without an opening outlet lead, leftover dateline (``，正文：``), a photo caption run into it up to
    its credit (``▲俄海军登陆舰…号（美联社）``, ``△视频截图 图源：央视新闻客户端``) or a sub-headline run into it
    (``乌称重创俄登陆舰，俄方发声据路透社8月4日报道，…``, :func:`split_headline`): how an answer should read."""
    caption = _GLUED_CAPTION.match(sentence)
    if caption and caption.end() < len(sentence):
        sentence = sentence[caption.end():]
    match = _LEAD.match(sentence)
    if match and match.end() < len(sentence) and lead_outlet(sentence):
        sentence = sentence[match.end():]
    header, body = _split_header(sentence)
    sentence = body if header is not None and body else sentence
    headline, rest = split_headline(sentence)
    return rest if headline and rest else sentence


def split_headline(body: str) -> tuple[str | None, str]:
    """``(headline, rest)`` when ``body`` opens with a headline run into its text, else ``(None, body)``.

    With an ``原标题：`` marker the headline ends where it is repeated, or where the report's own text opens
    (a lead, a time phrase such as ``近日``/``8月18日，``, an attribution ``据路透社报道``), or at the first sentence
    end. Without a marker only a strong opener (a lead, a dated attribution, a dated time phrase) within
    :data:`GLUED_TITLE_MAX_CHARS` characters, after a headline-final character, splits the text.
    """
    marker = _ORIGINAL_TITLE.match(body)
    if marker:
        rest = body[marker.end():]
        title, after = _repeated_title(rest)
        if title is None:
            cut = _opener_at(rest, (_STRONG_OPENER, _WEAK_OPENER, _BLOCK_OPENER, _BYLINE_OPENER),
                             ORIGINAL_TITLE_MAX_CHARS)
            if cut is None:
                cut = _first_sentence_end(rest, ORIGINAL_TITLE_MAX_CHARS)
            if cut is None:
                return None, rest
            cut = _snap_to_sentence_end(rest, cut)
            title, after = rest[:cut], rest[cut:]
        return _without_byline(title), after.lstrip(" ，,\u3000")
    title, after = _repeated_title(body)
    if title is not None:
        return title.strip(), after.lstrip(" ，,\u3000")
    if _LEAD.match(body):  # the text opens with its lead: no headline before it
        return None, body
    cut = _opener_at(body, (_STRONG_OPENER,), GLUED_TITLE_MAX_CHARS)
    if cut is None or cut < GLUED_TITLE_MIN_CHARS or _NOT_A_HEADLINE.search(body[:cut].strip()):
        return None, body
    return body[:cut].strip(" ，,"), body[cut:]


def _without_byline(title: str) -> str:
    """``title`` without the bylines, leads and outlet names left at its end (:data:`_TRAILING_BYLINE`, repeated:
    ``…楚天都市报 | 极目新闻记者 X`` has two)."""
    title = title.strip()
    while (shorter := _TRAILING_BYLINE.sub("", title)) != title:
        title = shorter.strip(" |｜-")
    return title.strip(" ，,|｜-")


def _snap_to_sentence_end(text: str, cut: int) -> int:
    """``cut`` moved back to a sentence end 1-2 characters before it: an outlet's name whose start the byline
    pattern could not tell (``…上线啦！正义之声网讯``) is not left on the headline."""
    ends = [m.end() for m in re.finditer(r"[。！？!?]", text[:cut])]
    if not ends or ends[-1] < 4 or not 0 < cut - ends[-1] <= 2 or not text[ends[-1]:cut].strip("”’」』\"'"):
        return cut
    return ends[-1]


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
    for pattern, short_year in ((_FULL_DATE, False), (_COMPACT_DATE, False), (_SHORT_YEAR_DATE, True)):
        match = pattern.search(header)
        if match:
            year, month, day = (int(g) for g in match.groups())
            if short_year:
                year += 2000
            if 1900 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31:
                published = f"{year:04d}-{month:02d}-{day:02d}"
                break
    clock = None
    time_match = _TIME.search(header)
    if time_match and int(time_match.group(1)) < 24 and int(time_match.group(2)) < 60:
        clock = time_match.group(0)
    source = _SOURCE_LABEL.search(header)
    return published, clock, source.group(1) if source else None


def _repeated_title(text: str) -> tuple[str | None, str]:
    """A headline printed twice at the start (``标题标题 正文``): ``(headline, text after both)``."""
    limit = min(ORIGINAL_TITLE_MAX_CHARS, len(text) // 2)
    for length in range(limit, 3, -1):
        head = text[:length]
        after = text[length:].lstrip(" \u3000\u00a0")
        name = head.strip()
        # Both copies on one line, the second standing alone (a space or a line end after it): a headline block.
        # A title line above a sentence that opens with the same words (尤金袋鼠\n\n尤金袋鼠（…）是…) is no repeat.
        if "\n" not in head and len(name) >= 4 and after.startswith(name) and after[len(name):len(name) + 1] in (
                " ", "\u3000", "\u00a0", "\n", ""):
            return head, after[len(name):]
    return None, text


def _opener_at(text: str, patterns: tuple[re.Pattern[str], ...], limit: int) -> int | None:
    """The first position in ``text[4:limit]`` where one of ``patterns`` opens the report's own text."""
    best = None
    for pattern in patterns:
        for match in pattern.finditer(text, 4, limit + 1):
            if text[match.start() - 1] in _CONTINUES:
                continue
            if best is None or match.start() < best:
                best = match.start()
            break
    return best


def _first_sentence_end(text: str, limit: int) -> int | None:
    match = re.search(r"[。！？!?]", text[:limit])
    return match.end() if match else None
