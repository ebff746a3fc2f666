"""Headlines and leads of a report: a headline run into the text split off (``原标题：…`` or glued to the first
sentence, cut where the report's own text or its byline opens), and the outlet a lead names.

Used by :mod:`rag.text.dateline`; the rules are our own, measured on the CRUD-RAG news archive (Lyu et al.,
2024), lengths in characters.
"""

from __future__ import annotations

import re

from rag.text.lexicon import alternation

#: Longest headline split off a report's first sentence when no ``原标题`` marker says where it ends.
GLUED_TITLE_MAX_CHARS = 40
#: Shortest headline split off without a marker (a shorter prefix is a phrase such as 当地时间).
GLUED_TITLE_MIN_CHARS = 8
#: Longest ``原标题`` headline (characters).
ORIGINAL_TITLE_MAX_CHARS = 80

_OUTLET = r"(?:(?!据)[\u4e00-\u9fffA-Za-z]){1,10}?(?:网|社|报|台|之家|客户端|经纬|新闻|消息)"  # 据 starts an attribution, never a name
#: A lead naming the outlet: 中新网兰州5月3日电, 人民网北京5月3日电, IT之家 5 月 3 日消息, 深圳新闻网2024年5月3日讯,
#: 羊城晚报讯, 【环球网报道】, 央视网消息：. Group ``outlet`` is the outlet's name.
LEAD = re.compile(
    rf"^[【\[]?\s*(?P<outlet>{_OUTLET})\s*(?:[\u4e00-\u9fff]{{0,8}}?\s*)?"
    r"(?:(?:\d{4}\s*年\s*)?\d{1,2}\s*月\s*\d{1,2}\s*日\s*)?(?:电|讯|消息|报道|快讯)\s*[】\]]?"
    r"\s*(?:[(（][^()（）]{0,40}[)）])?\s*[:：，,]?\s*"
)
ORIGINAL_TITLE = re.compile(r"^原标题\s*[:：]\s*")
#: Where a report's own text starts after a headline run into it: a lead, a time phrase, an attribution.
#: Outlets a lead names inside run-on text, where the start of a free-form name cannot be told from the headline
#: before it: the national wire services and sites, and names ending in a distinctive newspaper suffix.
_KNOWN_OUTLETS = alternation("outlets")  # rag/lexicon/outlets.txt
_RUN_ON_OUTLET = rf"(?:{_KNOWN_OUTLETS}|[\u4e00-\u9fff]{{2,4}}(?:日报|晚报|都市报|商报|新闻网|客户端))"
#: An undated ``…讯`` lead's outlet where its start can be told: a known name or a short one (中证网, 观点网, 甘州融媒).
_SHORT_OUTLET = rf"(?:{_KNOWN_OUTLETS}|(?:(?!本报)[\u4e00-\u9fff]){{1,2}}[网报]|[\u4e00-\u9fff]{{2}}(?:日报|晚报|融媒|新闻))"
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
#: (极目新闻记者 王峻, 本报香港8月10日电, 中证网讯（记者 李明）, 南都讯记者…, 【环球网报道】, 记者 王文彬 通讯员 …).
_BYLINE_OPENER = re.compile(
    rf"(?:{_KNOWN_OUTLETS}|本报)[\u4e00-\u9fff]{{0,4}}?(?:\d{{1,2}}月\d{{1,2}}日)?(?:电|讯|记者|[（(【])"
    rf"|{_SHORT_OUTLET}讯(?:\s|[（(:：]|记者)"
    r"|[（(]\s*(?:文/图\s*)?(?:见习|实习|特约)?(?:记者|通讯员)"
    r"|【[^】]{0,20}(?:报道|记者|讯|电|稿)"
    r"|(?:见习|实习|特约|全媒体)?记者\s*[\u4e00-\u9fff]{2,3}\s*(?:通讯员|实习生|\s)"
)
#: A byline, lead or second dateline left at the end of an ``原标题`` headline: 新京报讯, 华声在线8月3日讯（,
#: 【某网报道 见习记者 X】, …客户端 | 记者 X, 2023-08-01 20:08:01.
_TRAILING_BYLINE = re.compile(
    r"(?:【[^】]{0,30}】|[\u4e00-\u9fffA-Za-z]{0,10}[|｜\s]*(?:见习|实习|特约)?记者[\u4e00-\u9fff\s·]{0,20}"
    r"|通讯员[\u4e00-\u9fff\s·]{0,20}|[文图、]{1,3}/"
    rf"|(?:{_KNOWN_OUTLETS}|[\u4e00-\u9fff]{{2}}(?:都市报|日报|晚报))(?:客户端)?[\s|｜\-]*"  # 楚天都市报 |, 河南日报客户端
    rf"|(?:(?:{_KNOWN_OUTLETS})[\u4e00-\u9fff]{{0,10}})?\d{{1,2}}月\d{{1,2}}日电"  # a dated lead: …守望相助5月3日电, 新华社某地…5月2日电
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


def lead_outlet(text: str) -> str | None:
    """The outlet a report's lead names (``中新网`` of ``中新网兰州5月3日电 (记者 李明)``), or None."""
    match = LEAD.match(text)
    if not match:
        return None
    outlet = match.group("outlet")
    # 本报讯 names no outlet; a one-word 消息 is no outlet either.
    return None if outlet in ("本报", "消息", "新闻") or len(outlet) < 2 else outlet


def split_headline(body: str) -> tuple[str | None, str]:
    """``(headline, rest)`` when ``body`` opens with a headline run into its text, else ``(None, body)``.

    With an ``原标题：`` marker the headline ends where it is repeated, or where the report's own text opens
    (a lead, a time phrase such as ``近日``/``8月18日，``, an attribution ``据路透社报道``), or at the first sentence
    end. Without a marker only a strong opener (a lead, a dated attribution, a dated time phrase) within
    :data:`GLUED_TITLE_MAX_CHARS` characters, after a headline-final character, splits the text.
    """
    marker = ORIGINAL_TITLE.match(body)
    if marker:
        rest = body[marker.end():]
        title, after = _repeated_title(rest)
        if title is None:
            cut = _opener_at(rest, (_STRONG_OPENER, _WEAK_OPENER, _BLOCK_OPENER, _BYLINE_OPENER),
                             ORIGINAL_TITLE_MAX_CHARS)
            if cut is None and (end := re.search(r"[。！？!?]", rest[:ORIGINAL_TITLE_MAX_CHARS])):
                cut = end.end()  # the first sentence end
            if cut is None:
                return None, rest
            cut = _snap_to_sentence_end(rest, cut)
            title, after = rest[:cut], rest[cut:]
        return _without_byline(title), after.lstrip(" ，,\u3000")
    title, after = _repeated_title(body)
    if title is not None:
        return title.strip(), after.lstrip(" ，,\u3000")
    if LEAD.match(body) or body.startswith("## "):  # opens with its lead, or with a marked heading (segmented later)
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
    starts = (next((m.start() for m in p.finditer(text, 4, limit + 1) if text[m.start() - 1] not in _CONTINUES),
                   None) for p in patterns)
    return min((start for start in starts if start is not None), default=None)
