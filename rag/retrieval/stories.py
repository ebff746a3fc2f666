"""One result per story: reprints of a report (same ``story_id``, see ``ingest.near_duplicates``) must not crowd
the top-k out of other reports. The copy kept is the best-ranked one, unless its text lost its punctuation (a
scraped page run together: ``…新片上映首周票房已超过两亿元观众口碑良好…``) and another copy kept it: answers and
citations are drawn from the readable copy, at the rank of the best one."""

from __future__ import annotations

import re

from llama_index.core.schema import NodeWithScore

from rag.models import story_of

#: A chunk with a run of more characters than this without a sentence or clause mark lost its punctuation
#: (a clause of news prose is rarely over 60 characters).
UNPUNCTUATED_RUN = 100
_MARKS = re.compile(r"[。！？；，：!?;,:\n]")


def unpunctuated(text: str) -> bool:
    """Whether ``text`` holds a run of more than :data:`UNPUNCTUATED_RUN` characters without punctuation."""
    return any(len(run) > UNPUNCTUATED_RUN for run in _MARKS.split(text))


def collapse_stories(nodes: list[NodeWithScore], top_k: int) -> list[NodeWithScore]:
    """The first ``top_k`` of ``nodes`` (best first) keeping, per story, only chunks of one article: several
    passages of one article stay, another outlet's copy of it goes. The article is the best-ranked copy, or the
    best-ranked punctuated copy when that one's best chunk is :func:`unpunctuated`; its chunks then take the
    places (and scores) of the first copy's chunks, in order."""
    hits_of: dict[str, dict[str, list[NodeWithScore]]] = {}  # story -> article -> hits, both in rank order
    for hit in nodes:
        hits_of.setdefault(_story(hit), {}).setdefault(_article(hit), []).append(hit)
    owner: dict[str, str] = {}
    replacement: dict[str, list[NodeWithScore]] = {}
    for story, articles in hits_of.items():
        first, *others = articles
        owner[story] = first
        if others and unpunctuated(articles[first][0].node.get_content()):
            readable = next((a for a in others if not unpunctuated(articles[a][0].node.get_content())), None)
            if readable is not None:
                replacement[story] = list(articles[readable])
    kept: list[NodeWithScore] = []
    for hit in nodes:
        story = _story(hit)
        if _article(hit) != owner[story]:
            continue
        if story in replacement:
            if not replacement[story]:
                continue
            hit = NodeWithScore(node=replacement[story].pop(0).node, score=hit.score)
        kept.append(hit)
        if len(kept) == top_k:
            break
    return kept


def _story(hit: NodeWithScore) -> str:
    return story_of(hit.node.metadata, hit.node.node_id)


def _article(hit: NodeWithScore) -> str:
    return str(hit.node.metadata.get("article_id", hit.node.node_id))
