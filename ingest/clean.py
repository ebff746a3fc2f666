"""OCR cleanup of one newspaper page: ``clean_page(raw: str) -> str``, one paragraph per line.

OCR'd pages arrive with every paragraph on its own line and blank lines everywhere, but columns and
photos also cut paragraphs in the middle of a sentence (``…营`` / blank / ``造浓厚的学习氛围…``). This
module rejoins those, drops page furniture, and normalises whitespace, while keeping the original
characters (no traditional->simplified conversion, no NFKC: the text is shown to users) and keeping
``## `` heading markers for :mod:`ingest.segment`.

The line classifiers below (leads, bylines, headline blocks) are shared with ``ingest.segment``: the
decision "is this short line a headline or the tail of a broken paragraph?" must be the same in both.
All heuristics are our own, measured on OCR'd Chinese city-newspaper pages; lengths are in characters.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

HEADING_PREFIX = "## "
# Longest line still considered a headline; the longest seen in the sample pages is 35.
HEADLINE_MAX_CHARS = 40
# Headline blocks are at most this many lines (kicker + headline + subtitle).
MAX_BLOCK_LINES = 3
# A line this short right above a headline is a kicker or section label (政务要闻, 黄道镇): the top of a block.
LABEL_MAX_CHARS = 8
CAPTION_MAX_CHARS = 45

SENTENCE_FINAL = "。！？!?；;…"
CLOSERS = "”’」』）)】》"
OPENERS = "“‘「『（(【《"
_INNER_STOPS = re.compile(r"[，,。；;！？!?、]")
_HARD_STOPS = re.compile(r"[。；;！？!?]")
# Characters that cannot start a paragraph, so the line before was cut.
_CONTINUATION_START = set("，,、。；;：:！？!?）)」』”’》】%．") | {"…"}
# Function words a headline never ends with but a cut line often does.
_DANGLING_END = set("的和与及或并而在对把将被从向于让使给跟")
_UNITS = set("个万亿元名家次件人余多年月日号座条项所辆吨米台倍户位批期届岁股只篇场")
_CJK_CHAR = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# Minimum log-probability gain (natural log) for "the OCR cut a word here"; measured: cut words gain
# 8-12, unrelated neighbours 0-0.1.
_CUT_WORD_GAIN = 3.0

_LEAD = re.compile(
    r"^(本报讯|本报[\u4e00-\u9fff\d]{1,12}讯|(新华社|中新社|中新网|人民网|央视网)[^。，,]{0,24}电)"
)
_NAME = r"[\u4e00-\u9fff·]{2,6}"
_ROLE = r"(?:本报)?(?:特约)?(?:记者|通讯员|评论员|实习生)"
_BYLINE_START = re.compile(
    rf"^(?:[□■◎◇]\s*{_NAME}|[□■◎◇]?\s*{_ROLE}[\s:：]*{_NAME}(?:[\s、,，]+(?:{_ROLE})?[\s:：]*{_NAME})*)$"
)
_BYLINE_END = re.compile(
    r"^[(（][^()（）]{1,60}(记者|通讯员|作者|撰稿|供稿|文/图|文／图|整理|编辑|报道)[^()（）]{0,40}[)）]$"
)
_PHOTO_CREDIT = re.compile(
    r"^[(（]?[^。！？!?]{0,30}?(?:(?:[\s/／]|记者[^。]{0,12}|通讯员[^。]{0,12})摄影?|供图|资料图片|图片由[^。]{1,20}提供)[)）]?$"
)
_CAPTION_PREFIX = re.compile(r"^(图为|上图|下图|左图|右图|图[①-⑩\d]{1,2}[:：\s])")
_FURNITURE = (
    re.compile(r"^第?\s*[0-9０-９一二三四五六七八九十]{1,3}\s*版$"),
    re.compile(r"^[-—\s]*[0-9０-９]{1,3}[-—\s]*$"),
    re.compile(
        r"^(责任编辑|责编|编辑|美编|版式设计|版式|校对|组版|排版|审读|值班编辑|签发|终审|二审|一审)[\s:：/]+\S.{0,30}$"
    ),
    re.compile(r"^\d{4}年\d{1,2}月\d{1,2}日\s*(星期|周)[一二三四五六日天]$"),
    re.compile(r"^[^\w]+$"),  # lone symbols: no letter, digit or CJK character at all
)
_BULLET = re.compile(r"^[●■◆▲★☆○◇►▶•·◎]\s*\S")
_NUMBERED = re.compile(
    r"^(?:[一二三四五六七八九十]{1,3}、|[(（][一二三四五六七八九十\d]{1,3}[)）]|\d{1,2}[、．.](?!\d))"
)
_MARKDOWN_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\u2028\u2029\x85]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000\f\v]+")
_ZERO_WIDTH = re.compile(r"[\u200b-\u200d\u2060\ufeff]")
_SPACE_BEFORE_FW_PUNCT = re.compile(r" (?=[，。、；：？！”’」』）》】])")
_SPACE_AFTER_FW_PUNCT = re.compile(r"(?<=[，。、；：？！“‘「『（《【]) ")


def clean_page(raw: str) -> str:
    """Clean one OCR'd page; return its paragraphs, one per line, without blank lines.

    * Whitespace: ``\\r\\n``, ``\\r`` and Unicode line separators become ``\\n``; full-width spaces,
      tabs and other blanks become a space; runs of spaces collapse to one; spaces next to full-width
      punctuation and zero-width characters are removed; lines are stripped.
    * Markdown headings ``#`` .. ``###`` become ``## `` lines (deeper levels become plain lines).
    * Dropped: photo credits (``本报记者 王尧 摄``, ``…/摄``, ``供图``), the short caption line right
      above a credit and ``图为…`` captions, page furniture (``第3版``, lone page numbers,
      ``责任编辑 …``/``版式 …``/``校对 …`` lines, date-and-weekday headers, lines of only symbols).
    * Rejoined: a paragraph the OCR cut mid-sentence (see :func:`_should_join`); headlines (short lines
      without final punctuation), ``## `` lines, leads and bylines are never glued to a neighbour.

    Characters are otherwise kept as they are. Empty or all-furniture input returns ``""``.
    """
    lines = _drop_furniture(_normalise_lines(raw))
    if not lines:
        return ""
    in_block = _headline_block_mask(lines)
    paragraphs = [lines[0]]
    for index in range(1, len(lines)):
        line = lines[index]
        if not in_block[index] and not in_block[index - 1] and _should_join(paragraphs[-1], line):
            paragraphs[-1] = _glue(paragraphs[-1], line)
        else:
            paragraphs.append(line)
    return "\n".join(paragraphs)


def normalise_line(line: str) -> str:
    """One line with blanks normalised as described in :func:`clean_page` (no other change)."""
    line = _ZERO_WIDTH.sub("", line)
    line = _SPACES.sub(" ", line)
    line = _SPACE_BEFORE_FW_PUNCT.sub("", line)
    line = _SPACE_AFTER_FW_PUNCT.sub("", line)
    return line.strip()


def _normalise_lines(raw: str) -> list[str]:
    lines: list[str] = []
    for raw_line in _LINE_BREAKS.split(raw):
        line = normalise_line(raw_line)
        match = _MARKDOWN_HEADING.match(line)
        if match:
            text = match.group(2).strip()
            line = (HEADING_PREFIX + text if len(match.group(1)) <= 3 else text) if text else ""
        if line:
            lines.append(line)
    return lines


def _drop_furniture(lines: list[str]) -> list[str]:
    kept: list[str] = []
    for index, line in enumerate(lines):
        if is_photo_credit(line) or _is_furniture(line) or _is_caption(line):
            continue
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if is_photo_credit(following) and _is_caption_above_credit(line):
            continue
        kept.append(line)
    return kept


def _is_furniture(line: str) -> bool:
    return any(pattern.match(line) for pattern in _FURNITURE)


def _is_caption(line: str) -> bool:
    return bool(_CAPTION_PREFIX.match(line)) and len(line) <= 100


def _is_caption_above_credit(line: str) -> bool:
    # Only a short, unpunctuated line is clearly a caption; a long paragraph above a credit is the
    # text of a photo story and must stay.
    return (
        not line.startswith((HEADING_PREFIX, "——"))  # a subtitle right above a photo is no caption
        and not is_byline_end(line)
        and len(line) <= CAPTION_MAX_CHARS
        and not ends_sentence(line)
        and not _HARD_STOPS.search(line)
    )


def is_photo_credit(line: str) -> bool:
    """``本报记者 王尧 摄``, ``王尧/摄``, ``(新华社记者 李贺 摄)``, ``XX供图`` ... (short lines only)."""
    return len(line) <= 40 and bool(_PHOTO_CREDIT.match(line))


def ends_sentence(line: str) -> bool:
    """Whether ``line`` ends with sentence-final punctuation (。！？!?；;…), closing quotes/brackets allowed after."""
    stripped = line.rstrip(CLOSERS + " ")
    return bool(stripped) and stripped[-1] in SENTENCE_FINAL


def is_lead(line: str) -> bool:
    """A news lead: ``本报讯(记者…)``, ``本报郑州1月5日讯``, ``新华社北京1月5日电`` ..."""
    return bool(_LEAD.match(line))


def is_byline_start(line: str) -> bool:
    """A byline line of its own (``本报记者 董柏生 赵政玲``, ``□卢和平``), not a photo credit."""
    return len(line) <= HEADLINE_MAX_CHARS and not is_photo_credit(line) and bool(_BYLINE_START.match(line))


def is_byline_end(line: str) -> bool:
    """A parenthesised byline closing an article: ``(本报记者 张鸿雨 文/图)``, ``(作者为…)``."""
    return bool(_BYLINE_END.match(line))


def is_subheading(line: str) -> bool:
    """A section heading inside an article: bulleted (``● 抓服务…``) or numbered (``一、…``, ``(一)…``)."""
    text = line[len(HEADING_PREFIX) :] if line.startswith(HEADING_PREFIX) else line
    if _BULLET.match(text):
        return True
    return bool(_NUMBERED.match(text)) and len(text) <= HEADLINE_MAX_CHARS and not ends_sentence(text)


def heading_text(line: str) -> str:
    """The line without its ``## `` marker."""
    return line[len(HEADING_PREFIX) :] if line.startswith(HEADING_PREFIX) else line


def is_block_line(line: str) -> bool:
    """Whether the line can be part of a headline block (headline, kicker, subtitle, label).

    ``## `` lines qualify unless they are subheadings. Plain lines must be short, carry no
    sentence-final punctuation (inside or at the end), not end with a comma, not be a lead, byline or
    a fully parenthesised note. Subtitles such as ``目前园区有…1家,省级6家`` may contain commas.
    """
    if line.startswith(HEADING_PREFIX):
        return not is_subheading(line)
    return (
        len(line) <= HEADLINE_MAX_CHARS
        and not ends_sentence(line)
        and line[-1] not in "，,、"
        and not _HARD_STOPS.search(line)
        and not (line[0] in "(（" and line[-1] in ")）")
        and not is_lead(line)
        and not is_byline_start(line)
        and not is_subheading(line)
    )


def looks_like_heading(line: str) -> bool:
    """Stricter than :func:`is_block_line`: no inner commas either, balanced quotes/brackets.

    Used where nothing but the shape says "headline" (no lead or byline follows).
    """
    if line.startswith(HEADING_PREFIX):
        return not is_subheading(line)
    return is_block_line(line) and not _INNER_STOPS.search(line) and _balanced(line)


def _balanced(line: str) -> bool:
    return all(line.count(o) == line.count(c) for o, c in zip("“‘「『（(【《", "”’」』）)】》", strict=True))


def is_label(line: str) -> bool:
    """A section label or kicker line such as ``政务要闻``, ``乡村纪行``, ``黄道镇``."""
    text = heading_text(line)
    return 2 <= len(text) <= LABEL_MAX_CHARS and " " not in text


def is_anchor(lines: list[str], index: int) -> bool:
    """Whether ``lines[index]`` opens an article by itself: a lead, or a byline under a headline."""
    line = lines[index]
    if is_lead(line):
        return True
    return is_byline_start(line) and index > 0 and is_block_line(lines[index - 1])


def headline_block_start(lines: list[str], anchor: int) -> int:
    """Index of the first line of the headline block that belongs to the anchor at ``lines[anchor]``.

    Walks up from the anchor over block lines: the two nearest always belong to it; a third only if it
    is a label/kicker, ends with a colon, contains a dash (``奋进2021——年终特别报道``) or shares two
    character pairs with the anchor paragraph or the headline (OCR puts stray headlines of other
    articles right above, as in ``找差距…`` / ``遵化店镇…`` / *the real headline* / lead). A line ending
    with a colon, or a label other than the nearest line, is the top of a block. Returns ``anchor``
    when no block line precedes it.
    """
    start = anchor
    context = " ".join(lines[anchor : anchor + 2])
    while start > 0 and anchor - start < MAX_BLOCK_LINES and is_block_line(lines[start - 1]):
        candidate = lines[start - 1]
        # The nearest line is the headline even when short (李萍出席并讲话); a short line further up is a label.
        top = (is_label(candidate) and start < anchor) or candidate.endswith((":", "："))
        if anchor - start == 2 and not (top or "——" in candidate or _shares_pairs(candidate, context, 2)):
            break
        context += " " + candidate
        start -= 1
        if top:
            break
    return start


def _shares_pairs(line: str, context: str, needed: int) -> bool:
    pairs = {
        line[i : i + 2]
        for i in range(len(line) - 1)
        if _CJK_CHAR.match(line[i]) and _CJK_CHAR.match(line[i + 1])
    }
    return sum(1 for pair in pairs if pair in context) >= needed


def _headline_block_mask(lines: list[str]) -> list[bool]:
    mask = [False] * len(lines)
    for index in range(len(lines)):
        if is_anchor(lines, index):
            for inner in range(headline_block_start(lines, index), index):
                mask[inner] = True
    return mask


def _should_join(before: str, after: str) -> bool:
    """Whether ``after`` continues the paragraph ``before`` (the OCR cut it), by shape and words.

    Never across ``## `` lines, leads, bylines, sentence ends, colons or a trailing dash. Joined on a
    strong continuation signal (a cut word per jieba, a line starting with closing punctuation, a
    dangling comma/opening quote/function word, a number cut from its digits or unit); otherwise
    joined only when neither side looks like a headline.
    """
    if before.startswith(HEADING_PREFIX) or after.startswith(HEADING_PREFIX):
        return False
    if any(test(line) for line in (before, after) for test in (is_lead, is_byline_start, is_byline_end)):
        return False
    if ends_sentence(before) or before.endswith((":", "：", "——")) or is_subheading(after):
        return False
    if _continues(before, after):
        return True
    if is_subheading(before):
        return False
    return not looks_like_heading(after) and not looks_like_heading(before)


def _continues(before: str, after: str) -> bool:
    last, first = before[-1], after[0]
    if first in _CONTINUATION_START or last in OPENERS or last in "，,、":
        return True
    if after.startswith("们") or (after.startswith("的") and not after.startswith("的确")):
        return True
    if last.isdigit() and (first.isdigit() or first in ".．%" or first in _UNITS):
        return True
    if last in ".．" and first.isdigit():
        return True
    if not (_CJK_CHAR.match(last) and _CJK_CHAR.match(first)):
        return False
    return last in _DANGLING_END or _cuts_a_word(before[-6:], after[:6])


@lru_cache(maxsize=4096)
def _cuts_a_word(tail: str, head: str) -> bool:
    """Whether ``tail + head`` reads much better as one string than as two, per jieba's unigram model.

    jieba (https://github.com/fxsjy/jieba) scores the best segmentation of a string with its dictionary
    word frequencies (``Tokenizer.get_DAG`` + ``Tokenizer.calc``, log-probabilities). A cut word gains a
    lot when the halves meet (``营`` + ``造`` -> 营造: +8.4, ``青少`` + ``年``: +11.5); two independent
    strings gain nothing (``泡泡战士`` + ``基于…``: 0.0), and a chance pair such as 子长 (a county) in
    ``长谷川町子`` + ``长谷川…`` gains almost nothing, so a plain "a word spans the cut" test would misfire.
    """
    from rag.text.normalize import jieba_module

    jieba = jieba_module()  # lazy: loading the dictionary takes about a second

    tokenizer = jieba.dt  # the process-wide default tokenizer: its dictionary is shared with other users
    gain = _log_prob(tokenizer, tail + head) - _log_prob(tokenizer, tail) - _log_prob(tokenizer, head)
    return gain >= _CUT_WORD_GAIN


def _log_prob(tokenizer: Any, text: str) -> float:
    route: dict[int, tuple[float, int]] = {}
    tokenizer.calc(text, tokenizer.get_DAG(text), route)
    return route[0][0]


def _glue(before: str, after: str) -> str:
    # Latin words cut by the OCR get their space back; Chinese needs none.
    ascii_letters = (
        before[-1].isascii() and before[-1].isalpha() and after[0].isascii() and after[0].isalpha()
    )
    return before + (" " if ascii_letters else "") + after
