"""Extractive answering: pick the sentence(s) of the retrieved chunks that answer the question, with citations.

Works with no LLM and no network. For each sentence of the top chunks we score (all on normalised text):

- keyword coverage: the IDF-weighted share of the question's content words (jieba) found in the sentence, mixed
  with character-bigram overlap so that segmentation differences between question and text do not hide a match;
- context coverage: the same over the chunk with its article title (a sentence often omits the subject that the
  headline or the previous sentence gives);
- answer type: 多少/几 wants a number with a unit, 谁 a person, 哪天/何时 a date, 哪里/哪家 a place or organisation
  (regular expressions, and jieba's part-of-speech tags nr/ns/nt for names);
- a small prior for the chunk's retrieval rank.

When the best context does not cover the question's rarest words (a word absent from the corpus has the largest
IDF), the answerer says so (``found: false``) instead of quoting an unrelated sentence.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from llama_index.core.schema import NodeWithScore

from rag.answering.abbreviations import asks_for_a_name, expand_abbreviations
from rag.answering.alternatives import other_values
from rag.answering.evidence import (
    MIN_CONTEXT_COVERAGE,
    MIN_SENTENCE_COVERAGE,
    SHORT_SENTENCE,
    Candidate,
    QuestionAnalysis,
)
from rag.answering.question import (
    _CLAUSE_SPLIT,
    _LEANS_BACK,
    _ROLE_FRAME,
    QuestionType,
    _has_pos,
    asks_definition_of,
)
from rag.answering.redundancy import corroborate
from rag.answering.slots import Entity, has_unit, supported
from rag.answering.sources import citation_for
from rag.answering.timeline import dated_prefix, in_scope_answer, newest_answer, other_value, printed_apart
from rag.models import NOT_FOUND_ANSWER, Answer, Citation, story_of
from rag.text.dateline import strip_lead
from rag.text.event_dates import iso_date, spell_out_date
from rag.text.normalize import normalize
from rag.text.sentences import sign_off, split_sentences
from rag.text.time_expr import Recency

#: Candidates (best first) searched for one about the question's subject, and their least score relative to the best.
SUBJECT_CANDIDATES = 15
SUBJECT_MIN_SHARE = 0.5


#: Sentences before the answer searched for the name a 谁/哪个机构/哪里 answer leaves to its context.
LOOK_BACK = 3
#: Longest share of the answer that sentence may take; the answer sentence is windowed to leave it room.
NAME_SENTENCE_SHARE = 0.6
REPORT_CHARS = 3000  # characters of an article searched for the full names of short forms (bounds the cost)
_NAME_TAG = {QuestionType.PERSON: "nr", QuestionType.ORG: "nt", QuestionType.PLACE: "ns"}  # jieba part of speech
#: An organisation's name: 2+ characters before an institution suffix (公安部交通管理局, 十堰市公安局); jieba tags
#: few of them nt.
_NAMED_ORG = re.compile(r"[\u4e00-\u9fff]{2,}(?:部|局|委|厅|署|公司|集团|银行|大学|学院|医院|协会|委员会|研究院|研究所|法院|检察院|政府)")


def _names_kind(qtype: QuestionType, norm: str) -> bool:
    """Whether a normalised sentence names a person / organisation / place, as a 谁/哪个机构/哪里 answer must."""
    return bool(qtype is QuestionType.ORG and _NAMED_ORG.search(norm)) or _has_pos(norm, _NAME_TAG[qtype])


class ExtractiveAnswerer:
    """Answers from retrieved chunks without an LLM; see the module docstring for the method.

    ``max_chars`` bounds the answer text (characters, without citation markers).
    """

    def __init__(
        self, idf: Callable[[str], float], max_chars: int = 150, known: Callable[[str], bool] | None = None,
        article_text: Callable[[str], str] | None = None,
    ) -> None:
        self.idf = idf
        self.max_chars = max_chars
        self.known = known
        #: article id -> its whole text ("" when unknown): where a short form's full name is looked up.
        self.article_text = article_text

    def answer(self, question: str, nodes: list[NodeWithScore], recency: Recency = "auto",
               scope: tuple[str, str] | None = None) -> Answer:
        """An :class:`Answer` with ``mode="extractive"``; ``found`` False and no citations when nothing answers.
        When reports printed at different dates answer (asked for the newest, ``recency="latest"``, or giving
        different values months apart, ``"auto"``) the newest is given, with its date (:mod:`rag.answering.timeline`);
        ``"off"`` (the question names its own time) keeps the best-supported report, or one printed within
        ``scope`` (ISO since, until) that answers about as well."""
        analysis = QuestionAnalysis(question, self.idf)
        if analysis.total <= 0 or not nodes:
            return _not_found(question)
        candidates = [c for rank, hit in enumerate(nodes) for c in analysis.candidates(hit, rank)]
        if not candidates:
            return _not_found(question)
        # Part-of-speech evidence only for the most promising sentences (it is the slow part).
        candidates.sort(key=lambda c: c.score, reverse=True)
        if analysis.qtype in (QuestionType.PERSON, QuestionType.ORG, QuestionType.PLACE):
            for cand in candidates[:8]:
                if analysis.kind(cand.norm) == 0.0:
                    cand.score += 0.3 * analysis.kind(cand.norm, use_pos=True) * min(1.0, cand.coverage * 2)
            candidates.sort(key=lambda c: c.score, reverse=True)
        corroborate(candidates, analysis)
        best = self._subject_match(analysis, candidates, nodes)
        if best is None or best.context < MIN_CONTEXT_COVERAGE or best.coverage < MIN_SENTENCE_COVERAGE:
            return _not_found(question)
        context = normalize(str(best.hit.node.metadata.get("title", "")) + "\n" + best.hit.node.get_content())
        if analysis.role and analysis.role not in context:
            return _not_found(question)
        if self.known is not None and not analysis.names_topic(context, self.known):
            return _not_found(question)
        if self.known is not None and analysis.missing_unknown_name(context, self.known):
            return _not_found(question)
        pool = [c for c in candidates if c.context >= MIN_CONTEXT_COVERAGE and c.coverage >= MIN_SENTENCE_COVERAGE]
        if recency == "off":  # the question names its time: say when the report answering it was printed
            if scope is not None:
                best = in_scope_answer(analysis, best, pool, *scope)
            dated, over_time = bool(best.hit.node.metadata.get("published")), False
        else:
            best, over_time = newest_answer(analysis, best, pool, recency == "latest")
            dated = over_time

        chosen = [best]
        budget = self.max_chars - len(best.sentence)
        best_chars = self.max_chars  # the answer sentence is windowed to this many characters
        kind = QuestionType.OTHER if _ROLE_FRAME.search(analysis.norm) else analysis.qtype  # 担任什么职务: no 谁
        for neighbour in self._neighbours(best, kind):
            if len(neighbour.sentence) <= budget:
                chosen.append(neighbour)
                budget -= len(neighbour.sentence)
            elif neighbour.order < best.order and analysis.qtype in _NAME_TAG and (
                    len(neighbour.sentence) <= NAME_SENTENCE_SHARE * self.max_chars):
                # The name a 谁/哪个机构 answer needs: room is made by windowing the answer sentence.
                chosen.append(neighbour)
                best_chars, budget = self.max_chars - len(neighbour.sentence), 0
        for cand in [] if over_time else candidates[:6]:  # figures over time: the others go to alternatives
            if budget <= 0:
                break
            if (
                cand.score >= 0.75 * best.score and len(cand.sentence) <= budget
                and not any(_same_text(cand, c) for c in chosen) and not _contradicts(analysis, best, cand)
            ):
                chosen.append(cand)
                break
        # Sentences of one chunk read best in their original order.
        chosen.sort(key=lambda c: (0, c.order) if c.rank == best.rank else (1, 0))

        names_asked = asks_for_a_name(analysis.norm, analysis.qtype in _NAME_TAG)
        reports: dict[str, str] = {}  # article id -> the report's text, fetched once per answer
        citations: list[Citation] = []
        numbers: dict[str, int] = {}
        parts: list[str] = []
        for cand in chosen:
            hit = cand.hit
            chunk_id = hit.node.node_id
            if chunk_id not in numbers:
                numbers[chunk_id] = len(numbers) + 1
                citations.append(citation_for(numbers[chunk_id], hit))
            text = strip_lead(cand.sentence)
            limit = best_chars if cand is best else self.max_chars
            if len(text) > limit:
                text = self._window(text, analysis, limit)
            if cand is best and analysis.qtype is QuestionType.DATE:  # 16日 -> 16日（2023年8月16日）
                text = spell_out_date(text, iso_date(hit.node.metadata.get("published")))
            if names_asked:  # 哪个展会: 进博会 -> 进博会（第六届中国国际进口博览会）
                text = expand_abbreviations(text, self._report_text(hit, reports), analysis.norm)
            parts.append(f"{text}[{numbers[chunk_id]}]")
        return Answer(question=question, answer=(dated_prefix(best) if dated else "") + "".join(parts), found=True,
                      mode="extractive", citations=citations, alternatives=other_values(analysis, best, candidates))

    @staticmethod
    def _subject_match(
        analysis: QuestionAnalysis, candidates: list[Candidate], nodes: list[NodeWithScore]
    ) -> Candidate | None:
        """The best candidate that is about the question's entities and, for a count, in its unit.

        None when a question entity is in no retrieved chunk (the reports are about something else) or no candidate
        names the subject. The unit is required only when some candidate has it.
        """
        texts = [normalize(str(h.node.metadata.get("title", "")) + "\n" + h.node.get_content()) for h in nodes]
        if not all(any(supported(e, t) for t in texts) for e in analysis.entities):
            return None  # a name no retrieved report mentions: they are about something else
        required = analysis.entities
        if asks_definition_of(analysis.subject, analysis.norm):  # 什么是X: only a sentence about X (or leaning on it) defines it
            required = [*required, Entity(str(analysis.subject))]
        pool = [c for c in candidates[:SUBJECT_CANDIDATES] if c.score >= SUBJECT_MIN_SHARE * candidates[0].score]
        about = [c for c in pool if analysis.names_subject(c, required)]
        if len(analysis.topic) >= 3:  # 中英两国应坚持什么原则: a report about 中日 answers another question
            topic = Entity(analysis.topic)
            # The lead too: a later chunk of the article may never repeat the topic its first sentence names.
            naming = {h.node.node_id for h, text in zip(nodes, texts, strict=True)
                      if supported(topic, text) or supported(topic, normalize(str(h.node.metadata.get("lead", ""))))}
            about = [c for c in about if c.hit.node.node_id in naming] or about
        if analysis.unit:
            counted = [c for c in about if has_unit(c.norm, analysis.unit)]
            about = counted or about
        return about[0] if about else None

    @staticmethod
    def _neighbours(best: Candidate, qtype: QuestionType = QuestionType.OTHER) -> list[Candidate]:
        """Sentences the answer sentence leans on: the one before when it opens with 因此/但/这...; for a
        谁/哪个机构/哪里 question whose sentence names no person, organisation or place, the nearest of the
        ``LOOK_BACK`` sentences before it that does (jieba's nr/nt/ns) (``进一步扩大…试点`` continues
        ``公安部交通管理局部署…``), or the report's lead when the passage starts before any does; the one after when
        it is short (under ``SHORT_SENTENCE`` characters)."""
        sentences = split_sentences(best.hit.node.get_content())
        wanted = []
        lead = ""
        if _LEANS_BACK.match(best.sentence):
            wanted.append(best.order - 1)
        elif qtype in _NAME_TAG and not _names_kind(qtype, best.norm):
            named = [i for i in range(best.order - 1, max(-1, best.order - 1 - LOOK_BACK), -1)
                     if i < len(sentences) and _names_kind(qtype, normalize(sentences[i]))]
            wanted.extend(named[:1])
            meta = best.hit.node.metadata
            # The look-back stopped at the passage's start (a later chunk): the report's lead often names the actor.
            if not named and best.order < LOOK_BACK and int(meta.get("chunk_index") or 0) > 0:
                lead = str(meta.get("lead") or "").strip()
                lead = lead if lead and _names_kind(qtype, normalize(lead)) else ""
        if len(best.sentence) < SHORT_SENTENCE:
            wanted.append(best.order + 1)
        out = [Candidate(lead, normalize(lead), best.rank, -1, 0.0, best.context, 0.0, best.hit)] if lead else []
        for index in wanted:
            if 0 <= index < len(sentences) and sentences[index].strip() and not sign_off(sentences[index]):
                text = sentences[index].strip()
                out.append(Candidate(text, normalize(text), best.rank, index, 0.0, best.context, 0.0, best.hit))
        return out

    def _report_text(self, hit: NodeWithScore, reports: dict[str, str]) -> str:
        """The answer's report: title, lead, the article's first ``REPORT_CHARS`` when ``article_text`` knows it (a name
        is given in full once, anywhere: 图片来源：公安部交通管理局) and the passage; memoised in ``reports``."""
        meta = hit.node.metadata
        key = str(meta.get("article_id", "")) or hit.node.node_id
        if key not in reports:  # the article's opening (names are given in full first) and the passage itself
            whole = self.article_text(key)[:REPORT_CHARS] if self.article_text and meta.get("article_id") else ""
            passage = hit.node.get_content()
            reports[key] = f"{meta.get('title', '')}\n{meta.get('lead', '')}\n{whole}" + (
                "" if passage in whole else f"\n{passage}")
        return reports[key]

    def _window(self, sentence: str, analysis: QuestionAnalysis, max_chars: int | None = None) -> str:
        """The run of clauses of an over-long sentence that best covers the question, within ``max_chars``
        (default: the answerer's)."""
        max_chars = max_chars or self.max_chars
        clauses = [c for c in _CLAUSE_SPLIT.split(sentence) if c]
        scores = []
        for clause in clauses:
            norm = normalize(clause)
            scores.append(analysis.coverage(norm) + 0.5 * analysis.kind(norm))
        best_i = max(range(len(clauses)), key=lambda i: scores[i])
        lo = hi = best_i
        length = len(clauses[best_i])
        while True:
            options = []
            if lo > 0 and length + len(clauses[lo - 1]) <= max_chars - 2:
                options.append((scores[lo - 1] + 0.01, -1))
            if hi + 1 < len(clauses) and length + len(clauses[hi + 1]) <= max_chars - 2:
                options.append((scores[hi + 1] + 0.02, 1))  # prefer what follows: answers come after the subject
            if not options:
                break
            _, step = max(options)
            if step < 0:
                lo -= 1
                length += len(clauses[lo])
            else:
                hi += 1
                length += len(clauses[hi])
        text = "".join(clauses[lo : hi + 1])
        if len(text) > max_chars - 2:
            text = text[: max_chars - 2]
        return ("…" if lo > 0 else "") + text + ("…" if hi < len(clauses) - 1 else "")



def _not_found(question: str) -> Answer:
    return Answer(question=question, answer=NOT_FOUND_ANSWER, found=False, mode="extractive", citations=[])


def _contradicts(analysis: QuestionAnalysis, best: Candidate, cand: Candidate) -> bool:
    """Whether ``cand``, from another report printed months away from ``best``'s, fills the question's slot with
    another value: the same figure at another time (two of them side by side would leave the reader to choose; the
    other one is listed as an alternative instead). Reports of the same weeks with other figures are usually about
    other facts (装机达到… beside 新增装机…) and may complete the answer."""
    if story_of(cand.hit.node.metadata) == story_of(best.hit.node.metadata) or not printed_apart(best, cand):
        return False
    return other_value(analysis, best, cand)


def _same_text(a: Candidate, b: Candidate) -> bool:
    """Whether two sentences say the same thing word for word once leads are set aside (``参考消息网8月4日报道据路透社…``
    quoting the Reuters sentence another report also quotes): the answer gives it once."""
    x, y = strip_lead(a.norm), strip_lead(b.norm)
    return x == y or (min(len(x), len(y)) >= 10 and (x in y or y in x))
