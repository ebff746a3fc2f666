"""One result per story: reprints of a report (same ``story_id``, see ``ingest.near_duplicates``) must not crowd
the top-k out of other reports."""

from __future__ import annotations

from llama_index.core.schema import NodeWithScore

from rag.models import story_of


def collapse_stories(nodes: list[NodeWithScore], top_k: int) -> list[NodeWithScore]:
    """The first ``top_k`` of ``nodes`` (best first) keeping, per story, only chunks of its best-ranked article:
    several passages of one article stay, another outlet's copy of it goes."""
    owner: dict[str, str] = {}
    kept: list[NodeWithScore] = []
    for hit in nodes:
        article = str(hit.node.metadata.get("article_id", hit.node.node_id))
        if owner.setdefault(story_of(hit.node.metadata, hit.node.node_id), article) != article:
            continue
        kept.append(hit)
        if len(kept) == top_k:
            break
    return kept
