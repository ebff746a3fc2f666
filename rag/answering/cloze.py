"""Cloze anchors: the words right around a question's interrogative, found again around the answer in a sentence.

A reporter's sentence that answers ``美国债务上限危机阻碍了什么的正常运行？`` says ``…阻碍了全球金融市场的正常运行``:
the question is the sentence with its answer replaced by 什么. Word coverage alone cannot see this (a lead sentence
holding the topic words outscores it); the characters next to the interrogative can. Likewise a count:
``中国有多少家公司上榜`` is answered by ``142家公司上榜`` and not by ``39家新上榜…公司``, both in 家 and both holding
公司 and 上榜 — only one continues with the question's own words after the unit.

:func:`slot_anchors` gives, per interrogative of a normalised question, its left context (up to
:data:`ANCHOR_CHARS` characters before it, within the clause) and right context (after it, the measure word of
多少家 kept, since the sentence writes it after the figure). :func:`anchor_score` is 0..1: characters of the
longest suffix of a left context and the longest prefix of a right context found in the sentence (each counted
from 2 characters; a one-character match is chance), in order when both are found, over :data:`FULL_CREDIT_CHARS`.
The method is the answer-pattern matching of early TREC QA systems (Ravichandran and Hovy, 2002, "Learning surface
text patterns for a question answering system"), without the learned patterns: the question itself is the pattern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag.text.normalize import jieba_module

#: Characters of context taken on each side of the interrogative.
ANCHOR_CHARS = 5
#: Matched anchor characters (both sides together) that earn the full score.
FULL_CREDIT_CHARS = 6
#: Most characters between the end of the left anchor and the start of the right one in the sentence (the answer).
MAX_GAP = 40

#: Interrogatives with the slot words that follow them and never recur in the sentence (什么时候, 哪一年).
_WH = re.compile(
    r"什么时候|什么时间|什么地方|什么样的?|哪一?(?:天|年|月)|几月几日|何时|何地|何处|哪里|哪儿|多少|多久|多大|多长|几"
    r"|什么型号|什么类型|什么|哪一?[种款类型]|何种|哪[个些一家位座所国条]?|谁|如何|怎样|怎么样?"
)
_LOOSE = "了的是有为着过"
_NAMING = re.compile(r"什么型号|什么类型|哪一?[种款类型]|何种|哪[个家位座所国条]?|什么")
#: Interrogatives asking for a kind or model (哪种无人机 -> MQ-9“死神”无人机), not for a name of any sort.
_KIND = re.compile(r"什么型号|什么类型|哪一?[种款类型]|何种")
#: Words before a noun that say whose it is, not what kind (美国无人机, 俄军战机, 美方无人机).
_OWNER_END = re.compile(r"[方军]$")
#: jieba parts of speech of an owner: place, person (it tags 乌克兰 nr), organisation.
_OWNER_FLAGS = frozenset(("ns", "nr", "nrt", "nt"))
#: Least jieba dictionary frequency of an owner name (乌克兰 696, 叙利亚 643, 华为 373; kind names such as 彩虹 258
#: or unseen 翼龙 stay below).
OWNER_MIN_FREQUENCY = 300
#: Determiners and quantifiers that stand where a name would (一处 / 这个 / 该 / 某 + noun).
_DETERMINER_BEFORE = re.compile(r"(?:[一这那每某][处个家位种座所条类名支批项]|[该此某其本])$")
_CLAUSE_END = re.compile(r"[，,。？?！!；;：:、\s]")


@dataclass(frozen=True)
class Anchor:
    """The context of one interrogative: ``left`` ends right before it, ``right`` starts right after it.

    ``naming``: the interrogative asks which one (哪个海军基地, 什么机构), so the answer is the name right before
    ``right`` in the sentence; a determiner there (一处海军基地, 该机构) mentions the noun without filling the slot.
    ``kind``: it asks which kind or model (哪种无人机, 哪款手机); an owner there (美国无人机, 俄军战机) does not fill it."""

    left: str
    right: str
    naming: bool = False
    kind: bool = False


@lru_cache(maxsize=4096)
def slot_anchors(norm_question: str) -> tuple[Anchor, ...]:
    """Per interrogative of ``norm_question`` (normalised), its clause context on both sides (see module docstring).

    Empty when the question has no interrogative. ``多少家公司上榜`` gives right ``家公司上榜``: the unit is part of
    what follows the figure in the sentence.
    """
    anchors = []
    for match in _WH.finditer(norm_question):
        before = norm_question[: match.start()]
        after = norm_question[match.end() :]
        # 建成了多少座 is written 已建成…座: aspect and linking characters next to the interrogative are left out.
        left = _CLAUSE_END.split(before)[-1].rstrip(_LOOSE)[-ANCHOR_CHARS:]
        right = _CLAUSE_END.split(after)[0].lstrip(_LOOSE)[:ANCHOR_CHARS]
        if len(left) >= 2 or len(right) >= 2:
            word = match.group()
            anchors.append(Anchor(left, right, bool(_NAMING.fullmatch(word)), bool(_KIND.fullmatch(word))))
    return tuple(anchors)


def anchor_score(anchors: tuple[Anchor, ...], norm_sentence: str) -> float:
    """0..1: how much of the interrogatives' contexts ``norm_sentence`` holds around one place (module docstring)."""
    best = 0
    for anchor in anchors:
        left_at, left_len = _longest_suffix(anchor.left, norm_sentence)
        right_at, right_len = _longest_prefix(anchor.right, norm_sentence, left_at + left_len if left_len else 0)
        if anchor.naming and right_len and not _named_before(norm_sentence, anchor.right[:right_len], anchor.kind):
            right_at, right_len = 0, 0
        in_order = 0 <= right_at - (left_at + left_len) <= MAX_GAP
        best = max(best, left_len + right_len if in_order or not (left_len and right_len) else max(left_len, right_len))
    return min(1.0, best / FULL_CREDIT_CHARS)


def _named_before(text: str, noun: str, kind: bool = False) -> bool:
    """Whether some occurrence of ``noun`` in ``text`` is not right after a determiner (一处海军基地); with ``kind``,
    nor right after an owner: a place, person or organisation name (jieba part of speech: 美国无人机, 乌克兰无人机)
    or 某方/某军."""
    at = text.find(noun)
    while at >= 0:
        before = text[max(0, at - 6) : at]
        if not _DETERMINER_BEFORE.search(before[-2:]) and not (kind and _owner_before(before)):
            return True
        at = text.find(noun, at + 1)
    return False


def _owner_before(before: str) -> bool:
    """Whether ``before`` (the characters right before a noun) ends with a place name or an X方/X军 owner."""
    if not before:
        return False
    if _OWNER_END.search(before):
        return True
    import jieba.posseg as pseg

    words = pseg.lcut(before)
    if not words or words[-1].flag not in _OWNER_FLAGS:
        return False
    # jieba's guesses tag unseen words too (翼龙 as a place): only a well-known name is an owner.
    return jieba_module().dt.FREQ.get(words[-1].word, 0) >= OWNER_MIN_FREQUENCY


def _longest_suffix(context: str, text: str) -> tuple[int, int]:
    """(position, length) of the longest suffix of ``context`` of 2+ characters that occurs in ``text``; (0, 0)."""
    for size in range(len(context), 1, -1):
        at = text.find(context[-size:])
        if at >= 0:
            return at, size
    return 0, 0


def _longest_prefix(context: str, text: str, start: int) -> tuple[int, int]:
    """(position, length) of the longest prefix of ``context`` (2+ characters) in ``text``, preferring an
    occurrence from ``start`` on (after the left anchor); (0, 0) when none occurs."""
    for size in range(len(context), 1, -1):
        piece = context[:size]
        at = text.find(piece, start)
        if at < 0:
            at = text.find(piece)
        if at >= 0:
            return at, size
    return 0, 0


#: A date or period a question is anchored in: 1973年10月, 1996年2月至4月, 2008年, 7月28日.
_QUESTION_TIME = re.compile(
    r"\d{4}年(?:\d{1,2}月(?:\d{1,2}日)?)?(?:(?:至|到|-|—|~)(?:\d{4}年)?(?:\d{1,2}月)?(?:\d{1,2}日)?)?"
    r"|\d{1,2}月\d{1,2}日"
)


def question_times(norm_question: str) -> tuple[str, ...]:
    """The dates and periods a normalised question names (``1973年10月，王家瑞担任什么职务？``): a biography or a
    chronicle answers it with the sentence that starts from the same date, which word coverage weighs little."""
    return tuple(m.group(0).rstrip("至到-—~") for m in _QUESTION_TIME.finditer(norm_question))


def time_score(times: tuple[str, ...], norm_sentence: str) -> float:
    """1.0 when ``norm_sentence`` holds one of the question's ``times`` as written, else 0.0."""
    return 1.0 if any(t in norm_sentence for t in times) else 0.0
