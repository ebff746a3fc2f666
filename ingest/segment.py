"""Split one cleaned newspaper page into articles: ``segment_articles(page: str) -> list[ArticleSegment]``.

Input is :func:`ingest.clean.clean_page` output (one paragraph per line, ``## `` heading markers kept).
A page is a sequence of articles, each opened by a headline block. What opens an article, strongest
first:

1. an *anchor*: a lead (``本报讯(记者…)``) or a byline line under a headline (``本报记者 X Y``,
   ``□卢和平``); the headline block right above it (see :func:`ingest.clean.headline_block_start`) is
   its title;
2. a run of ``## `` headings (not bulleted / numbered subheadings);
3. a run of short headline-shaped lines followed by a body paragraph (photo stories, ``致读者`` ...),
   except inside a list (after a paragraph ending with a colon) or inside a feature (an article whose
   headline has a ``——`` subtitle or that opened with a byline), where such lines are subheadings;
   a closing byline ``(本报记者 …)`` ends the feature.

Body text is never dropped: headline-shaped lines that open nothing (list items, subheadings, stray
headlines the OCR put between articles, a page's last line) stay in the body of the article they
follow. An article with an empty body gives its title to the next one as a prefix. Heuristics are our
own, measured on OCR'd Chinese city-newspaper pages; lengths are in characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest.clean import (
    HEADING_PREFIX,
    SENTENCE_FINAL,
    ends_sentence,
    heading_text,
    headline_block_start,
    is_anchor,
    is_block_line,
    is_byline_end,
    is_byline_start,
    is_lead,
    is_subheading,
    looks_like_heading,
)
from rag.text.dateline import strip_lead

# A title derived from body text (no headline) is its first sentence cut to this many characters.
DERIVED_TITLE_CHARS = 30
_LEAD_PREFIX = re.compile(r"^本报[^(（\s]{0,14}讯\s*(?:[(（][^)）]{0,30}[)）])?\s*")


@dataclass(frozen=True)
class ArticleSegment:
    """One article of a page.

    Attributes:
        title: the headline in original characters without ``## `` (kicker, headline and subtitle
            joined by a space; none after a colon or before a ``——`` subtitle). For text without a
            headline: its first sentence cut to 30 characters (a trailing comma removed).
        text: the body, paragraphs joined by ``"\\n"``; does not repeat a real headline.
        position: 0-based order of the article within the page.
    """

    title: str
    text: str
    position: int


@dataclass
class _Draft:
    title: list[str]
    body: list[str] = field(default_factory=list)
    feature: bool = False
    in_list: bool = False


def segment_articles(page: str) -> list[ArticleSegment]:
    """Split a cleaned page into its articles, in page order (see the module docstring for the rules).

    Every non-heading line of ``page`` ends up in exactly one article's ``text``. Returns ``[]`` for a
    blank page. A page without any headline is one article.
    """
    lines = [line.strip() for line in page.split("\n") if line.strip()]
    title_of = _anchor_titles(lines)
    drafts: list[_Draft] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if index in title_of:
            anchor = title_of[index]
            _open(drafts, lines[index:anchor], feature=is_byline_start(lines[anchor]))
            _add_body(drafts, lines[anchor])
            index = anchor + 1
        elif is_anchor(lines, index):
            _open(drafts, [], feature=False)
            _add_body(drafts, line)
            index += 1
        elif line.startswith(HEADING_PREFIX) and not is_subheading(line):
            end = index
            while end < len(lines) and _is_heading_run_line(lines, end, title_of):
                end += 1
            _open(drafts, lines[index:end], feature=False)
            index = end
        elif looks_like_heading(line):
            index = _weak_run(drafts, lines, index, title_of)
        else:
            if not drafts:
                _open(drafts, [], feature=False)
            _add_body(drafts, line)
            index += 1
    return _finish(drafts)


def _anchor_titles(lines: list[str]) -> dict[int, int]:
    """Map the first line of each anchor's headline block to the anchor's index."""
    starts: dict[int, int] = {}
    for index in range(len(lines)):
        if is_anchor(lines, index):
            start = headline_block_start(lines, index)
            if start < index:
                starts[start] = index
    return starts


def _is_heading_run_line(lines: list[str], index: int, title_of: dict[int, int]) -> bool:
    line = lines[index]
    if index in title_of or is_anchor(lines, index):
        return False
    if line.startswith(HEADING_PREFIX):
        return not is_subheading(line)
    # A plain "——subtitle" line under a markdown headline belongs to it.
    return line.startswith("——") and is_block_line(line) and lines[index - 1].startswith(HEADING_PREFIX)


def _weak_run(drafts: list[_Draft], lines: list[str], index: int, title_of: dict[int, int]) -> int:
    """Handle a run of headline-shaped lines at ``index``; return the index after it."""
    end = index
    while (
        end < len(lines) and end not in title_of and not is_anchor(lines, end) and _is_weak_line(lines[end])
    ):
        end += 1
    current = drafts[-1] if drafts else None
    follows_body = end < len(lines) and end not in title_of and not is_subheading(lines[end])
    follows_body = follows_body and not lines[end].startswith(HEADING_PREFIX) and not is_anchor(lines, end)
    if current is None:
        _open(drafts, lines[index:end], feature=False)
    elif follows_body and not current.feature and not current.in_list:
        start = max(index, headline_block_start(lines, end))
        for orphan in lines[index:start]:
            _add_body(drafts, orphan)
        _open(drafts, lines[start:end], feature=False)
    else:
        for line in lines[index:end]:
            _add_body(drafts, line)
    return end


def _is_weak_line(line: str) -> bool:
    return looks_like_heading(line) and not is_subheading(line)


def _open(drafts: list[_Draft], title_lines: list[str], feature: bool) -> None:
    titles = [heading_text(line) for line in title_lines]
    subtitle = any(title.startswith("——") for title in titles)
    drafts.append(_Draft(title=titles, feature=feature or subtitle))


def _add_body(drafts: list[_Draft], line: str) -> None:
    draft = drafts[-1]
    text = heading_text(line)
    draft.body.append(text)
    if is_byline_end(text):
        draft.feature = False  # a closing byline ends a feature: later headlines open new articles
    if text.endswith((":", "：")) and not is_block_line(text):
        draft.in_list = True
    elif ends_sentence(text):
        draft.in_list = False


def _finish(drafts: list[_Draft]) -> list[ArticleSegment]:
    carried: list[str] = []
    done: list[tuple[list[str], list[str]]] = []
    for draft in drafts:
        if not draft.body:
            carried.extend(draft.title)
            continue
        done.append((carried + draft.title, draft.body))
        carried = []
    if carried:
        if done:
            done[-1][1].extend(carried)  # headline-shaped last lines with nothing under them stay as text
        else:
            done.append((carried, []))
    return [
        ArticleSegment(
            title=_join_title(title) or _derive_title(body), text="\n".join(body), position=position
        )
        for position, (title, body) in enumerate(done)
    ]


def _join_title(parts: list[str]) -> str:
    title = ""
    for part in parts:
        if not title or title.endswith((":", "：")) or part.startswith("——"):
            title += part
        else:
            title += " " + part
    return title


def _derive_title(body: list[str]) -> str:
    if not body:
        return ""
    first = body[0]
    if is_lead(first):
        first = _LEAD_PREFIX.sub("", first) or first
    first = strip_lead(first)  # 中新网兰州5月3日电 (记者 李明) names the outlet, not the story
    for position, char in enumerate(first):
        if char in SENTENCE_FINAL:
            first = first[:position]
            break
    # A comma left dangling by the cut reads as an error in a citation.
    return first[:DERIVED_TITLE_CHARS].rstrip(" ,，、:：;；") or body[0][:DERIVED_TITLE_CHARS]
