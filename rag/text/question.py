"""What a question asks for, in one place: its type, IDF-weighted content words and bigrams, the names it is
about, the unit it counts in; and the pattern tags that say whether a sentence holds the asked-for type.

The answer selector (:mod:`rag.answering.features`), the evidence reranker (:mod:`rag.retrieval.rerank`) and the
LLM citation check read questions through this module only. Interrogative words and measure words are the
language's closed classes (grammars of modern Chinese list them); no entry comes from an evaluation question.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum
from functools import lru_cache

from rag.text.lexicon import alternation
from rag.text.normalize import keywords, normalize


class QuestionType(StrEnum):
    """What kind of phrase answers the question."""

    NUMBER = "number"
    PERSON = "person"
    DATE = "date"
    PLACE = "place"
    ORG = "org"
    REASON = "reason"
    DEFINITION = "definition"
    LIST = "list"
    OTHER = "other"


_QTYPE_PATTERNS: list[tuple[QuestionType, re.Pattern[str]]] = [
    (QuestionType.REASON, re.compile(r"(?<![选成作称视列评定改名命升当])为什么|为何|什么原因|原因是|怎么会")),
    (QuestionType.DATE, re.compile(r"哪天|何时|什么时候|哪一?年|几月|几号|几日|什么时间|哪个月|何年|哪一天|日期")),
    (QuestionType.NUMBER, re.compile(r"多少|几[个家位名座项次人年天倍条种所户批件届期]?|多大|多高|多长|多远|多重|多久|百分之几|比例|比重")),
    (QuestionType.PERSON, re.compile(r"谁|哪位|何人|什么人|叫什么名字|姓名|(?:什么|何种|哪个|哪些)(?:职务|职位|官职|身份)|(?:职务|职位|官职)是什么")),
    (QuestionType.ORG, re.compile(r"哪家|哪个(单位|公司|机构|部门|学校|组织|企业|团队|医院)|什么(单位|公司|机构|部门|组织|企业)")),
    (QuestionType.PLACE, re.compile(r"哪里|哪儿|何地|何处|在哪(?![些种类个一])|什么地方|哪个(省|市|县|国家|城市|地区|地方|镇|村|区域|省份)")),
    (QuestionType.LIST, re.compile(r"哪些|哪几")),
]

#: The one table of measure words (量词) and units: counts, money, length, area, time, power (``rag/lexicon/units.txt``).
UNITS = alternation("units")
NUM = r"(?:\d[\d,.]*|[零一二两三四五六七八九十百千万亿]+)"
_NUMBER_WITH_UNIT = re.compile(rf"{NUM}\s*(?:%|余|多)?\s*(?:[万亿千百]?(?:{UNITS})|%)")
DATE = re.compile(r"\d{1,4}\s*年|\d{1,2}\s*月\s*\d{1,2}\s*日|\d{1,2}\s*月|\d{1,2}\s*日|[昨今明前]日|今年|去年|前年|世纪|年代")
_REASON_CUE = re.compile(r"因为|由于|因此|所以|导致|原因|为了|以便|使得|从而")
_DEFINITION_CUE = re.compile(r"^[^，。]{0,30}?(?:是|指|即|又称|亦称|也称|简称|全称)")
_LIST_CUE = re.compile(r"[、；;]")
LATIN_TERM = re.compile(r"(?<![a-z])[a-z]{2,}(?![a-z])")
#: Openings that lean on the sentence before (因此, 但, 这, 该 ...): conjunctions and demonstratives.
LEANS_BACK = re.compile(r"^(?:因此|所以|于是|但是?|而且|并且|此外|其中|这|该|此|同时|然而|故|为此|对此|它|其|他|她)")
_BIGRAM_STRIP = re.compile(r"[^\w\u4e00-\u9fff]|[的是了在有和与及或而被把将对于]")
_DEFINITION = re.compile(r"^(?:请问)?什么(?:是|叫)(?P<a>[^的，,]{1,20}?)[？?]?$"
                         r"|^(?P<b>[^的，,]{1,20}?)(?:的定义)?是(?:什么|指什么|何物)[？?]?$")
#: 担任什么职务 / 是什么身份 frame the slot: the answer names the post (区党委书记), never these words.
_INTERROGATIVES = re.compile(r"(?:被|获)?(?:选为|当选为?|任命为|担任|出任|任)?(?:什么|何种|哪个|哪些)(?:职务|职位|官职|身份)"
                             r"|(?:职务|职位|官职)是什么|(?:有|是|为|约)?多少|(?:有|是|为|约)?多[大长高远重久深宽厚]|第几|几"
                             r"|(?:有|是)?什么(?:样子?)?|(?:有|是)?哪一?|谁|何[时地人处种]|如何|怎[么样]样?|为什么|为何|吗|呢|[？?！!。，,]")
#: Interrogatives whose neighbours are the cloze anchors of :meth:`Question.anchor_score`.
_WH = re.compile(r"什么时候|什么地方|多少|多久|多大|多长|几|什么|哪一?[个些种家位年天里儿国座所条]?|谁|何[时地人处种]|如何|怎[么样]样?|为什么|为何")
_CLAUSE_END = re.compile(r"[，,。？?！!；;：:、\s]")
ANCHOR_CHARS = 4  # characters taken on each side of an interrogative
_LOOSE = "了的是有为着过"
_QUOTED = re.compile(r"《([^》]{2,30})》|“([^”]{2,20})”")
#: jieba part-of-speech tags of names, and what each names.
NAME_KINDS = {"nr": "person", "nrt": "person", "nrfg": "person", "ns": "place", "nt": "org", "nz": "other_name"}
#: jieba part-of-speech tag of the names a 谁 / 哪家 / 哪里 question asks for.
POS_OF_TYPE = {QuestionType.PERSON: "nr", QuestionType.ORG: "nt", QuestionType.PLACE: "ns"}
#: Weight (x IDF) of a term that is part of a longer question term (jieba's search mode emits 无人 inside 无人机).
FRAGMENT_WEIGHT = 0.3


def question_type(question: str) -> QuestionType:
    """The :class:`QuestionType` of a normalised question, by its interrogative words."""
    if definition_subject(question):
        return QuestionType.DEFINITION
    return next((qtype for qtype, pattern in _QTYPE_PATTERNS if pattern.search(question)), QuestionType.OTHER)


def definition_subject(question: str) -> str | None:
    """The X of a definitional question 什么是X / X是什么 (normalised), else None."""
    match = _DEFINITION.match(question.strip())
    subject = (match.group("a") or match.group("b") or "").strip("“”\"'《》 ") if match else ""
    return subject or None


def bigrams(text: str) -> set[str]:
    """Character bigrams of normalised ``text``, punctuation and function characters left out."""
    text = _BIGRAM_STRIP.sub("", text)
    return {text[i : i + 2] for i in range(len(text) - 1)}


def holds_type(qtype: QuestionType, norm: str, unit: str | None = None, subject: str | None = None) -> float:
    """0..1: whether normalised ``norm`` holds the asked-for type by its pattern tags (a number with a unit, in
    ``unit`` when given; a date; a reason connective; ``subject`` defined; a list; names: :func:`holds_name`)."""
    if qtype is QuestionType.NUMBER:
        if unit:
            return 1.0 if _unit_pattern(unit).search(norm) else 0.5 if _NUMBER_WITH_UNIT.search(norm) else 0.0
        return 1.0 if _NUMBER_WITH_UNIT.search(norm) else 0.4 if re.search(r"\d", norm) else 0.0
    if qtype is QuestionType.DEFINITION:
        return 1.0 if subject and norm.lstrip("《“\"'「 ").startswith(subject) and _DEFINITION_CUE.search(norm) else 0.0
    cue = {QuestionType.DATE: DATE, QuestionType.REASON: _REASON_CUE, QuestionType.LIST: _LIST_CUE}.get(qtype)
    return 1.0 if cue is not None and cue.search(norm) else 0.0


def holds_name(qtype: QuestionType, norm: str) -> float:
    """1.0 when jieba tags a word of normalised ``norm`` as the name a person / organisation / place question asks
    for (nr / nt / ns), else 0.0 (always 0.0 for other types)."""
    tag = POS_OF_TYPE.get(qtype)
    return 1.0 if tag is not None and any(flag == tag for _, flag in pos_tags(norm)) else 0.0


@lru_cache(maxsize=4096)
def pos_tags(norm: str) -> tuple[tuple[str, str], ...]:
    """``(word, jieba part-of-speech tag)`` pairs of normalised text."""
    import jieba.posseg as pseg

    return tuple((pair.word, pair.flag) for pair in pseg.cut(norm))


def wanted_unit(norm_question: str) -> str | None:
    """The measure word a 多少/几 question counts in (``家``, ``万千瓦``), or None."""
    match = re.search(rf"(?:多少|几)\s*(?P<scale>[万亿千百]*)\s*(?P<unit>{UNITS})", norm_question)
    return match.group("scale") + match.group("unit") if match else None


@lru_cache(maxsize=256)
def _unit_pattern(unit: str) -> re.Pattern[str]:
    """A number in ``unit`` (``35座``, ``12余家``, ``650万千瓦``)."""
    return re.compile(rf"{NUM}\s*(?:余|多)?\s*[万亿千百]*\s*(?:余|多)?\s*{re.escape(unit.lstrip('万亿千百'))}")


def answer_value(qtype: QuestionType, unit: str | None, norm_sentence: str) -> str | None:
    """The slot-filling phrase of a sentence: its number (in ``unit``) for a NUMBER question, its first date for a
    DATE question; None for other types or when the sentence has none."""
    if qtype is QuestionType.NUMBER:
        match = (_unit_pattern(unit) if unit else _NUMBER_WITH_UNIT).search(norm_sentence)
        return match.group(0).replace(" ", "") if match else None
    if qtype is QuestionType.DATE:
        match = DATE.search(norm_sentence)
        return match.group(0) if match else None
    return None


@lru_cache(maxsize=4096)
def question_names(norm_question: str) -> tuple[str, ...]:
    """Names a normalised question is about: jieba nr/ns/nt/nz words of 2+ characters, quoted titles and Latin
    terms, longest first and then in the question's order (never a set's), a name inside a longer one left out."""
    found = {next(g for g in m.groups() if g) for m in _QUOTED.finditer(norm_question)}
    found.update(word for word, flag in pos_tags(norm_question) if flag in NAME_KINDS and len(word) >= 2)
    found.update(LATIN_TERM.findall(norm_question))
    names = sorted(found, key=lambda n: (-len(n), norm_question.find(n), n))
    return tuple(n for i, n in enumerate(names) if not any(n in longer for longer in names[:i]))


def names_in(name: str, text: str) -> bool:
    """Whether normalised ``text`` names ``name``: whole, or (3+ characters: a guessed name glued to the next
    character) by all but one of its bigrams, starting with the first."""
    if name in text:
        return True
    if len(name) < 3:
        return False
    grams = [name[i : i + 2] for i in range(len(name) - 1)]
    return sum(g in text for g in grams) >= len(grams) - 1 and name[:2] in text


def _composed_of(term: str, parts: list[str]) -> bool:
    """Whether ``term`` is a concatenation of two or more of ``parts`` (word-break dynamic programme)."""
    usable = [p for p in parts if p and len(p) < len(term)]
    reachable = [True] + [False] * len(term)
    for end in range(1, len(term) + 1):
        reachable[end] = any(reachable[end - len(p)] and term.endswith(p, 0, end) for p in usable if len(p) <= end)
    return reachable[-1]


class Question:
    """A question prepared for matching: type, wanted unit, definition subject, IDF-weighted terms, bigrams,
    names, cloze anchors. ``idf`` maps a normalised token to BM25's inverse document frequency."""

    def __init__(self, text: str, idf: Callable[[str], float]) -> None:
        norm = normalize(text)
        self.qtype = question_type(norm)
        self.unit = wanted_unit(norm) if self.qtype is QuestionType.NUMBER else None
        self.subject = definition_subject(norm)
        self.bare = _INTERROGATIVES.sub("", norm)  # without interrogative words and punctuation
        # Content words (jieba search mode, stopwords left out) weighted by ``idf``, x FRAGMENT_WEIGHT for a term
        # inside a longer one; a compound made of other terms is dropped (it would count its words twice).
        terms = keywords(self.bare)
        terms = [t for t in terms if not _composed_of(t, [o for o in terms if o != t])]
        self.weights = {t: idf(t) * (FRAGMENT_WEIGHT if any(t != o and t in o for o in terms) else 1.0) for t in terms}
        self.total = sum(self.weights.values())
        self.unseen_idf = idf("\uffff")
        self.grams = bigrams(self.bare)
        self.names = question_names(norm)
        # Aspect and linking characters next to the interrogative (建成了多少 is written 已建成…) are left out.
        self.anchors = [(_CLAUSE_END.split(norm[: m.start()])[-1].rstrip(_LOOSE)[-ANCHOR_CHARS:],
                         _CLAUSE_END.split(norm[m.end() :])[0].lstrip(_LOOSE)[:ANCHOR_CHARS])
                        for m in _WH.finditer(norm)]

    def anchor_score(self, text: str) -> float:
        """0..1: the question read as a cloze (Ravichandran and Hovy, 2002: the question is the answer sentence with
        its answer replaced by an interrogative): characters of the longest suffix of an interrogative's left
        context plus the longest prefix of its right context (2+ each) found in normalised ``text``, over
        2 x :data:`ANCHOR_CHARS`."""
        return max((next((n for n in range(len(left), 1, -1) if left[-n:] in text), 0)
                    + next((n for n in range(len(right), 1, -1) if right[:n] in text), 0)
                    for left, right in self.anchors), default=0) / (2 * ANCHOR_CHARS)

    def coverage(self, text: str) -> float:
        """0..1: IDF-weighted share of the question's terms found in normalised ``text``."""
        return 0.0 if self.total <= 0 else sum(w for t, w in self.weights.items() if t in text) / self.total

    def bigram_coverage(self, text: str) -> float:
        """0..1: share of the question's bigrams found in normalised ``text``."""
        return len(self.grams & bigrams(text)) / len(self.grams) if self.grams else 0.0
