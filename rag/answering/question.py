"""Question typing: what kind of phrase answers a question (number, person, date, place ...), the subject of a
definitional question, and the cue patterns that say whether a sentence holds the wanted kind of answer.
"""

from __future__ import annotations

import re
from enum import StrEnum


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
    (QuestionType.REASON, re.compile(r"(?<![选成作称视列评定改名命升当])为什么|为何|什么原因|原因是|怎么会")),
    (QuestionType.DATE, re.compile(r"哪天|何时|什么时候|哪一?年|几月|几号|几日|什么时间|哪个月|何年|哪一天|日期")),
    (QuestionType.NUMBER, re.compile(r"多少|几[个家位名座项次人年天倍条种所户批件届期]?|多大|多高|多长|多远|多重|多久|百分之几|比例|比重")),
    (QuestionType.PERSON, re.compile(r"谁|哪位|何人|什么人|叫什么名字|姓名|(?:什么|何种|哪个|哪些)(?:职务|职位|官职|身份)|(?:职务|职位|官职)是什么")),
    (QuestionType.ORG, re.compile(r"哪家|哪个(单位|公司|机构|部门|学校|组织|企业|团队|医院)|什么(单位|公司|机构|部门|组织|企业)")),
    (QuestionType.PLACE, re.compile(r"哪里|哪儿|何地|何处|在哪(?![些种类个一])|什么地方|哪个(省|市|县|国家|城市|地区|地方|镇|村|区域|省份)")),
]

_NUM = r"(?:\d[\d,.]*|[零一二两三四五六七八九十百千万亿]+)"
_NUMBER_WITH_UNIT = re.compile(
    _NUM + r"\s*(?:%|余|多)?\s*(?:[万亿千百]?(?:个|家|人|名|位|座|项|次|件|起|元|户|所|条|种|台|辆|吨|米|亩|天|年|倍|批|期|届"
    r"|轮|场|块|份|处|栋|套|间|张|部|篇|公里|千米|平方米|平方公里|小时|分钟|秒|岁|万元|亿元|人次|家次|千瓦|公顷|斤|公斤|克"
    r"|兆瓦|架|艘|枚|例|首|只|头|支"
    r"|美元|英镑|欧元|日元|港元|港币|卢布|韩元|澳元|加元|法郎|比索|卢比|新台币|人民币)"
    r"|%)"
)
_ANY_NUMBER = re.compile(r"\d")
_DATE = re.compile(r"\d{1,4}\s*年|\d{1,2}\s*月\s*\d{1,2}\s*日|\d{1,2}\s*月|\d{1,2}\s*日|[昨今明前]日|今年|去年|前年|上午|下午|世纪|年代")
_PERSON_CUE = re.compile(r"(?:书记|主任|市长|县长|局长|主席|记者|经理|董事长|校长|院长|部长|厅长|镇长|村长|总裁|教授|队长|主持人|所长|站长"
                         r"|司长|处长|科长|秘书长|参谋长|司令员|大使|委员(?!会)|议员|顾问|总统|总理|首相|知县|知府|太守|将军|总监)")
_ORG_CUE = re.compile(r"(?:公司|集团|局|委|厅|院|所|中心|协会|学校|大学|中学|小学|银行|医院|政府|部门|单位|委员会|办公室|企业|街道|社区)")
_PLACE_CUE = re.compile(r"(?:省|市|县|区|镇|乡|村|街道|社区|路|园区|国|州|岛|山|河|湖)")
_LATIN_TERM = re.compile(r"(?<![a-z])[a-z]{2,}(?![a-z])")
_CLAUSE_SPLIT = re.compile(r"(?<=[，,；;：:、])")
_BIGRAM_STRIP = re.compile(r"[^\w\u4e00-\u9fff]")
#: Function characters left out of bigram matching: 的职/业是 would only add noise.
_FUNCTION_CHARS = re.compile(r"[的是了在有和与及或而被把将对于]")


_DEFINITION = re.compile(
    r"^(?:请问)?什么(?:是|叫)(?P<a>[^的，,]{1,20}?)[？?]?$|^(?P<b>[^的，,]{1,20}?)(?:的定义)?是(?:什么|指什么|何物)[？?]?$"
    r"|^(?P<c>[^的，,]{1,20}?)(?:指的是什么|是什么意思)[？?]?$"
)
_REASON_CUE = re.compile(r"因为|由于|因此|所以|导致|原因|为了|以便|使得|从而")
_DEFINITION_CUE = re.compile(r"[，,]?\s*(?:是|指|为|即|又称|亦称|也称|简称|全称)")
_LEADING_PARENS = re.compile(r"^\s*(?:[（(][^）)]{0,60}[）)]\s*)+")
#: Sentence openings that lean on the sentence before (因此 ... needs its cause).
_LEANS_BACK = re.compile(r"^(?:因此|所以|于是|但是?|而且|并且|此外|其中|这|该|此|同时|然而|故|在此|在这|为此|对此|鉴于此|基于此)")


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


#: ``什么颜色`` / ``什么形状`` / ``什么职业`` questions name no word of their answer (体呈银灰色, 叶呈尖锥状, 香港漫画家):
#: a sentence describing a colour, a shape or naming an occupation is the kind of answer they want, as a sentence
#: with a date is for a 何时 question.
_PROPERTY_CUES: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = (
    (re.compile(r"(?:什么|哪种|何种|哪些)颜色|颜色(?:是|为|有)|什么色"), re.compile(r"[\u4e00-\u9fff]色")),
    (re.compile(r"(?:什么|哪种|何种)(?:形状|外形|形态)|(?:形状|外形)(?:是|为|如何|怎样)"),
     re.compile(r"[\u4e00-\u9fff][形状]")),
    (re.compile(r"(?:什么|哪种|何种|哪些)职业|职业(?:是|为|有)"),
     re.compile(r"[\u4e00-\u9fff]{2}家(?![人族庭长乡里中属])|演员|歌手|运动员|教练|记者|编辑|主持人|医生|律师|教师|教授"
                r"|工程师|设计师|模特|导演|编剧|制作人|球员|诗人|商人|官员|政治人物|军人|学者|研究员|作者|"
                + _PERSON_CUE.pattern)),  # a post is an occupation too (董事长, 总裁)
)


def property_cue(question: str) -> re.Pattern[str] | None:
    """For a (normalised) question asking for a colour, a shape or an occupation, the pattern of the words that
    describe one (``X色``, ``X形`` / ``X状``, ``XX家`` / 演员 / 记者 ...); None for other questions."""
    return next((cue for asks, cue in _PROPERTY_CUES if asks.search(question)), None)


#: A personal pronoun opening a question as its subject (她在…, 他们为什么…): the question leans on an earlier one.
_SUBJECT_PRONOUN = re.compile(r"^(她们|他们|她|他)(?![们人国乡者])")


def subject_pronoun(question: str) -> str | None:
    """The personal pronoun a (normalised) question opens on as its subject (``她`` in ``她在哪个地区…工作？``), or
    None (``杨丽音和她的丈夫…``, ``他国…``)."""
    match = _SUBJECT_PRONOUN.match(question)
    return match.group(1) if match else None


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


def _type_score(
    qtype: QuestionType, text: str, use_pos: bool = True, subject: str | None = None,
    prop: re.Pattern[str] | None = None,
) -> float:
    """0..1: how much ``text`` (normalised) looks like it holds the wanted kind of answer.

    ``use_pos`` adds jieba part-of-speech tags (nr person, ns place, nt organisation) to the cue words; it costs
    about 30 ms per 1,000 characters, so it is used only on the few best sentences. ``prop`` is the question's
    :func:`property_cue` (colour, shape, occupation): the kind wanted by an otherwise untyped question.
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
        return 1.0 if prop is not None and prop.search(text) else 0.0
    if cue.search(text):
        return 1.0
    return 1.0 if use_pos and _has_pos(text, tag) else 0.0


def _has_pos(text: str, tag: str) -> bool:
    import jieba.posseg as pseg

    return any(p.flag == tag for p in pseg.cut(text))



#: "担任什么职务": the frame of a question asking for a post; its words are not in the answer ("区党委书记张毅").
_ROLE_FRAME = re.compile(
    r"(?:被|获)?(?:选为|选举为|当选为?|任命为|聘为|担任|担当|出任|任)?(?:什么|何种|哪个|哪些)(?:职务|职位|官职|身份)"
    r"|(?:职务|职位|官职)是什么"
)
_INTERROGATIVES = re.compile(
    r"(?:有|是|为|约)?多少[个家位名座项次人年天倍条种所户批件届期股首部岁]?|(?:有|是|为|约)?多[大长高远重久深宽厚](?![学])"
    r"|第几|几[个家位名座项次人年天倍条种所户批件届期股首部岁]?|(?:有|是)?什么(?:样子?)?|(?:有|是)?哪一?[些种国条个家位里儿天年座所类样部首]?|谁"
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


#: 什么是X / 什么叫X: the definitional form whose X is one term (速成和仓颉 names two).
_DEFINITION_OPENING = re.compile(r"^(?:请问)?什么[是叫]")
_SEVERAL = re.compile(r"[和与及、\"“”]")


def asks_definition_of(subject: str | None, norm_question: str) -> bool:
    """Whether the normalised question is 什么是X for one term X (``subject``, :func:`definition_subject`) of 2+
    characters: X is then required like a name."""
    return bool(subject and len(subject) >= 2 and _DEFINITION_OPENING.match(norm_question) and not _SEVERAL.search(subject))
