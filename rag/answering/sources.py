"""Citations from retrieved chunks: the numbered source of an answer with its article's date, outlet and story.

Both answerers (extractive and LLM) number their sources the same way; :func:`with_copies` adds the other printings
of each cited story (``另见``), which the service reads from the store.
"""

from __future__ import annotations

from llama_index.core.schema import NodeWithScore

from rag.models import Article, Citation, StoryCopy


def citation_for(number: int, hit: NodeWithScore) -> Citation:
    """Citation ``number`` for a retrieved chunk, carrying the article's ``published``/``publication``/``page``/``story_id``."""
    meta = hit.node.metadata
    return Citation(id=number, title=str(meta.get("title", "")), source=str(meta.get("source", "")),
                    article_id=str(meta.get("article_id", "")), chunk_id=hit.node.node_id, text=hit.node.get_content(),
                    score=float(hit.score or 0.0), published=_optional(meta.get("published")),
                    publication=_optional(meta.get("publication")), page=_optional(meta.get("page")),
                    story_id=_optional(meta.get("story_id")))


def with_copies(citations: list[Citation], members: dict[str, list[Article]]) -> list[Citation]:
    """``citations`` with ``also`` filled from ``members`` (story id -> its stored articles), oldest first, the
    cited article itself left out; a citation without a story keeps ``also`` empty."""
    fields = set(StoryCopy.model_fields)
    out = []
    for citation in citations:
        copies = sorted((StoryCopy(**a.model_dump(include=fields)) for a in members.get(citation.story_id or "", [])
                         if a.article_id != citation.article_id), key=lambda c: (c.published or "", c.source))
        out.append(citation.model_copy(update={"also": copies}))
    return out


def _optional(value: object) -> str | None:
    return str(value) if value not in (None, "") else None
