"""Extractive answering: the sentence of the retrieved chunks that answers the question, with citations, or a
refusal.

Works with no LLM and no network. Every sentence of the retrieved chunks is a candidate with a feature vector
(:mod:`rag.answering.features`); the learned selector (:mod:`rag.answering.selector`) ranks them and gives the
calibrated probability that the best one answers. Below the refusal threshold (``min_confidence``, default the
model file's) the answer is "not found". Either way the answer carries that probability as ``confidence``.
The answer text is the best sentence (cut to ``max_chars``) with its neighbours (the sentence before when the best
leans on it, the one after when the best is short) and the next candidate of the same passage above the threshold,
each when it fits; reports printed at different dates are chosen between by :mod:`rag.answering.timeline`.
Why the neighbours stay and which rules were deleted: docs/ablation-rules.md.
"""

from __future__ import annotations

from collections.abc import Callable

from llama_index.core.schema import NodeWithScore

from rag.answering.features import Candidate, candidates
from rag.answering.question import LEANS_BACK, Question
from rag.answering.selector import SelectorModel, load_model
from rag.answering.sources import citation_for
from rag.answering.timeline import dated_prefix, in_scope_answer, newest_answer
from rag.models import NOT_FOUND_ANSWER, Answer
from rag.text.dateline import strip_lead
from rag.text.normalize import normalize
from rag.text.sentences import sign_off, split_sentences
from rag.text.time_expr import Recency

#: An answer sentence shorter than this (characters) is completed with the sentence after it (the rule's original
#: constant, bd08680^; the ablation in docs/ablation-rules.md measured it as is, it was not tuned).
SHORT_SENTENCE = 40


class ExtractiveAnswerer:
    """Answers from retrieved chunks without an LLM; see the module docstring for the method.

    ``idf`` maps a normalised token to its BM25 inverse document frequency; ``max_chars`` bounds the answer text
    (characters, without citation markers); ``min_confidence`` overrides the model's refusal threshold (0..1);
    ``model`` defaults to the shipped selector.
    """

    def __init__(self, idf: Callable[[str], float], max_chars: int = 150, min_confidence: float | None = None,
                 model: SelectorModel | None = None) -> None:
        self.idf = idf
        self.max_chars = max_chars
        self.model = model or load_model()
        self.min_confidence = self.model.threshold if min_confidence is None else min_confidence

    def rank(self, question: str, nodes: list[NodeWithScore]) -> tuple[Question, list[Candidate], float]:
        """The analysed question, its candidates best first (``score``: calibrated probability) and the best's
        probability (0.0 when there is no candidate)."""
        q = Question(question, self.idf)
        ranked = self.model.rank(candidates(q, nodes)) if q.total > 0 else []
        for cand in ranked:
            cand.score = self.model.probability(cand.score)
        return q, ranked, ranked[0].score if ranked else 0.0

    def answer(self, question: str, nodes: list[NodeWithScore], recency: Recency = "auto",
               scope: tuple[str, str] | None = None) -> Answer:
        """An :class:`Answer` with ``mode="extractive"`` and ``confidence``; ``found`` False and no citations when
        the best candidate's probability is under the threshold. When reports printed at different dates answer
        (asked for the newest, ``recency="latest"``, or giving different values months apart, ``"auto"``) the newest
        is given, with its date; ``"off"`` (the question names its time) keeps the best report, or one printed within
        ``scope`` (ISO since, until) that answers about as well."""
        q, ranked, confidence = self.rank(question, nodes)
        if not ranked or confidence < self.min_confidence:
            return Answer(question=question, answer=NOT_FOUND_ANSWER, found=False, mode="extractive", citations=[],
                          confidence=round(confidence, 4))
        best = ranked[0]
        if recency == "off":  # the question names its time: say when the report answering it was printed
            if scope is not None:
                best = in_scope_answer(q, best, ranked, *scope, self.min_confidence)
            dated = bool(best.hit.node.metadata.get("published"))
        else:
            best, dated = newest_answer(q, best, ranked, recency == "latest", self.min_confidence)
        chosen = [best, *self._neighbours(best)]
        chosen = sorted([*chosen, *self._same_passage(best, ranked, chosen)], key=lambda c: c.order)
        budget = self.max_chars - sum(len(c.sentence) for c in chosen if c is not best)
        parts = []
        for cand in chosen:
            text = strip_lead(cand.sentence)
            if cand is best and len(text) > budget:
                text = text[: max(20, budget) - 1] + "…"
            parts.append(text)
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
        when ``best`` is shorter than :data:`SHORT_SENTENCE`; each only while the answer stays within
        ``max_chars``, never a sign-off. The sentence beside the one the selector picks sometimes holds the answer,
        or the rest of it."""
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

