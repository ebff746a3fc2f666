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
from dataclasses import dataclass
from enum import StrEnum

from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle

from ingest.chunk import split_sentences
from rag.models import NOT_FOUND_ANSWER, Answer, Citation
from rag.textnorm import STOPWORDS, keywords, normalize


class QuestionType(StrEnum):
    """What kind of phrase answers the question."""

    NUMBER = "number"
    PERSON = "person"
    DATE = "date"
    PLACE = "place"
    ORG = "org"
    REASON = "reason"
    DEFINITION = "definition"
    OTHER = "other"


_QTYPE_PATTERNS: list[tuple[QuestionType, re.Pattern[str]]] = [
    (QuestionType.REASON, re.compile(r"为什么|为何|什么原因|原因是|怎么会")),
    (QuestionType.DATE, re.compile(r"哪天|何时|什么时候|哪一?年|几月|几号|几日|什么时间|哪个月|何年|哪一天|日期")),
    (QuestionType.NUMBER, re.compile(r"多少|几[个家位名座项次人年天倍条种所户批件届期]?|多大|多高|多长|多远|多重|多久|百分之几|比例|比重")),
    (QuestionType.PERSON, re.compile(r"谁|哪位|何人|什么人|叫什么名字|姓名|(?:什么|何种|哪个|哪些)(?:职务|职位|官职|身份)")),
    (QuestionType.ORG, re.compile(r"哪家|哪个(单位|公司|机构|部门|学校|组织|企业|团队)|什么(单位|公司|机构|部门|组织|企业)")),
    (QuestionType.PLACE, re.compile(r"哪里|哪儿|何地|何处|在哪|什么地方|哪个(省|市|县|国家|城市|地区|地方|镇|村)")),
]

_NUM = r"(?:\d[\d,.]*|[零一二两三四五六七八九十百千万亿]+)"
_NUMBER_WITH_UNIT = re.compile(
    _NUM + r"\s*(?:%|余|多)?\s*(?:[万亿千百]?(?:个|家|人|名|位|座|项|次|件|起|元|户|所|条|种|台|辆|吨|米|亩|天|年|倍|批|期|届"
    r"|轮|场|块|份|处|栋|套|间|张|部|篇|公里|千米|平方米|平方公里|小时|分钟|秒|岁|万元|亿元|人次|家次|千瓦|公顷|斤|公斤|克)"
    r"|%)"
)
_ANY_NUMBER = re.compile(r"\d")
_DATE = re.compile(r"\d{1,4}\s*年|\d{1,2}\s*月\s*\d{1,2}\s*日|\d{1,2}\s*月|\d{1,2}\s*日|[昨今明前]日|今年|去年|前年|上午|下午|世纪|年代")
_PERSON_CUE = re.compile(r"(?:书记|主任|市长|县长|局长|主席|记者|经理|董事长|校长|院长|部长|厅长|镇长|村长|总裁|教授|队长|主持人|所长|站长)")
_ORG_CUE = re.compile(r"(?:公司|集团|局|委|厅|院|所|中心|协会|学校|大学|中学|小学|银行|医院|政府|部门|单位|委员会|办公室|企业|街道|社区)")
_PLACE_CUE = re.compile(r"(?:省|市|县|区|镇|乡|村|街道|社区|路|园区|国|州|岛|山|河|湖)")
_LATIN_TERM = re.compile(r"(?<![a-z])[a-z]{2,}(?![a-z])")
_CLAUSE_SPLIT = re.compile(r"(?<=[，,；;：:、])")
_BIGRAM_STRIP = re.compile(r"[^\w\u4e00-\u9fff]")
#: Function characters left out of bigram matching: 的职/业是 would only add noise.
_FUNCTION_CHARS = re.compile(r"[的是了在有和与及或而被把将对于]")

#: Below this IDF-weighted coverage of the question by the best context, the answer is "not found".
#: Set by measurement on the dev sets (see README "Evaluation").
MIN_CONTEXT_COVERAGE = 0.5
#: Below this coverage of the question by the chosen sentence itself, the answer is "not found".
MIN_SENTENCE_COVERAGE = 0.15
#: Weight of question words that the article title already contains, when scoring a sentence.
TITLE_DISCOUNT = 0.25
#: An answer sentence shorter than this (characters) is completed with the sentence it leans on.
SHORT_SENTENCE = 40


_DEFINITION = re.compile(
    r"^(?:请问)?什么(?:是|叫)(?P<a>[^的，,]{1,20}?)[？?]?$|^(?P<b>[^的，,]{1,20}?)(?:的定义)?是(?:什么|指什么|何物)[？?]?$"
    r"|^(?P<c>[^的，,]{1,20}?)(?:指的是什么|是什么意思)[？?]?$"
)
_REASON_CUE = re.compile(r"因为|由于|因此|所以|导致|原因|为了|以便|使得|从而")
_DEFINITION_CUE = re.compile(r"[，,]?\s*(?:是|指|为|即|又称|亦称|也称|简称|全称)")
_LEADING_PARENS = re.compile(r"^\s*(?:[（(][^）)]{0,60}[）)]\s*)+")
#: Sentence openings that lean on the sentence before (因此 ... needs its cause).
_LEANS_BACK = re.compile(r"^(?:因此|所以|于是|但是?|而且|并且|此外|其中|这|该|此|同时|然而|故)")


def _defines(sentence: str, subject: str) -> bool:
    """Whether a (normalised) sentence opens as a definition of ``subject``: 'X（…）是…', 'X，是指…', 'X又称…'."""
    text = sentence.lstrip("《“\"'「 ")
    if not text.startswith(subject):
        return False
    rest = _LEADING_PARENS.sub("", text[len(subject) :].lstrip("》”\"'」 "))
    return bool(_DEFINITION_CUE.match(rest))


def definition_subject(question: str) -> str | None:
    """The X of a definitional question 什么是X / X是什么 (normalised), else None."""
    match = _DEFINITION.match(question.strip())
    if not match:
        return None
    subject = (match.group("a") or match.group("b") or match.group("c") or "").strip("“”\"'《》 ")
    return subject or None


def question_type(question: str) -> QuestionType:
    """The :class:`QuestionType` of a (normalised) question, by its interrogative words."""
    if definition_subject(question):
        return QuestionType.DEFINITION
    for qtype, pattern in _QTYPE_PATTERNS:
        if pattern.search(question):
            return qtype
    return QuestionType.OTHER


def _bigrams(text: str) -> set[str]:
    text = _BIGRAM_STRIP.sub("", text)
    text = _FUNCTION_CHARS.sub("", text)
    return {text[i : i + 2] for i in range(len(text) - 1)}


def _type_score(qtype: QuestionType, text: str, use_pos: bool = True, subject: str | None = None) -> float:
    """0..1: how much ``text`` (normalised) looks like it holds the wanted kind of answer.

    ``use_pos`` adds jieba part-of-speech tags (nr person, ns place, nt organisation) to the cue words; it costs
    about 30 ms per 1,000 characters, so it is used only on the few best sentences.
    """
    if qtype is QuestionType.NUMBER:
        return 1.0 if _NUMBER_WITH_UNIT.search(text) else 0.4 if _ANY_NUMBER.search(text) else 0.0
    if qtype is QuestionType.DATE:
        return 1.0 if _DATE.search(text) else 0.0
    if qtype is QuestionType.REASON:
        return 1.0 if _REASON_CUE.search(text) else 0.0
    if qtype is QuestionType.DEFINITION:
        return 1.0 if subject and _defines(text, subject) else 0.0
    cue, tag = {
        QuestionType.PERSON: (_PERSON_CUE, "nr"), QuestionType.ORG: (_ORG_CUE, "nt"),
        QuestionType.PLACE: (_PLACE_CUE, "ns"),
    }.get(qtype, (None, ""))
    if cue is None:
        return 0.0
    if cue.search(text):
        return 1.0
    return 1.0 if use_pos and _has_pos(text, tag) else 0.0


def _has_pos(text: str, tag: str) -> bool:
    import jieba.posseg as pseg

    return any(p.flag == tag for p in pseg.cut(text))


@dataclass
class Candidate:
    """A sentence of a retrieved chunk, scored as a possible answer."""

    sentence: str  # original characters
    norm: str
    rank: int  # rank of its chunk in retrieval (0 = best)
    order: int  # position of the sentence inside its chunk
    coverage: float  # of the question by the sentence, 0..1
    context: float  # of the question by the chunk with its title, 0..1
    score: float
    hit: NodeWithScore


class QuestionAnalysis:
    """A question prepared for matching: type, IDF-weighted content words, character bigrams.

    ``idf`` maps a normalised token to its inverse document frequency (from the BM25 index).
    """

    def __init__(self, question: str, idf: Callable[[str], float]) -> None:
        self.question = question
        self.norm = normalize(question)
        self.qtype = question_type(self.norm)
        self.subject = definition_subject(self.norm)
        terms = [t for t in keywords(_strip_interrogatives(self.norm)) if t not in STOPWORDS]
        # jieba's search mode emits 人口数量 beside 人口 and 数量: the compound would count its words twice.
        terms = [t for t in terms if not _composed_of(t, [o for o in terms if o != t])]
        self.weights = {t: idf(t) for t in terms}
        self._term_grams = {t: [t[i : i + 2] for i in range(len(t) - 1)] for t in terms if len(t) >= 3}
        self.total = sum(self.weights.values())
        self.grams = _bigrams(_strip_interrogatives(self.norm))
        # "谁是X市的市长？": the post asked for; a passage that never names it cannot answer who holds it.
        role = _PERSON_CUE.search(self.norm) if self.qtype == QuestionType.PERSON else None
        self.role = role.group(0) if role else None

    def coverage(self, text: str, discount: str = "") -> float:
        """0..1 share of the question found in normalised ``text``: 3/4 IDF-weighted words, 1/4 bigrams.

        Words and bigrams also present in ``discount`` (the article title) weigh ``TITLE_DISCOUNT`` as much: the
        title already names the topic, so a sentence is judged on the rest of the question.
        """
        if self.total <= 0:
            return 0.0
        weights = self.weights
        grams = self.grams
        if discount:
            weights = {t: w * (TITLE_DISCOUNT if t in discount else 1.0) for t, w in weights.items()}
            grams = grams - _bigrams(discount) or grams
        total = sum(weights.values()) or 1.0
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
        grams = self._term_grams.get(term)
        if not grams:
            return 0.0
        return 0.8 * sum(g in text for g in grams) / len(grams)

    def missing_unknown_name(self, context: str, known: Callable[[str], bool]) -> str | None:
        """A well-known name in the question that the corpus never mentions and ``context`` lacks, if any.

        Names are jieba part-of-speech nr/ns/nt/nz words of 2+ characters found in jieba's dictionary (frequency
        >= 5), so fragments guessed by its HMM for unseen names do not count, and Latin-letter words (GDP). Such a
        name (郑州 in a corpus about 焦作) means no passage can answer the question. Checked on CMRC 2018 trial
        (52 of its questions hold Latin words): no answer changed.
        """
        import jieba.posseg as pseg

        from rag.textnorm import jieba_module

        # A Latin-letter term (GDP, CPI, WTO ...) names one specific thing: absent from the whole corpus, no passage
        # can answer a question about it.
        for term in _LATIN_TERM.findall(self.norm):
            if not known(term) and term not in context:
                return term
        frequencies = jieba_module().dt.FREQ
        for pair in pseg.cut(self.norm):
            word, flag = pair.word, pair.flag
            if (
                flag in ("nr", "ns", "nt", "nz") and len(word) >= 2 and frequencies.get(word, 0) >= 5
                and not known(word) and word not in context
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
        context = self.coverage(title + "\n" + normalized(text))
        out = []
        for order, sentence in enumerate(split_sentences(text)):
            sentence = sentence.strip()
            if len(sentence) < 4:
                continue
            norm = normalized(sentence)
            cov = self.coverage(norm)
            focused = self.coverage(norm, discount=title) if focus else cov
            score = focused + 0.35 * context + 0.05 / (rank + 1)
            score += 0.3 * _type_score(self.qtype, norm, False, self.subject) * min(1.0, focused * 2)
            out.append(Candidate(sentence, norm, rank, order, cov, context, score, hit))
        return out


class ExtractiveAnswerer:
    """Answers from retrieved chunks without an LLM; see the module docstring for the method.

    ``max_chars`` bounds the answer text (characters, without citation markers).
    """

    def __init__(
        self, idf: Callable[[str], float], max_chars: int = 150, known: Callable[[str], bool] | None = None
    ) -> None:
        self.idf = idf
        self.max_chars = max_chars
        self.known = known

    def answer(self, question: str, nodes: list[NodeWithScore]) -> Answer:
        """An :class:`Answer` with ``mode="extractive"``; ``found`` False and no citations when nothing answers."""
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
                if _type_score(analysis.qtype, cand.norm, use_pos=False) == 0.0:
                    cand.score += 0.3 * _type_score(analysis.qtype, cand.norm) * min(1.0, cand.coverage * 2)
            candidates.sort(key=lambda c: c.score, reverse=True)
        best = candidates[0]
        if best.context < MIN_CONTEXT_COVERAGE or best.coverage < MIN_SENTENCE_COVERAGE:
            return _not_found(question)
        context = normalize(str(best.hit.node.metadata.get("title", "")) + "\n" + best.hit.node.get_content())
        if analysis.role and analysis.role not in context:
            return _not_found(question)
        if self.known is not None and analysis.missing_unknown_name(context, self.known):
            return _not_found(question)

        chosen = [best]
        budget = self.max_chars - len(best.sentence)
        for neighbour in self._neighbours(best):
            if len(neighbour.sentence) <= budget:
                chosen.append(neighbour)
                budget -= len(neighbour.sentence)
        for cand in candidates[1:6]:
            if budget <= 0:
                break
            if (
                cand.score >= 0.75 * best.score and len(cand.sentence) <= budget
                and all(cand.sentence != c.sentence for c in chosen)
            ):
                chosen.append(cand)
                break
        # Sentences of one chunk read best in their original order.
        chosen.sort(key=lambda c: (0, c.order) if c.rank == best.rank else (1, 0))

        citations: list[Citation] = []
        numbers: dict[str, int] = {}
        parts: list[str] = []
        for cand in chosen:
            hit = cand.hit
            chunk_id = hit.node.node_id
            if chunk_id not in numbers:
                numbers[chunk_id] = len(numbers) + 1
                meta = hit.node.metadata
                citations.append(Citation(
                    id=numbers[chunk_id], title=str(meta.get("title", "")), source=str(meta.get("source", "")),
                    article_id=str(meta.get("article_id", "")), chunk_id=chunk_id, text=hit.node.get_content(),
                    score=float(hit.score or 0.0),
                ))
            text = cand.sentence
            if len(text) > self.max_chars:
                text = self._window(text, analysis)
            parts.append(f"{text}[{numbers[chunk_id]}]")
        return Answer(question=question, answer="".join(parts), found=True, mode="extractive", citations=citations)

    @staticmethod
    def _neighbours(best: Candidate) -> list[Candidate]:
        """Sentences the answer sentence leans on: the one before when it opens with 因此/但/这...; the one
        after when it is short (under ``SHORT_SENTENCE`` characters)."""
        sentences = split_sentences(best.hit.node.get_content())
        wanted = []
        if _LEANS_BACK.match(best.sentence):
            wanted.append(best.order - 1)
        if len(best.sentence) < SHORT_SENTENCE:
            wanted.append(best.order + 1)
        out = []
        for index in wanted:
            if 0 <= index < len(sentences) and sentences[index].strip():
                text = sentences[index].strip()
                out.append(Candidate(text, normalize(text), best.rank, index, 0.0, best.context, 0.0, best.hit))
        return out

    def _window(self, sentence: str, analysis: QuestionAnalysis) -> str:
        """The run of clauses of an over-long sentence that best covers the question, within ``max_chars``."""
        clauses = [c for c in _CLAUSE_SPLIT.split(sentence) if c]
        scores = []
        for clause in clauses:
            norm = normalize(clause)
            scores.append(analysis.coverage(norm) + 0.5 * _type_score(analysis.qtype, norm, False, analysis.subject))
        best_i = max(range(len(clauses)), key=lambda i: scores[i])
        lo = hi = best_i
        length = len(clauses[best_i])
        while True:
            options = []
            if lo > 0 and length + len(clauses[lo - 1]) <= self.max_chars - 2:
                options.append((scores[lo - 1] + 0.01, -1))
            if hi + 1 < len(clauses) and length + len(clauses[hi + 1]) <= self.max_chars - 2:
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
        if len(text) > self.max_chars - 2:
            text = text[: self.max_chars - 2]
        return ("…" if lo > 0 else "") + text + ("…" if hi < len(clauses) - 1 else "")


class EvidenceReranker(BaseNodePostprocessor):
    """Reranks fused chunks by their best answering sentence (same scoring as the answerer), keeping ``top_n``.

    A lexical cross-check of the first-stage ranking: the new score of a chunk is its best sentence score plus
    0.3 x its normalised fusion score. ``normalized`` caches the search form of chunk texts between queries.
    """

    top_n: int = 5
    idf: Callable[[str], float]
    normalized: Callable[[str], str] = normalize

    @classmethod
    def class_name(cls) -> str:
        return "EvidenceReranker"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if query_bundle is None or not nodes:
            return nodes[: self.top_n]
        analysis = QuestionAnalysis(query_bundle.query_str, self.idf)
        top = max((n.score or 0.0) for n in nodes) or 1.0
        rescored = []
        for rank, hit in enumerate(nodes):
            cands = analysis.candidates(hit, rank, self.normalized, focus=False)
            best = max((c.score for c in cands), default=0.0)
            rescored.append(NodeWithScore(node=hit.node, score=best + 0.3 * (hit.score or 0.0) / top))
        rescored.sort(key=lambda n: n.score or 0.0, reverse=True)
        return rescored[: self.top_n]


#: "担任什么职务": the frame of a question asking for a post; its words are not in the answer ("区党委书记张毅").
_ROLE_FRAME = re.compile(r"(?:担任|担当|出任|任)?(?:什么|何种|哪个|哪些)(?:职务|职位|官职|身份)")
_INTERROGATIVES = re.compile(
    r"多少|第几|几[个家位名座项次人年天倍条种所户批件届期股首部岁]?|什么样?|哪一?[些种国条个家位里儿天年座所类样部首]?|谁"
    r"|何[时地人处]|如何|怎[么样]样?|为什么|为何|吗|呢|[？?！!。，,]"
)


def _composed_of(term: str, parts: list[str]) -> bool:
    """Whether ``term`` is a concatenation of two or more of ``parts`` (word-break dynamic programme)."""
    usable = [p for p in parts if p and len(p) < len(term)]
    reachable = [True] + [False] * len(term)
    for end in range(1, len(term) + 1):
        reachable[end] = any(reachable[end - len(p)] and term.endswith(p, 0, end) for p in usable if len(p) <= end)
    return reachable[-1]


def _strip_interrogatives(question: str) -> str:
    return _INTERROGATIVES.sub("", _ROLE_FRAME.sub("", question))


def _not_found(question: str) -> Answer:
    return Answer(question=question, answer=NOT_FOUND_ANSWER, found=False, mode="extractive", citations=[])
