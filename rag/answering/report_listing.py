"""Questions about what was reported: answered with the matching reports, not with a sentence.

``2021年底《滨江日报》报道了哪些关于养殖的消息？``, ``《滨江日报》2022年3月5日刊登了什么？``, ``去年有哪些关于5G的报道？``
ask for the reports of a newspaper and a time, perhaps on a topic. :func:`detect` knows them by their shape (the
patterns below), not by words of any one question: a publishing verb directly followed by a question word and then
nothing, or only a topic and a word for reports; or ``有哪些 / 有什么`` + topic + such a word (not
``报道了什么新技术``, a thing, nor ``据报道, ...多少``, a fact). The question must also name a scope: a publication the
archive holds (stored names, longest first), a time (:mod:`rag.text.time_expr`) or the caller's filter. 发表 alone
needs a publication (``<某人>在<某年>发表了什么`` asks for a person's work). A 《name》 before the listing phrase that is
no stored publication gets a refusal.

:func:`report_listing` answers with at most :data:`MAX_REPORTS` reports printed in that scope and the caller's
filter, one per story (``find``: :func:`rag.archive.find_reports`): with a topic (the question without the
publication, the time, the question words and :data:`FILLER`), the best the keyword index scores above 0; without,
the newest. They are listed newest first, each with its title, print label and citation (``confidence`` None: no
selector chose them); none gives a refusal naming the scope.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from llama_index.core.schema import NodeWithScore

from rag.answering.citation_check import citation_for
from rag.filters import ArchiveFilter
from rag.models import Answer, print_label
from rag.text.lexicon import words
from rag.text.normalize import normalize, tokenize
from rag.text.time_expr import TimeScope

#: Most reports one answer lists.
MAX_REPORTS = 5

_ASK = r"(?:哪些|些什么|什么|哪几[篇条则个]|几[篇条则])"
_TITLE = re.compile(r"《([^》]{2,20})》")
_END = re.compile(r"[\s?？。!！.…]+$")
#: ``<verb>了哪些`` + rest; ``有哪些`` + rest (the rest must then name reports).
_VERB_LED = re.compile(rf"(?:报道|刊登|刊发|刊载|登载|发表|播发)(?:了|过)?(?:一些)?{_ASK}")
_HAVE_LED = re.compile(rf"(?:有|登了|发了){_ASK}")
#: What may follow the question word: nothing, or [关于] topic [方面/相关][的] report-word.
_REST = re.compile(r"(?:关于|有关|涉及|围绕)?(?P<topic>.*?)(?:方面|相关)?(?:的)?(?:报道|消息|新闻|文章|稿件|内容)")
#: Tokens that say where or how a report was printed, not what it is about (our own list of function words).
FILLER = frozenset(words("listing_filler"))  # rag/lexicon/listing_filler.txt
#: Shortest stored publication name matched in a question (shorter names are words, not mastheads).
MIN_PUBLICATION_CHARS = 2


@dataclass(frozen=True)
class ReportQuery:
    """A question about what was reported: the ``publications`` it names (stored names; empty = any), their label as
    the question gives it, the ``topic`` tokens (normalised; empty = every report) and text."""

    publications: frozenset[str]
    publication_label: str
    topic: tuple[str, ...]
    topic_text: str
    #: The question names, in 《》 before the listing phrase, a publication the archive does not hold.
    unknown_publication: bool = False


def _listing_rest(text: str) -> tuple[int, str, bool] | None:
    """``(start of the listing phrase, topic text after it, whether its verb is 发表)`` when ``text`` (normalised,
    end punctuation off) has a listing shape, else None."""
    for pattern, needs_noun in ((_VERB_LED, False), (_HAVE_LED, True)):
        for m in pattern.finditer(text):
            tail = _REST.fullmatch(text[m.end():])  # never matches "": a report word is required
            if tail is not None or (m.end() == len(text) and not needs_noun):
                return m.start(), tail.group("topic") if tail is not None else "", m.group(0).startswith("发表")
    return None


def detect(question: str, scope: TimeScope, known_publications: Iterable[str],
           archive_filter: ArchiveFilter | None = None) -> ReportQuery | None:
    """The :class:`ReportQuery` of ``question`` when it asks what was reported (module docstring) and a publication,
    a time (``scope``, :func:`rag.text.time_expr.parse_time_expression`) or ``archive_filter`` bounds it; else None."""
    text = _END.sub("", normalize(question))
    shape = _listing_rest(text)
    if shape is None:
        return None
    start, topic_tail, authored = shape
    head = text[:start]
    # the publications named: the longest stored name found in the question, and every stored name containing it
    names = {name: normalize(name) for name in known_publications if name}
    mention = max((n for n in names.values() if len(n) >= MIN_PUBLICATION_CHARS and n in text), key=len, default="")
    publications = frozenset(name for name, norm in names.items() if mention and mention in norm)
    title = None if publications else _TITLE.search(head)  # 《…》 naming a publication the archive lacks
    if title is not None:
        mention = title.group(1)
    if authored and not (publications or title):
        return None
    if not (publications or title or scope.has_range or (archive_filter is not None and archive_filter.strict)):
        return None
    for part in (mention, normalize(scope.expression) if scope.expression else ""):
        if part:
            head = head.replace(part, " ", 1)
    topic_text = re.sub(r"[《》“”\"'「」,，、:：;；()（）]", " ", f"{head} {topic_tail}")
    tokens = tuple(dict.fromkeys(t for t in tokenize(topic_text, normalized=True) if t not in FILLER))
    return ReportQuery(publications, mention, tokens, " ".join(topic_text.split()), title is not None)


def _listing_filter(query: ReportQuery, scope: TimeScope, archive_filter: ArchiveFilter | None,
                   known_publications: Iterable[str]) -> ArchiveFilter | None:
    """The strict filter of the listing: the caller's dates and publication intersected with the question's (resolved
    against ``known_publications``); None when they exclude each other (nothing can match)."""
    if query.unknown_publication:
        return None
    base = archive_filter or ArchiveFilter()
    since = max((d for d in (base.since, scope.since) if d), default=None)
    until = min((d for d in (base.until, scope.until) if d), default=None)
    if since and until and since > until:
        return None
    publications, label = query.publications, query.publication_label
    if base.publication:
        theirs = base.resolved(known_publications).publications or frozenset()
        publications = publications & theirs if publications else theirs
        label = label or base.publication
        if not publications:
            return None
    return ArchiveFilter(since=since, until=until, publication=label or None, publications=publications or None)


def _scope_label(query: ReportQuery, flt: ArchiveFilter, scope: TimeScope) -> str:
    """``《滨江日报》2021年底关于“养殖”``: how the answer names what it lists."""
    when = scope.expression or ""
    if not when and (flt.since or flt.until):
        when = f"{flt.since.isoformat() if flt.since else ''}至{flt.until.isoformat() if flt.until else ''}"
    names = sorted(flt.publications or ())
    paper = f"《{names[0]}》" if len(names) == 1 else f"《{query.publication_label}》" if query.publication_label else ""
    return paper + when + (f"关于“{query.topic_text}”" if query.topic else "")


def report_listing(question: str, scope: TimeScope, archive_filter: ArchiveFilter | None,
                   known_publications: Iterable[str],
                   find: Callable[[ArchiveFilter, list[str], int], list[NodeWithScore]]) -> Answer | None:
    """The answer to ``question`` when it is a listing question (:func:`detect`), else None: the reports
    ``find(strict filter, topic tokens, limit)`` returns, newest first, cited; a refusal (found false) when none."""
    known = frozenset(known_publications)
    query = detect(question, scope, known, archive_filter)
    if query is None:
        return None
    flt = _listing_filter(query, scope, archive_filter, known)
    nodes = find(flt, list(query.topic), MAX_REPORTS) if flt is not None else []
    label = _scope_label(query, flt or ArchiveFilter(), scope)
    if not nodes:
        return Answer(question=question, answer=f"未在已收录的报道中找到{label}的报道。", found=False, confidence=None)
    nodes = sorted(nodes, key=lambda n: (str(n.node.metadata.get("published") or ""), n.score or 0.0), reverse=True)
    citations = [citation_for(number, hit) for number, hit in enumerate(nodes, 1)]
    lines = [f"{label}的报道（{len(citations)}篇，由新到旧）："]
    for c in citations:
        printed = print_label(c.publication, c.published, c.page) or "日期不详"
        lines.append(f"{c.id}. {c.title or '（无标题）'}（{printed}）[{c.id}]")
    return Answer(question=question, answer="\n".join(lines), found=True, citations=citations, confidence=None)
