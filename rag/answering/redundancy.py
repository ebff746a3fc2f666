"""Answer redundancy across stories: a phrasing that several independent reports print verbatim is better
supported than one only a single report prints (``如何满足居民的住房需求？``: three reports quote ``更好满足居民刚性和
改善性住房需求`` from one communiqué; a fourth lists ``支持刚性和改善性住房需求`` among other measures).

The idea is the redundancy of web question answering (Brill, Dumais and Banko, 2002, "An analysis of the AskMSR
question-answering system"), applied to sentences instead of n-gram answers: among the candidates that score
within :data:`MARGIN` of the best, each gains :data:`BONUS` per other story (reprints of one report are one story,
``ingest.near_duplicates``; at most :data:`MAX_SUPPORT`) one of whose candidate sentences shares a run of at least
:data:`SHARED_RUN_CHARS` characters with it that itself covers :data:`RUN_COVERAGE` of the question
(:meth:`QuestionAnalysis.coverage`): the shared words must be what answers, not furniture that many pages repeat
(Wikipedia's plant articles all end ``目前尚未由人工引种栽培``; with a question word in the run as the only test, the
CMRC question ``狭叶艾纳香分布在哪些地区？`` lost its answer to that boilerplate).
"""

from __future__ import annotations

from difflib import SequenceMatcher

from rag.answering.evidence import Candidate, QuestionAnalysis
from rag.models import story_of

#: Score distance from the best candidate (same units as :attr:`Candidate.score`) within which support counts.
MARGIN = 0.1
#: Score gained per supporting story: as much as the margin, so one more supporting story outweighs any closeness.
BONUS = 0.1
#: Most supporting stories counted.
MAX_SUPPORT = 2
#: Least length (characters) of a verbatim run shared by two sentences: shorter ones are set phrases.
SHARED_RUN_CHARS = 12
#: Least coverage of the question by the shared run itself.
RUN_COVERAGE = 0.5
#: Candidates (best first) searched for support.
POOL = 20
#: Close candidates compared (best first).
CLOSE = 8


def corroborate(candidates: list[Candidate], analysis: QuestionAnalysis) -> None:
    """Add the redundancy bonus to the candidates close to the best and re-sort ``candidates`` (best first, in
    place); ``analysis`` is the question they were scored for."""
    if len(candidates) < 2:
        return
    top = candidates[0].score
    close = [c for c in candidates[:CLOSE] if c.score >= top - MARGIN]
    if len(close) < 2:
        return
    pool = [(c, _story(c), _grams(c.norm)) for c in candidates[:POOL]]  # close is its head: POOL >= CLOSE
    for cand, story, grams in pool[: len(close)]:
        # A shared run of SHARED_RUN_CHARS+ characters means a shared gram of that length: most pairs stop here.
        support = {other_story for other, other_story, other_grams in pool
                   if other_story != story and not grams.isdisjoint(other_grams)
                   and _shares_run(cand.norm, other.norm, analysis)}
        cand.score += BONUS * min(MAX_SUPPORT, len(support))
    candidates.sort(key=lambda c: c.score, reverse=True)


def _grams(norm: str) -> set[str]:
    return {norm[i : i + SHARED_RUN_CHARS] for i in range(len(norm) - SHARED_RUN_CHARS + 1)}


def _story(cand: Candidate) -> str:
    return story_of(cand.hit.node.metadata, cand.hit.node.node_id)


def _shares_run(a: str, b: str, analysis: QuestionAnalysis) -> bool:
    """Whether normalised sentences ``a`` and ``b`` share a run of :data:`SHARED_RUN_CHARS`+ characters covering
    :data:`RUN_COVERAGE` of the question."""
    match = SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
    if match.size < SHARED_RUN_CHARS:
        return False
    return analysis.coverage(a[match.a : match.a + match.size]) >= RUN_COVERAGE
