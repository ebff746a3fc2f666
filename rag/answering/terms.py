"""The IDF-weighted content words of a question (:func:`term_weights`), with the corrections jieba's search-mode
segmentation needs before its tokens can be matched against sentences."""

from __future__ import annotations

from collections.abc import Callable

from rag.answering.question import _composed_of, _strip_interrogatives
from rag.answering.slots import SLOT_NOUNS
from rag.text.normalize import STOPWORDS, jieba_module, keywords

#: Weight (x IDF) of a question token found in no chunk and not in jieba's dictionary: a segmentation guess.
UNSEEN_GUESS_WEIGHT = 0.3
#: Weight (x IDF) of a question term that is part of a longer one (jieba's search mode: 无人 in 无人机), or a noun
#: naming the property asked for (:data:`rag.answering.slots.SLOT_NOUNS`).
FRAGMENT_WEIGHT = 0.3

#: Demonstratives (这起事件, 此次会议): they point at something the question does not name, no passage repeats them.
_DEICTIC = frozenset("这起 这次 此次 这场 这位 这些 那些 这项 这种 该 此 本次 这一 那次".split())
#: Function characters jieba's HMM glues to the character before them in unseen words (团由, 局在, 者对).
_GLUED_FUNCTION_CHARS = frozenset("由在于对向从被把将与和及为")


def term_weights(norm_question: str, idf: Callable[[str], float]) -> tuple[list[str], dict[str, float]]:
    """(terms in order of appearance, weight per term) of a normalised question; weights are ``idf`` (from the
    BM25 index: ``idf("\\uffff")`` is the weight of a token no chunk has) scaled down for fragments, property
    nouns and segmentation guesses, plus the regrouped words of :func:`_regroup` (not in ``terms``)."""
    terms = [t for t in keywords(_strip_interrogatives(norm_question)) if t not in STOPWORDS and t not in _DEICTIC]
    # jieba's search mode emits 人口数量 beside 人口 and 数量: the compound would count its words twice.
    terms = [t for t in terms if not _composed_of(t, [o for o in terms if o != t])]
    weights = {t: idf(t) for t in terms}
    # ... and emits 无人 and 人机 inside 无人机: a fragment of a longer term keeps a share of its weight, for
    # texts that use the short form, without counting one word three times. 蓍的叶子有什么特点: 特点 names the
    # property asked for; the answer describes it without the word.
    for term in terms:
        if term in SLOT_NOUNS or any(term != other and term in other for other in terms):
            weights[term] *= FRAGMENT_WEIGHT
    # A token no chunk has and jieba's dictionary lacks is a segmentation guess (热诱弹 -> 热 + 诱弹, 团由):
    # at full weight it would decide coverage alone. Real words absent from the corpus keep theirs.
    unseen = idf("\uffff")
    frequencies = jieba_module().dt.FREQ
    for term, weight in list(weights.items()):
        if weight >= unseen and not frequencies.get(term):
            weights[term] = UNSEEN_GUESS_WEIGHT * weight
            _regroup(term, terms, weights, norm_question)
    return terms, weights


def _regroup(guess: str, terms: list[str], weights: dict[str, float], norm_question: str) -> None:
    """航空团由什么组成 is cut 航空 + 团由: a 2-character guess ending in a function character has taken the last
    character of the word before it. That word is matched again with its character back (航空团, at the weight
    of 航空, which becomes its fragment); the guess keeps its reduced weight. Changes ``weights`` in place."""
    if len(guess) != 2 or guess[1] not in _GLUED_FUNCTION_CHARS:
        return
    at = terms.index(guess)
    before = terms[at - 1] if at else ""
    word = before + guess[0]
    if len(before) >= 2 and word + guess[1] in norm_question and word not in weights:
        weights[word] = weights[before]
        weights[before] *= FRAGMENT_WEIGHT
