"""The neighbour sentences of an extractive answer (rag.answering.extractive): the sentence after a short best
sentence, the sentence before one that leans on it, each only within ``max_chars`` and never a sign-off.
Synthetic reports; the shipped selector model picks the best sentence (asserted, so a test cannot pass vacuously)."""

from __future__ import annotations

from llama_index.core.schema import NodeWithScore, TextNode

from rag.answering.extractive import SHORT_SENTENCE, ExtractiveAnswerer
from rag.answering.verifier import Similarity
from rag.retrieval.embedding import packaged_e5

SIMILARITY = Similarity(packaged_e5)  # the packaged e5, loaded once for the module's tests


def _idf(term: str) -> float:
    return 6.0 if term == "\uffff" else 2.0 + 0.2 * len(term)


def _hit(text: str, title: str = "") -> NodeWithScore:
    meta = {"title": title, "source": "r.txt", "article_id": "r.txt", "story_id": "r.txt", "chunk_index": 0}
    return NodeWithScore(node=TextNode(text=text, id_="r.txt", metadata=meta), score=1.0)


SHORT = "青川县今年新建公交站台46座。"
AFTER = "其中一半位于偏远山区，方便沿线群众出行。"
QUESTION = "青川县今年新建了多少座公交站台？"


def _best(answerer: ExtractiveAnswerer, question: str, hit: NodeWithScore) -> str:
    _, ranked, confidence = answerer.rank(question, [hit])
    assert ranked and confidence >= answerer.min_confidence
    return ranked[0].sentence


def test_a_short_best_sentence_is_completed_with_the_one_after_it_when_it_fits() -> None:
    hit = _hit("县里的天气近来一直晴好。" + SHORT + AFTER + "另据介绍，当地茶园面积也在扩大。")
    answerer = ExtractiveAnswerer(_idf, SIMILARITY)
    assert _best(answerer, QUESTION, hit) == SHORT and len(SHORT) < SHORT_SENTENCE
    assert answerer.answer(QUESTION, [hit]).answer == SHORT + AFTER + "[1]"
    tight = ExtractiveAnswerer(_idf, SIMILARITY, max_chars=len(SHORT) + len(AFTER) - 1)
    assert tight.answer(QUESTION, [hit]).answer == SHORT + "[1]"


def test_a_sign_off_is_never_added() -> None:
    hit = _hit(SHORT + "（完）【编辑:王五】")
    assert ExtractiveAnswerer(_idf, SIMILARITY).answer(QUESTION, [hit]).answer == SHORT + "[1]"


def test_a_long_best_sentence_that_leans_on_nothing_stays_alone() -> None:
    long = "青川县今年在全县各乡镇和主要村落新建公交站台46座，站台均配有遮阳棚、座椅和电子站牌。"
    hit = _hit(long + AFTER)
    answerer = ExtractiveAnswerer(_idf, SIMILARITY)
    assert _best(answerer, QUESTION, hit) == long and len(long) >= SHORT_SENTENCE
    assert answerer.answer(QUESTION, [hit]).answer == long + "[1]"


def test_a_best_sentence_that_leans_back_gets_the_sentence_before_it() -> None:
    before = "县里去年开始动工。"
    leaning = "该工程总投资约200万元，由县财政全额承担，目前已完成全部站台的选址和设计工作。"
    hit = _hit("县里的天气近来一直晴好。" + before + leaning, "青川县站台改造")
    question = "青川县站台改造工程总投资是多少？"
    answerer = ExtractiveAnswerer(_idf, SIMILARITY)
    assert _best(answerer, question, hit) == leaning
    _, ranked, _ = answerer.rank(question, [hit])  # not added as an answering candidate of the same passage
    assert all(c.score < answerer.min_confidence for c in ranked if c.sentence == before)
    assert answerer.answer(question, [hit]).answer == before + leaning + "[1]"
