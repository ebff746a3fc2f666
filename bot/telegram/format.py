"""Telegram HTML for answers, sources and articles, and splitting over Telegram's message length limit.

Every piece of text that comes from the corpus, the core or a user goes through :func:`escape`, so a message can
never fail with "can't parse entities". Lengths are counted in UTF-16 code units (how Telegram counts) on the
HTML source, which is never shorter than the text Telegram measures after parsing entities, so the limit holds.
"""

from __future__ import annotations

import html
import re
from datetime import datetime

from rag.models import NOT_FOUND_ANSWER, Answer, Article, Citation, StoreStats, print_label

from . import texts

#: Telegram's limit for one message's text, in UTF-16 code units after entity parsing.
MAX_MESSAGE_CHARS = 4096
#: Longest title shown on an inline button, in characters (longer titles end with "…").
BUTTON_TITLE_CHARS = 24

# C0 controls except tab/newline/carriage return, DEL, and lone surrogates: Telegram rejects or mangles them, and
# OCR'd pages occasionally contain them.
_UNSAFE_CHARS_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")

# Atoms the splitter never cuts inside: a tag, an entity, a citation marker such as [3] or [1,2], one character.
_MARKER = r"\[\d{1,3}(?:\s*[,，、\-–]\s*\d{1,3})*\]"
_ATOM_RE = re.compile(rf"<[^<>]*>|&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);|{_MARKER}|.", re.S)
_MARKER_RE = re.compile(rf"^{_MARKER}$")
_TAG_NAME_RE = re.compile(r"^</?\s*([a-zA-Z][a-zA-Z0-9-]*)")

_SENTENCE_ENDS = frozenset("。！？!?；;…")
_CLOSING_QUOTES = frozenset("”’」』）)》】\"'")
_CLAUSE_BREAKS = frozenset("，,、：: \t")

# Break priorities, strongest first. A cut only falls back to a weaker kind of break when the stronger one would
# leave the part shorter than _MIN_FILL of what fits.
_PARAGRAPH, _LINE, _SENTENCE, _CLAUSE = 4, 3, 2, 1
_MIN_FILL = 0.3


def escape(text: str) -> str:
    """Escape ``text`` for Telegram's HTML parse mode (``&``, ``<``, ``>``), drop unsafe control characters and
    normalise line ends to ``\\n``."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return html.escape(_UNSAFE_CHARS_RE.sub("", text), quote=False)


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of Telegram's length limits."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def truncate(text: str, limit: int) -> str:
    """``text`` on one line, cut to at most ``limit`` characters with a trailing "…" when cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: max(limit - 1, 0)] + "…"


def title_of(title: str) -> str:
    """A displayable title: the stripped title, or a placeholder when the article has none."""
    return title.strip() or texts.UNTITLED


# --- rendering ----------------------------------------------------------------------------------------------------


def render_answer(answer: Answer) -> str:
    """HTML of an answer: its text (with [n] markers), then the numbered sources as "[n] title（source file）".

    An answer with ``found`` False renders as the core's not-found text alone, with no sources.
    """
    body = escape(answer.answer.strip()) or escape(NOT_FOUND_ANSWER)
    if not answer.found or not answer.citations:
        return body
    lines = [body, "", f"<b>{texts.SOURCES_HEADER}</b>"]
    for citation in answer.citations:
        printed = print_label(citation.publication, citation.published, citation.page)
        where = f"{escape(printed)} " if printed else ""
        lines.append(f"[{citation.id}] {escape(title_of(citation.title))}（{where}<code>{escape(citation.source)}</code>）")
        if citation.also:
            copies = "；".join(escape(print_label(c.publication, c.published, c.page) or c.source) for c in citation.also)
            lines.append(f"    {texts.ALSO_LABEL}{copies}")
    return "\n".join(lines)


def render_passage(citation: Citation, *, with_score: bool = False) -> str:
    """HTML of one cited passage: "[n] title" in bold, the source file, then the passage as a quote."""
    printed = print_label(citation.publication, citation.published, citation.page)
    meta = f"<i>{escape(printed + ' ' if printed else '')}{escape(citation.source)}</i>"
    if with_score:
        meta += f" · 相关度 {citation.score:.3f}"
    passage = escape(citation.text.strip())
    return f"<b>[{citation.id}] {escape(title_of(citation.title))}</b>\n{meta}\n\n<blockquote>{passage}</blockquote>"


def render_sources(answer: Answer) -> str:
    """HTML of every source of ``answer`` (passage, title, source file, score), for /sources."""
    header = f"<b>{texts.SOURCES_HEADER}</b>（问题：{escape(truncate(answer.question, 60))}）"
    return "\n\n".join([header, *(render_passage(c, with_score=True) for c in answer.citations)])


def render_article(article: Article) -> str:
    """HTML of a whole article: title in bold, source file, then the full text (paragraphs kept)."""
    return f"<b>{escape(title_of(article.title))}</b>\n<i>{escape(article.source)}</i>\n\n{escape(article.text.strip())}"


def format_ingest_date(last_ingest: str | None) -> str:
    """The date part (YYYY-MM-DD, UTC as stored) of an ISO-8601 time, or the "not ingested" text when None."""
    if not last_ingest:
        return texts.NOTHING_INGESTED
    try:
        return datetime.fromisoformat(last_ingest.replace("Z", "+00:00")).strftime("%Y-%m-%d")
    except ValueError:
        return escape(last_ingest[:10])


def render_start(stats: StoreStats, example: str) -> str:
    """HTML of /start: what the bot knows (article and chunk counts, last ingest date) and an example question."""
    return texts.START.format(
        articles=stats.articles,
        chunks=stats.chunks,
        last_ingest=format_ingest_date(stats.last_ingest),
        example=escape(example),
    )


def render_help(username: str, rate_limit: int, example: str) -> str:
    """HTML of /help, naming the bot's @username for group use and the per-minute question limit."""
    return texts.HELP.format(username=escape(username), rate_limit=rate_limit, example=escape(example))


def source_button_label(citation: Citation) -> str:
    """Text of a source's inline button: "[n] " and the title, shortened to fit a phone screen."""
    return f"[{citation.id}] {truncate(title_of(citation.title), BUTTON_TITLE_CHARS)}"


# --- splitting ----------------------------------------------------------------------------------------------------


def _tag_name(atom: str) -> str | None:
    if not (atom.startswith("<") and atom.endswith(">")):
        return None
    match = _TAG_NAME_RE.match(atom)
    return match.group(1).lower() if match else None


def _apply_tag(stack: list[tuple[str, str]], atom: str) -> list[tuple[str, str]]:
    """The stack of open tags (name, opening tag) after ``atom``; unchanged (same list) for non-tags."""
    name = _tag_name(atom)
    if name is None:
        return stack
    if atom.startswith("</"):
        for index in range(len(stack) - 1, -1, -1):
            if stack[index][0] == name:
                return stack[:index] + stack[index + 1 :]
        return stack
    return [*stack, (name, atom)]


def _is_marker(atom: str) -> bool:
    return bool(_MARKER_RE.match(atom))


def _break_priority(atoms: list[str], pos: int) -> int:
    """How good a cut before ``atoms[pos]`` is (0 = not a break point). A marker stays with its sentence."""
    prev = atoms[pos - 1]
    nxt = atoms[pos] if pos < len(atoms) else ""
    if prev == "\n":
        return _PARAGRAPH if pos >= 2 and atoms[pos - 2] == "\n" else _LINE
    if _is_marker(nxt) or nxt in _CLOSING_QUOTES or nxt in _SENTENCE_ENDS:
        return 0
    if prev in _SENTENCE_ENDS:
        return _SENTENCE
    if prev in _CLOSING_QUOTES or _is_marker(prev):
        # "……。”" or "……。[1][2]": a sentence ends after the quote or markers when a sentence end precedes them.
        back = pos - 1
        while back > 0 and (atoms[back] in _CLOSING_QUOTES or _is_marker(atoms[back])):
            back -= 1
        return _SENTENCE if atoms[back] in _SENTENCE_ENDS else 0
    if prev in _CLAUSE_BREAKS:
        return _CLAUSE
    return 0


def _closing_tags(stack: list[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def _has_visible_text(part: str) -> bool:
    return bool(re.sub(r"<[^<>]*>", "", part).strip())


def split_html(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Split Telegram HTML into messages of at most ``limit`` UTF-16 code units each.

    Cuts prefer paragraph breaks, then line breaks, then sentence ends, then clause punctuation, and only as a last
    resort fall between two characters. A cut never falls inside a tag, an entity or a citation marker, and a
    marker stays with the sentence it follows. Tags open at a cut are closed at the end of the part and reopened at
    the start of the next, so every part is valid HTML on its own. Parts without visible text are dropped.

    Args:
        text: HTML built by this module (well-formed, only Telegram's tags, text escaped).
        limit: maximum part length in UTF-16 code units (Telegram's is 4096); must exceed the longest tag.

    Returns:
        The parts in order; ``[]`` when ``text`` has no visible text.
    """
    if utf16_len(text) <= limit:
        return [text.strip()] if _has_visible_text(text) else []
    atoms: list[str] = _ATOM_RE.findall(text)
    sizes = [utf16_len(atom) for atom in atoms]
    parts: list[str] = []
    open_tags: list[tuple[str, str]] = []  # tags open where the next part starts
    start, count = 0, len(atoms)
    while start < count:
        while start < count and atoms[start] in ("\n", " ", "\t", "\r"):
            start += 1  # whitespace at a cut would only pad the next message
        if start >= count:
            break
        prefix = "".join(tag for _, tag in open_tags)
        used = utf16_len(prefix)
        stack = open_tags
        closing = sum(len(name) + 3 for name, _ in stack)
        best: dict[int, tuple[int, list[tuple[str, str]]]] = {}
        pos = start
        while pos < count:
            new_stack = _apply_tag(stack, atoms[pos])
            new_closing = closing if new_stack is stack else sum(len(name) + 3 for name, _ in new_stack)
            if used + sizes[pos] + new_closing > limit and pos > start:
                break
            used += sizes[pos]
            stack, closing = new_stack, new_closing
            pos += 1
            priority = _break_priority(atoms, pos) if pos < count else 0
            if priority:
                best[priority] = (pos, stack)
        cut, cut_stack = pos, stack
        if pos < count:
            min_cut = start + (pos - start) * _MIN_FILL
            for priority in (_PARAGRAPH, _LINE, _SENTENCE, _CLAUSE):
                if priority in best and best[priority][0] >= min_cut:
                    cut, cut_stack = best[priority]
                    break
        part = (prefix + "".join(atoms[start:cut])).rstrip() + _closing_tags(cut_stack)
        if _has_visible_text(part):
            parts.append(part.strip())
        open_tags = cut_stack
        start = cut
    return parts
