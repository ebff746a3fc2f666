"""Questions that fit several events: other reports that answer with other values.

``有多少家企业参加了展会？`` has one answer per event. When candidates from other stories answer nearly as well as the
chosen one (score at least :data:`CLOSE_SHARE` of it), are about the question's subject and give a different value
(:func:`rag.answering.question.answer_value`: a number in the asked unit, a date), they are listed beside the answer
instead of being silently dropped, or making the answerer refuse.
"""

from __future__ import annotations

from rag.answering.features import Candidate
from rag.answering.question import Question, answer_value, names_in
from rag.models import Alternative, story_of
from rag.text.dateline import strip_lead

#: Least score, relative to the chosen candidate, of a competing report.
CLOSE_SHARE = 0.85
#: Most alternatives listed.
MAX_ALTERNATIVES = 3


def other_values(analysis: Question, best: Candidate, candidates: list[Candidate]) -> list[Alternative]:
    """Up to :data:`MAX_ALTERNATIVES` reports of other stories with another value (one per story, best first);
    empty when the question has no value slot or ``best`` has no value."""
    value = answer_value(analysis.qtype, analysis.unit, best.norm)
    if value is None:
        return []
    seen = {story_of(best.hit.node.metadata), value}
    out: list[Alternative] = []
    for cand in candidates:
        if cand.score < CLOSE_SHARE * best.score or len(out) >= MAX_ALTERNATIVES:
            break
        story = story_of(cand.hit.node.metadata)
        other = answer_value(analysis.qtype, analysis.unit, cand.norm)
        if story in seen or other is None or other in seen or not about_subject(analysis, cand):
            continue
        seen.update((story, other))
        meta = cand.hit.node.metadata
        out.append(Alternative(
            value=other, sentence=strip_lead(cand.sentence), title=str(meta.get("title", "")),
            source=str(meta.get("source", "")), article_id=str(meta.get("article_id", "")),
            chunk_id=cand.hit.node.node_id, published=meta.get("published") or None,
            publication=meta.get("publication") or None, page=meta.get("page") or None,
        ))
    return out


def about_subject(question: Question, cand: Candidate) -> bool:
    """Whether ``cand`` names every name of the question, in its sentence or its context (title, lead, the
    sentences around it)."""
    return all(names_in(n, cand.norm) or names_in(n, cand.frame) for n in question.names)
