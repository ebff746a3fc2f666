"""What an answer sentence must share with its question beyond words: the subject it names and the unit it counts.

On a news archive the passage that best matches a question's words is often a report about someone or something
else (``李丰被选为什么职位？`` answered with another person's promotion) or gives another figure of the same story (a
count of new entrants for a count of companies). So, on normalised text (:func:`rag.text.normalize.normalize`):

- :func:`question_entities`: the names a question is about: jieba part-of-speech nr/ns/nt/nz (and nrt/nrfg) words
  of 2+ characters, quoted titles (《…》, “…”) and Latin terms. A candidate sentence *supports* an entity when the
  entity occurs in it, in its article's title, in the article's first sentence (the lead) or in the sentences
  before it in the same passage (``他``/``该公司`` lean on them);
- :func:`wanted_unit`: the measure word of ``多少家``/``几个``/``多少万千瓦``; a number answers only with that unit;
- :func:`answer_value`: the phrase of a sentence that fills the question's slot (a number with its unit, a date),
  used to tell apart reports that answer the same question with different values.

Rules are our own, measured on the CRUD-RAG news archive and CMRC 2018 (docs/evaluation.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag.answering.question import _DATE, _LATIN_TERM, _NUM, QuestionType

_ENTITY_TAGS = ("nr", "nrt", "nrfg", "ns", "nt", "nz")
_CJK_SPACE = re.compile(r"(?<=[\u3400-\u9fff《》“”])\s+|\s+(?=[\u3400-\u9fff《》“”])")
_QUOTED = re.compile(r"《([^》]{2,30})》|“([^”]{2,20})”|\"([^\"]{2,20})\"")
#: Words jieba tags as names that say nothing specific about which report answers.
_GENERIC = frozenset("中国 我国 全国 国家 世界 全球 国际 中央 政府 地方 全省 全市 全县 当地 国内 海外 城市 地区 省份".split())
#: Nouns that name the property a question asks for (…的特点是什么, 有多大的面积, 逝世的时间是): the answer gives the
#: property's value and seldom repeats the noun, so they are neither names nor words a passage must hold. Our list.
SLOT_NOUNS = frozenset(
    "特点 特征 外貌 外形 样子 意思 含义 时间 日期 时候 地方 位置 地点 名字 名称 职业 作用 功效 用途 影响 原因 方式 方法"
    " 情节 内容 面积 长度 高度 宽度 重量 容量 数量 规模 范围 年份 国籍 别名 类型 种类 颜色 形状 结果 目的 意义 主题 风格"
    " 定义 区别 经历 表现 过程 由来 来历 英文名 中文名 原名 全名 本名 简称 全称 学名".split()
)
_ASKED = re.compile(r"(?:哪[个些一家位种座所]?|什么|何种)([\u4e00-\u9fff]{1,4})")
_UNITS = (
    "个|家|人|名|位|座|项|次|件|起|元|户|所|条|种|台|辆|吨|米|亩|天|年|倍|批|期|届|轮|场|块|份|处|栋|套|间|张|部|篇"
    "|公里|千米|平方米|平方公里|小时|分钟|秒|岁|人次|家次|千瓦|兆瓦|公顷|斤|公斤|克|架|艘|枚|款|只|头|例|所|首|支"
)
_WANTED_UNIT = re.compile(rf"(?:多少|几)\s*(?P<scale>[万亿千百]*)\s*(?P<unit>{_UNITS})")
#: 人数是多少 counts people: the unit a counted noun implies.
_NOUN_UNITS = {"人数": "人", "人次": "人次", "次数": "次", "户数": "户", "家数": "家", "天数": "天", "年数": "年"}
_COUNTED_NOUN = re.compile(rf"({'|'.join(_NOUN_UNITS)})[^，,。？?]{{0,6}}?(?:是|为|有|达到?)?(?:多少|几)")
_LEVELS = "省市县区州镇乡村"
REGION_WORDS = ("地区", "一带", "境内")
_PLACE_SUFFIXES = frozenset("省 市 县 镇 乡 村".split())
#: Particles jieba's guesses for unseen names swallow (巴利冈是, 鸡毛松才): cut off; a 2-character guess ending in one
#: (冈是) holds a 1-character name fragment and is dropped.
_GLUED = "是才的了在被将也都就"
_GLUED_PAIR = tuple(_GLUED)
_INTERROGATIVE = re.compile(r"哪|什么|多少|几|何")
_CJK_ONLY = re.compile(r"^[\u4e00-\u9fff]+$")


@lru_cache(maxsize=1024)
def _local_place(name: str) -> re.Pattern[str]:
    """How a local paper names ``name``'s own place: 全市/我市/本市 at its level (黄道镇 -> 全镇, never 全区);
    a name without a level suffix (平顶山) may be a province, city or county."""
    level = name[-1] if name[-1] in _LEVELS else "省市县"
    return re.compile(rf"(?:全|我|本)[{level}]")


@dataclass(frozen=True)
class Entity:
    """A name a question is about; ``place`` when jieba tagged it a place name (ns)."""

    text: str
    place: bool = False


def question_entities(norm_question: str) -> list[Entity]:
    """Names in a normalised question (see the module docstring), longest first, without repeats."""
    return list(_entities(norm_question))


@lru_cache(maxsize=4096)
def _entities(norm_question: str) -> tuple[Entity, ...]:
    import jieba.posseg as pseg

    found: dict[str, bool] = {}
    # 哪个城市 / 什么机构: the noun after the interrogative names the slot asked for, not a subject.
    asked = asked_nouns(norm_question)
    for match in _QUOTED.finditer(norm_question):
        found.setdefault(next(g for g in match.groups() if g), False)
    for pair in pseg.cut(norm_question):
        word = pair.word.rstrip(_GLUED) if len(pair.word) > 2 else pair.word  # 冈是, 松才: a name glued to a particle
        if (
            pair.flag in _ENTITY_TAGS and len(word) >= 2 and not (len(pair.word) == 2 and pair.word.endswith(_GLUED_PAIR))
            and word not in _GENERIC and word not in asked and word not in SLOT_NOUNS
        ):
            found.setdefault(word, pair.flag == "ns")
    for term in _LATIN_TERM.findall(norm_question):
        found.setdefault(term, False)
    # jieba splits many unseen place names (黄道 + 镇): a word of 2+ characters right before a lone level suffix.
    words = [p.word for p in pseg.cut(norm_question)]
    for head, suffix in zip(words, words[1:], strict=False):
        if (
            suffix in _PLACE_SUFFIXES and len(head) >= 2 and _CJK_ONLY.match(head) and head not in asked
            and not _INTERROGATIVE.search(head)  # 哪个 + 省 asks for the place
        ):
            found.setdefault(head + suffix, True)
    # 中国驻英国大使 holds 英国: keep the longer name only.
    names = sorted(found, key=len, reverse=True)
    return tuple(Entity(n, found[n]) for i, n in enumerate(names) if not any(n in longer for longer in names[:i]))


def asked_nouns(norm_question: str) -> str:
    """The nouns right after the question's interrogatives (哪个城市, 什么机构, 哪位帝王), joined: they name the
    slot asked for, not what the question is about."""
    return "".join(m.group(1) for m in _ASKED.finditer(norm_question))


#: About the hundred most common Chinese surnames (by population, as in the Ministry of Public Security's yearly
#: name reports): a dictionary word tagged nr that starts with none of them (冰淇淋) is seldom a person.
COMMON_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟"
    "谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢"
)


def named_as_word(word: str, flag: str, text: str) -> bool:
    """Whether normalised ``text`` holds the dictionary word ``word`` (jieba part of speech ``flag``) or, for a word
    that is not a person's name, a near form of it (:func:`supported`): 冰淇林 for 冰淇淋, 广告口号 for 广告语. A person's
    name (nr starting with a common surname) must be there whole: 王进伟 never stands for 王进华."""
    if word in text:
        return True
    if flag.startswith("nr") and word[0] in COMMON_SURNAMES:
        return False
    return flag != "ns" and supported(Entity(word), text)


_INTERROGATIVE_WORDS = frozenset("哪个 哪些 哪家 哪位 哪种 哪座 哪所 哪一 何种 什么 哪".split())


@lru_cache(maxsize=4096)
def asked_slot_nouns(norm_question: str) -> frozenset[str]:
    """The nouns (jieba part of speech n*) right after an interrogative word of the question (省市 in 哪些省市,
    磨难 in 经历了哪些磨难, 书册 in 哪些书册传世; 哪 + a measure word + noun as in 哪种无人机): the answer lists what
    they name without naming the kind. Not 组成 in 由什么组成 (a verb), nor what follows 为什么 (its own word)."""
    import jieba.posseg as pseg

    words = [(pair.word, pair.flag) for pair in pseg.cut(norm_question)]
    nouns = set()
    for i, (word, _flag) in enumerate(words):
        if word not in _INTERROGATIVE_WORDS:
            continue
        j = i + 1
        if word == "哪" and j < len(words) and len(words[j][0]) == 1 and words[j][1][:1] in ("m", "q", "u"):
            j += 1  # 哪 + 种/所/座 + noun
        if j < len(words) and words[j][1].startswith("n"):
            nouns.add(words[j][0])
    return frozenset(nouns)


def supported(entity: Entity, text: str) -> bool:
    """Whether normalised ``text`` names ``entity``: whole, or (3+ characters, a guessed name glued to the next
    character, such as 李丰被) by all but one of its character bigrams; a place name also by the way a local
    paper names its own place at its level (全市, 我县: a city daily seldom repeats its city's name)."""
    name = entity.text
    if name in text or (entity.place and _local_place(name).search(text)):
        return True
    squeezed = _CJK_SPACE.sub("", name)
    if squeezed != name:  # 《卡美拉 大怪兽空中决战》: a space beside CJK is typing or layout, not part of the name
        return squeezed in _CJK_SPACE.sub("", text) or supported(Entity(squeezed, entity.place), text)
    if entity.place and name.endswith(REGION_WORDS) and len(name) >= 4 and name[:-2] in text:
        return True  # 台湾地区 is written 台湾
    if len(name) < 3:
        return False
    grams = [name[i : i + 2] for i in range(len(name) - 1)]
    # The guess may have swallowed the character after the name (李丰被). One swallowed before it (后康忠) is not
    # matched from the other end: 王进伟 would then support a question about 张进伟.
    return sum(g in text for g in grams) >= len(grams) - 1 and name[:2] in text


def wanted_unit(norm_question: str) -> str | None:
    """The measure word a ``多少``/``几`` question counts in (``家``, ``万千瓦``, ``人`` for ``人数是多少``), or None."""
    match = _WANTED_UNIT.search(norm_question)
    if match:
        return match.group("scale") + match.group("unit")
    counted = _COUNTED_NOUN.search(norm_question)
    return _NOUN_UNITS[counted.group(1)] if counted else None


def has_unit(norm_sentence: str, unit: str) -> bool:
    """Whether a normalised sentence gives a number in ``unit`` (``120座``, ``20余家``, ``7842万千瓦``)."""
    return _unit_pattern(unit).search(norm_sentence) is not None


@lru_cache(maxsize=256)
def _unit_pattern(unit: str) -> re.Pattern[str]:
    base = unit.lstrip("万亿千百")
    return re.compile(rf"(?:{_NUM})\s*(?:余|多)?\s*[万亿千百]*\s*(?:余|多)?\s*{re.escape(base)}")


def answer_value(qtype: QuestionType, unit: str | None, norm_sentence: str) -> str | None:
    """The slot-filling phrase of a sentence: its number in ``unit`` (or any number with a unit) for a NUMBER
    question, its first date for a DATE question; None for other types or when the sentence has none."""
    if qtype is QuestionType.NUMBER:
        pattern = _unit_pattern(unit) if unit else re.compile(rf"(?:{_NUM})\s*(?:%|余|多)?\s*(?:[万亿千百]?(?:{_UNITS})|%)")
        match = pattern.search(norm_sentence)
        return match.group(0).replace(" ", "") if match else None
    if qtype is QuestionType.DATE:
        match = _DATE.search(norm_sentence)
        return match.group(0) if match else None
    return None

