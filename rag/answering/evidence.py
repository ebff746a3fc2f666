"""Sentence evidence: a question prepared for matching (:class:`QuestionAnalysis`: IDF-weighted content words,
character bigrams, answer type) and the scored sentences (:class:`Candidate`) of a retrieved chunk. Shared by
the extractive answerer and the evidence reranker of retrieval.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from llama_index.core.schema import NodeWithScore

from rag.answering.cloze import anchor_score, question_times, slot_anchors, time_score
from rag.answering.question import (
    _LATIN_TERM,
    _PERSON_CUE,
    QuestionType,
    _bigrams,
    _strip_interrogatives,
    _type_score,
    definition_subject,
    property_cue,
    question_type,
    subject_pronoun,
)
from rag.answering.slots import (
    REGION_WORDS,
    SLOT_NOUNS,
    Entity,
    asked_nouns,
    asked_slot_nouns,
    named_as_word,
    question_entities,
    supported,
    wanted_unit,
)
from rag.answering.synonyms import SYNONYM_CREDIT, paraphrased
from rag.answering.terms import FRAGMENT_WEIGHT, term_weights
from rag.text.dateline import strip_lead
from rag.text.normalize import jieba_module, keywords, normalize
from rag.text.sentences import sign_off, split_sentences

#: Below this IDF-weighted coverage of the question by the best context, the answer is "not found".
#: Set by measurement on half 0 of the CMRC refusal benchmark (docs/evaluation.md, "Refusals"): 0.5 before the topic
#: rule (:meth:`QuestionAnalysis.names_topic`) took over refusing questions about names absent from the corpus.
MIN_CONTEXT_COVERAGE = 0.42
#: Below this coverage of the question by the chosen sentence itself, the answer is "not found".
MIN_SENTENCE_COVERAGE = 0.15
#: Within an article, what a sentence gains (x the word's weight) by repeating a question word its title already
#: holds; the title itself credits the rest (see :meth:`QuestionAnalysis.coverage`).
TITLE_DISCOUNT = 0.25
#: Weight of the cloze-anchor match (:mod:`rag.answering.cloze`) in a sentence's score.
CLOZE_WEIGHT = 0.3
#: Score added to a sentence holding the date the question names (:func:`rag.answering.cloze.time_score`).
TIME_WEIGHT = 0.2
#: An answer sentence shorter than this (characters) is completed with the sentence it leans on.
SHORT_SENTENCE = 40


#: Sentence openings whose subject is a pronoun or left out (它的面积…, 该快餐厅…, 更缔造了…): the subject is what
#: the title and the sentences before name.
_LEANS_ON_SUBJECT = re.compile(r"^(?:它|其|该|此|这|他|她|本|更|并|也|又|还|曾|亦|遂|则)")


_UNSPACED = re.compile(r"[\s·‧・.．\-—_:：!！,，、\"“”《》'（）()「」]")
_TOPIC_TAGS = frozenset(("n", "nr", "ns", "nt", "nz", "nrt", "nrfg", "j", "eng", "nl", "ng", "an", "vn"))
#: What a question may open with before its topic: 请问, 在, and a time (2022年，/ 2019年12月 / 去年 / 据最新报道，),
#: which names when, not what (rag.text.time_expr reads it).
_OPENING = re.compile(
    r"^(?:请问|在)?\s*(?:(?:19|20)\d{2}\s*年(?:\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?)?(?:上半年|下半年)?"
    r"|今年|去年|前年|本月|上个?月|本周|上周|(?:据|根据)?(?:最新|最近|近期)的?(?:报道|消息)中?)?\s*[,，:：]?\s*(?:在)?"
)


def question_topic(norm_question: str) -> str:
    """The words a question opens with and is about (六耳铃 in 六耳铃的花期是什么时候？): its leading run of nouns and
    names (jieba part of speech), punctuation left out; empty when under 2 characters or when the question opens
    with a pronoun, verb or preposition (此剧的…, 于海… cut as 于 + 海)."""
    import jieba.posseg as pseg

    words: list[str] = []
    for pair in pseg.cut(_OPENING.sub("", norm_question)):
        word, flag = pair.word, pair.flag
        if word in "·‧・.-" and words:
            continue
        if flag in _TOPIC_TAGS or (flag in ("x", "m", "eng") and word.isalnum() and (flag != "m" or not words)):
            words.append(word)
        else:
            break
    topic = "".join(words)
    return topic if len(topic) >= 2 else ""


@dataclass
class Candidate:
    """A sentence of a retrieved chunk, scored as a possible answer."""

    sentence: str  # original characters
    norm: str
    rank: int  # rank of its chunk in retrieval (0 = best)
    order: int  # position of the sentence inside its chunk
    coverage: float  # of the question by the sentence, 0..1 (the higher of ranking and refusal-gate weights)
    context: float  # of the question by the chunk with its title, 0..1 (likewise)
    score: float
    hit: NodeWithScore
    #: Normalised text the sentence may lean on for its subject: title, lead, the two sentences before it.
    frame: str = ""


class QuestionAnalysis:
    """A question prepared for matching: type, IDF-weighted content words, character bigrams.

    ``idf`` maps a normalised token to its inverse document frequency (from the BM25 index).
    """

    def __init__(self, question: str, idf: Callable[[str], float]) -> None:
        self.question = question
        self.norm = normalize(question)
        self.qtype = question_type(self.norm)
        self.subject = definition_subject(self.norm)
        terms, self.weights = term_weights(self.norm, idf)
        # 她在哪个地区…工作？ leans on an earlier question for its subject, and the report answering it still says
        # 她是…: the pronoun counts where a text has it and is left out where it has not (see coverage).
        self.pronoun = subject_pronoun(self.norm)
        if self.pronoun:
            self.weights[self.pronoun] = idf(self.pronoun)
        # 分布在哪些省市 is answered by a list of provinces without the word 省市, 经历了哪些磨难 by the hardships: for the
        # refusal gates the noun asked for may weigh like a property noun (the higher of the two coverages, so a
        # sentence that has the noun loses nothing), and so it does when choosing the sentence. Retrieval's reranker
        # keeps its full weight, since the answer often ends with it (哪个医院 -> 第四医院, 什么协议 -> 外运协议; on
        # crud_dev a lighter weight there moved two source reports down from rank 1).
        asked = asked_slot_nouns(self.norm)
        self.gate_weights = {t: w * (FRAGMENT_WEIGHT if t in asked and t not in SLOT_NOUNS else 1.0)
                             for t, w in self.weights.items()}
        self.gated = self.gate_weights != self.weights  # the refusal gates weigh this question differently
        self._without_pronoun = {t: w for t, w in self.weights.items() if t != self.pronoun}
        self._gate_without_pronoun = {t: w for t, w in self.gate_weights.items() if t != self.pronoun}
        self.entities = question_entities(self.norm)
        self.unit = wanted_unit(self.norm) if self.qtype is QuestionType.NUMBER else None
        self._term_grams = {t: [t[i : i + 2] for i in range(len(t) - 1)] for t in terms if len(t) >= 3}
        self.total = sum(self.weights.values())
        self.grams = _bigrams(_strip_interrogatives(self.norm))
        # "谁是X市的市长？": the post asked for; a passage that never names it cannot answer who holds it.
        role = _PERSON_CUE.search(self.norm) if self.qtype == QuestionType.PERSON else None
        self.role = role.group(0) if role else None
        self.topic = question_topic(self.norm)
        self.anchors = slot_anchors(self.norm)
        self.times = question_times(self.norm)
        self.property = property_cue(self.norm)

    def kind(self, norm: str, use_pos: bool = False) -> float:
        """0..1: how much normalised ``norm`` holds the kind of answer asked for (:func:`_type_score`)."""
        return _type_score(self.qtype, norm, use_pos, self.subject, self.property)

    def coverage(self, text: str, title: str = "", gate: bool = False) -> float:
        """0..1 share of the question found in normalised ``text``: 3/4 IDF-weighted words, 1/4 bigrams.

        Words and bigrams that ``text`` lacks but ``title`` (the article's, normalised) holds count ``1 - TITLE_DISCOUNT``
        as much as found: the title already names the topic, so within an article a sentence repeating it gains only
        ``TITLE_DISCOUNT`` of those words' weight and is judged on the rest of the question, while an article whose
        title holds question words is not scored below one whose title does not (as when the title's words were
        only weighed down: 受伤人数至少是多少 lost to another event's sentence against the report titled
        ``…造成至少60人受伤``; on 2026-12-03 crud_dev first citation 0.830 -> 0.852, CMRC answers 0.853 -> 0.860).
        ``gate`` uses the refusal-gate weights (``gate_weights``: the noun asked for counts less) instead of the
        ranking ones.
        """
        if self.total <= 0:
            return 0.0
        weights = self.gate_weights if gate else self.weights
        if self.pronoun and self.pronoun not in text and self.pronoun not in title:
            weights = self._gate_without_pronoun if gate else self._without_pronoun
        grams = self.grams
        total = sum(weights.values()) or 1.0
        if title:
            credit = 1.0 - TITLE_DISCOUNT
            kw = sum(w * max(self._match(t, text), credit * self._match(t, title)) for t, w in weights.items()) / total
            if not grams:
                return kw
            in_text, in_title = _bigrams(text), _bigrams(title)
            gs = sum(1.0 if g in in_text else credit if g in in_title else 0.0 for g in grams) / len(grams)
            return 0.75 * kw + 0.25 * gs
        kw = sum(w * self._match(t, text) for t, w in weights.items()) / total
        if not grams:
            return kw
        return 0.75 * kw + 0.25 * len(grams & _bigrams(text)) / len(grams)

    def _match(self, term: str, text: str) -> float:
        """1 if ``term`` occurs in ``text``; for 3+ character terms, else 0.8 x the share of its bigrams that do.

        The partial credit absorbs jieba's guesses for unseen names (史继偕著, 杨昊现) that glue a name to the
        next character, so the name still counts when the text has it.
        """
        if term in text:
            return 1.0
        if paraphrased(term, text):
            return SYNONYM_CREDIT
        grams = self._term_grams.get(term)
        if not grams:
            return 0.0
        return 0.8 * sum(g in text for g in grams) / len(grams)

    def missing_unknown_name(self, context: str, known: Callable[[str], bool]) -> str | None:
        """A well-known name in the question that the corpus never mentions and ``context`` lacks, if any.

        Names are jieba part-of-speech nr/ns/nt/nz words of 2+ characters found in jieba's dictionary (frequency
        >= 5), so fragments guessed by its HMM for unseen names do not count, and Latin-letter words (GDP). Such a
        name (郑州 in a corpus about 焦作) means no passage can answer the question. A name that is not a person's
        counts as in ``context`` in a near form too (:func:`rag.answering.slots.named_as_word`: 冰淇林 for 冰淇淋, which
        jieba tags nr). Checked on CMRC 2018 trial
        (52 of its questions hold Latin words): no answer changed.
        """
        import jieba.posseg as pseg

        # A Latin-letter term (GDP, CPI, WTO ...) names one specific thing: absent from the whole corpus, no passage
        # can answer a question about it.
        for term in _LATIN_TERM.findall(self.norm):
            if not known(term) and term not in context:
                return term
        frequencies = jieba_module().dt.FREQ
        asked = asked_nouns(self.norm)  # 哪位帝王: the slot asked for, not a name the pages must hold
        for pair in pseg.cut(self.norm):
            word, flag = pair.word, pair.flag
            if (
                flag in ("nr", "ns", "nt", "nz") and len(word) >= 2 and frequencies.get(word, 0) >= 5
                and not known(word) and not named_as_word(word, flag, context) and word not in asked
                and word not in SLOT_NOUNS
                and not (word.endswith(REGION_WORDS) and word[:-2] in context)  # 台湾地区: 台湾 on the page
            ):
                return word
        return None

    def candidates(
        self, hit: NodeWithScore, rank: int, normalized: Callable[[str], str] = normalize, focus: bool = True
    ) -> list[Candidate]:
        """Scored sentences of one retrieved chunk (answer type by cue words only).

        With ``focus`` a sentence is scored on the question words its title lacks (choosing the answer within an
        article); without, on all of them (choosing the article).
        """
        title = normalized(str(hit.node.metadata.get("title", "")))
        text = hit.node.get_content()
        whole = title + "\n" + normalized(text)
        context = self.coverage(whole)
        gated = self.gated
        gate_context = max(context, self.coverage(whole, gate=True)) if gated else context
        head = title + "\n" + normalized(str(hit.node.metadata.get("lead", "")))
        out = []
        before: list[str] = []
        for order, sentence in enumerate(split_sentences(text)):
            sentence = sentence.strip()
            if len(sentence) < 4 or sign_off(sentence):
                continue
            # A lead (中国证券网讯（记者 X）, 中新网北京7月24日电) is metadata: its outlet and place words answer nothing.
            norm = normalized(strip_lead(sentence))
            frame = head + "\n" + "\n".join(before[-2:])
            before.append(norm)
            plain = self.coverage(norm)
            # Choosing the sentence within retrieved articles, the noun asked for weighs as in the refusal gates.
            focused = self.coverage(norm, title=title, gate=gated) if focus else plain
            # 它的面积约为…: the pronoun stands for what the title or lead names; this credit only gates refusal.
            # 分布于…/经济以矿业为支柱: a sentence that leaves out the topic its frame names leans on it the same way.
            leans = _LEANS_ON_SUBJECT.match(norm) or (
                self.topic and self.topic not in norm and self.topic in frame)
            cov = max(plain, self.coverage(norm + "\n" + frame)) if leans else plain
            if gated:
                cov = max(cov, self._gate_coverage(norm, frame, bool(leans)))
            score = focused + 0.35 * (gate_context if focus else context) + 0.05 / (rank + 1)
            score += 0.3 * self.kind(norm) * min(1.0, focused * 2)
            if focus:  # choosing the sentence within retrieved articles; the article ranking stays lexical
                score += CLOZE_WEIGHT * anchor_score(self.anchors, norm) * min(1.0, focused * 2)
                score += TIME_WEIGHT * time_score(self.times, norm) * min(1.0, focused * 2)
            out.append(Candidate(sentence, norm, rank, order, cov, gate_context, score, hit, frame))
        return out

    def _gate_coverage(self, norm: str, frame: str, leans: bool) -> float:
        plain = self.coverage(norm, gate=True)
        return max(plain, self.coverage(norm + "\n" + frame, gate=True)) if leans else plain

    def names_topic(self, context: str, known: Callable[[str], bool]) -> bool:
        """False when ``context`` (normalised) does not name the question's topic (:func:`question_topic`; a name
        glued to the next character, 冷湖市是, counts by all but one of its bigrams) and the topic holds a word of
        2+ characters that no chunk of the corpus has (``known``) and jieba's dictionary lacks: 六耳铃, absent from
        every page. Topics of common words (中英两国 for 中国和英国) are left to coverage."""
        topic = self.topic
        if not topic or supported(Entity(topic), _UNSPACED.sub("", context)):
            return True
        frequencies = jieba_module().dt.FREQ
        return all(known(w) or frequencies.get(w) for w in keywords(topic) if len(w) >= 2)

    def names_subject(self, cand: Candidate, required: list[Entity]) -> bool:
        """Whether ``cand`` is about every entity in ``required``: named in the sentence or in what it leans on
        (its frame: title, lead, the sentences before it)."""
        return all(supported(e, cand.norm) or supported(e, cand.frame) for e in required)
