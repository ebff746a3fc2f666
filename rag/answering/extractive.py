"""Extractive answering, with no LLM and no network: the sentence of the retrieved chunks that answers, cited, or
a refusal.

Every sentence of the retrieved chunks is a candidate (:mod:`rag.answering.features`); the learned selector
(:mod:`rag.answering.selector`) ranks them and gives the calibrated probability that the best one answers, the
answer's ``confidence``. Under the refusal threshold the answer is "not found"; else it is the best sentence with its
neighbours and the next candidate of its passage above the threshold, each when it fits. Why the neighbours stay and
which rules were deleted: docs/ablation-rules.md.

Answers over time: an archive repeats a fact as it changes (``郏县建成5G基站300座`` in 2020, ``1200座`` in 2023). Of the
reports that answer (by the selector's own threshold, ``floor``) and name the subject, our rules choose:

- one printed in the range the question names (``2021年``, ``去年``) that answers about as well (:func:`in_scope_answer`);
- the newest, when the question asks for it (``最新``, ``最近``, ``目前``) or another report printed :data:`DISAGREE_DAYS` or
  more later gives *another value* (the sources disagree over time: the answer gives its date, :func:`dated_prefix`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import suppress
from datetime import date
from itertools import takewhile

from llama_index.core.schema import NodeWithScore

from rag.answering.citation_check import citation_for
from rag.answering.features import Candidate, candidates
from rag.answering.selector import SelectorModel, load_model
from rag.answering.verifier import Similarity
from rag.errors import EmbeddingModelError
from rag.models import NOT_FOUND_ANSWER, Answer, print_label, story_of
from rag.text.dateline import strip_lead
from rag.text.normalize import normalize
from rag.text.question import LEANS_BACK, Question, answer_value, names_in
from rag.text.sentences import sign_off, split_sentences
from rag.text.time_expr import Recency

#: An answer sentence shorter than this (characters) is completed with the sentence after it (the rule's original
#: constant, bd08680^; the ablation in docs/ablation-rules.md measured it as is, it was not tuned).
SHORT_SENTENCE = 40
#: Days between two printings that disagree on a value before the newer one is preferred unasked (a figure
#: reported again months later is an update; within weeks it is more often another event of the same kind).
DISAGREE_DAYS = 180
_DIGITS = re.compile(r"\d+(?:\.\d+)?")


class ExtractiveAnswerer:
    """Answers from retrieved chunks without an LLM (the module docstring). ``idf`` maps a normalised token to its
    BM25 inverse document frequency; ``similarity`` gives the refusal's e5 similarities (:mod:`rag.answering.
    verifier`); ``max_chars`` bounds the answer text (characters, without citation markers);
    ``min_confidence`` overrides the model's refusal threshold (0..1); ``model`` defaults to the shipped selector."""

    def __init__(self, idf: Callable[[str], float], similarity: Similarity, max_chars: int = 150,
                 min_confidence: float | None = None, model: SelectorModel | None = None) -> None:
        self.idf = idf
        self.similarity = similarity
        self.max_chars = max_chars
        self.model = model or load_model()
        self.min_confidence = self.model.threshold if min_confidence is None else min_confidence

    def rank(self, question: str, nodes: list[NodeWithScore]) -> tuple[Question, list[Candidate], float]:
        """The analysed question, its candidates best first (``score``: calibrated probability) and the best's
        probability (0.0 when there is no candidate). The best candidate's probability reads its e5 similarities
        (:mod:`rag.answering.verifier`, ~80 ms on one core); the others, which only the time rules and the passage
        completion below compare with the threshold, read the training means in their place (their logit alone)."""
        q = Question(question, self.idf)
        ranked = self.model.rank(candidates(q, nodes)) if q.total > 0 else []
        if not ranked:
            return q, ranked, 0.0
        best, sims = ranked[0], None
        with suppress(EmbeddingModelError):  # the packaged e5 cannot load (logged once): the logit alone decides
            sims = self.similarity(question, [best.verified])[0]
        for cand in ranked:
            cand.score = self.model.probability(cand.score, sims if cand is best else None)
        return q, ranked, best.score

    def answer(self, question: str, nodes: list[NodeWithScore], recency: Recency = "auto",
               scope: tuple[str, str] | None = None) -> Answer:
        """An :class:`Answer` with ``mode="extractive"`` and ``confidence``; ``found`` False and no citations under
        the threshold. ``recency`` (module docstring): ``"latest"``, ``"auto"``, or ``"off"`` (the question names its
        time: the best report, or one printed within ``scope``, ISO since and until, that answers about as well)."""
        q, ranked, confidence = self.rank(question, nodes)
        if not ranked or confidence < self.min_confidence:
            return Answer(question=question, answer=NOT_FOUND_ANSWER, found=False, mode="extractive", citations=[],
                          confidence=round(confidence, 4))
        best = ranked[0]
        if recency == "off":  # the question names its time: say when the report answering it was printed (if known)
            best, dated = in_scope_answer(q, best, ranked, *scope, self.min_confidence) if scope else best, True
        else:
            best, dated = newest_answer(q, best, ranked, recency == "latest", self.min_confidence)
        chosen = [best, *self._neighbours(best)]
        chosen = sorted([*chosen, *self._same_passage(best, ranked, chosen)], key=lambda c: c.order)
        budget = self.max_chars - sum(len(c.sentence) for c in chosen if c is not best)
        parts = [strip_lead(cand.sentence) for cand in chosen]  # the best one cut to the budget the others leave
        parts = [t[: max(20, budget) - 1] + "…" if c is best and len(t) > budget else t
                 for c, t in zip(chosen, parts, strict=True)]
        return Answer(question=question, answer=(dated_prefix(best) if dated else "") + "".join(parts) + "[1]",
                      found=True, mode="extractive", citations=[citation_for(1, best.hit)],
                      confidence=round(confidence, 4))

    def _same_passage(self, best: Candidate, ranked: list[Candidate], chosen: list[Candidate]) -> list[Candidate]:
        """The next candidate of ``best``'s passage that the selector also finds answering (a list or a figure often
        spans two sentences), when it fits beside ``chosen``; else nothing."""
        room = self.max_chars - sum(len(c.sentence) for c in chosen)
        extra = next((c for c in ranked[1:4] if c.hit is best.hit and c.score >= self.min_confidence
                      and len(c.sentence) <= room and all(c.order != o.order for o in chosen)), None)
        return [extra] if extra else []

    def _neighbours(self, best: Candidate) -> list[Candidate]:
        """The sentence before ``best`` when it leans on it (:data:`LEANS_BACK`: 因此, 这, 该 ...), the one after
        when ``best`` is shorter than :data:`SHORT_SENTENCE` (it may hold the rest of the answer); each only while
        the answer stays within ``max_chars``, never a sign-off."""
        sentences = split_sentences(best.hit.node.get_content())
        wanted = [best.order - 1] if LEANS_BACK.match(best.norm) else []
        if len(best.sentence) < SHORT_SENTENCE:
            wanted.append(best.order + 1)
        out, room = [], self.max_chars - len(best.sentence)
        for index in wanted:
            text = sentences[index].strip() if 0 <= index < len(sentences) else ""
            if text and not sign_off(text) and len(text) <= room:
                out.append(Candidate(text, normalize(strip_lead(text)), best.rank, index, best.hit))
                room -= len(text)
        return out


def other_value(analysis: Question, a: Candidate, b: Candidate) -> bool:
    """Whether sentence ``b`` answers with another value than ``a``: another number in the asked unit or another
    date (:func:`rag.text.question.answer_value`), or, for any question, the same sentence with other figures
    (``于1998年建成`` / ``于2004年建成``)."""
    mine = answer_value(analysis.qtype, analysis.unit, a.norm)
    other = answer_value(analysis.qtype, analysis.unit, b.norm)
    if mine is not None and other is not None:
        return mine != other
    return a.norm != b.norm and _DIGITS.sub("#", a.norm) == _DIGITS.sub("#", b.norm)


def _published(cand: Candidate) -> str:
    return str(cand.hit.node.metadata.get("published") or "")[:10]


def _days_between(a: str, b: str) -> int:
    try:
        return (date.fromisoformat(b) - date.fromisoformat(a)).days
    except ValueError:
        return 0


def newest_answer(analysis: Question, best: Candidate, candidates: list[Candidate],
                  prefer_latest: bool, floor: float) -> tuple[Candidate, bool]:
    """The candidate to answer from, and whether the answer should say when it was printed: the sources disagree
    over time (another dated report answers, its probability ``score`` >= ``floor``, with another value,
    :data:`DISAGREE_DAYS` apart), or the newest was asked for. ``candidates`` are best first."""
    chosen, chosen_date, disagree = best, _published(best), False
    for cand in takewhile(lambda c: c.score >= floor, candidates):
        printed = _published(cand)
        if (not printed or story_of(cand.hit.node.metadata) == story_of(best.hit.node.metadata)
                or not about_subject(analysis, cand)):
            continue
        changed = (other_value(analysis, best, cand)
                   and abs(_days_between(_published(best) or printed, printed)) >= DISAGREE_DAYS)
        disagree = disagree or changed
        if printed > chosen_date and (prefer_latest or changed):
            chosen, chosen_date = cand, printed
    return chosen, disagree or (prefer_latest and bool(chosen_date))


def in_scope_answer(analysis: Question, best: Candidate, candidates: list[Candidate], since: str,
                    until: str, floor: float) -> Candidate:
    """For a question naming its time (ISO ``since``..``until``): ``best`` when it was printed in that range, else
    the best candidate printed in it that answers too (``score`` >= ``floor``) about the subject: the words of the
    year favour later reports that mention it, and such a report loses to the report of that year."""
    if since <= _published(best) <= until:
        return best
    return next((cand for cand in takewhile(lambda c: c.score >= floor, candidates)
                 if since <= _published(cand) <= until and about_subject(analysis, cand)), best)


def about_subject(question: Question, cand: Candidate) -> bool:
    """Whether ``cand`` names every name of the question in its sentence or context (title, lead, sentences around)."""
    return all(names_in(n, cand.norm) or names_in(n, cand.frame) for n in question.names)


def dated_prefix(cand: Candidate) -> str:
    """``据《平顶山日报》2021-12-31第1版报道，`` for the chunk of ``cand``; ``""`` when its date is unknown."""
    meta, printed = cand.hit.node.metadata, _published(cand)
    label = print_label(meta.get("publication") or None, printed, meta.get("page") or None)
    return f"据{label}报道，" if printed else ""
