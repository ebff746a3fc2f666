"""Unit tests of the refusal rules of the extractive answerer (issue 12): no model, no network.

Each rule is tried both ways on hand-made chunks: the question the passage answers is answered, the one it cannot
answer is refused.
"""

from __future__ import annotations

from llama_index.core.schema import NodeWithScore, TextNode

from rag.answering.evidence import MIN_SENTENCE_COVERAGE, QuestionAnalysis, question_topic
from rag.answering.extractive import ExtractiveAnswerer
from rag.answering.question import _strip_interrogatives


def _hit(title: str, text: str, article: str = "a") -> NodeWithScore:
    return NodeWithScore(node=TextNode(id_=f"{article}:0", text=text, metadata={"title": title, "source": f"{article}.txt"}),
                         score=1.0)


def _answerer(corpus: str) -> ExtractiveAnswerer:
    """Every token counts the same; ``known`` is whether the corpus text holds the token."""
    return ExtractiveAnswerer(lambda token: 2.0, 150, known=lambda token: token in corpus)


PARK = "乍都节公园位于泰国曼谷的乍都节县，是一座城市公园。公园里有一座小型的火车博物馆。它的面积约为0.304平方公里。"


def test_a_pronoun_led_sentence_counts_what_its_title_names() -> None:
    analysis = QuestionAnalysis("乍都节公园的面积有多大？", lambda token: 2.0)
    hit = _hit("乍都节公园", PARK)
    best = next(c for c in analysis.candidates(hit, 0) if c.sentence.startswith("它的面积"))
    # 面积 alone would be too little of the question; 它 stands for the park the title and lead name.
    assert analysis.coverage(best.norm) < best.coverage
    assert best.coverage >= MIN_SENTENCE_COVERAGE
    answer = _answerer(PARK + "乍都节公园").answer("乍都节公园的面积有多大？", [hit])
    assert answer.found and "0.304平方公里" in answer.answer


def test_a_sentence_without_pronoun_gets_frame_credit_only_for_the_topic_its_frame_names() -> None:
    analysis = QuestionAnalysis("乍都节公园的面积有多大？", lambda token: 2.0)
    plain = next(c for c in analysis.candidates(_hit("火车博物馆", "面积约为0.304平方公里。"), 0))
    assert plain.coverage == analysis.coverage(plain.norm)  # the frame names something else
    left_out = next(c for c in analysis.candidates(_hit("乍都节公园", "面积约为0.304平方公里。"), 0))
    assert left_out.coverage > analysis.coverage(left_out.norm)  # the subject left out is the title's park


def test_how_big_and_what_are_interrogatives_not_content_words() -> None:
    assert _strip_interrogatives("东关街有多长") == "东关街"
    assert _strip_interrogatives("乍都节公园的面积有多大") == "乍都节公园的面积"
    assert _strip_interrogatives("画直棱柱时有什么注意事项") == "画直棱柱时注意事项"
    assert _strip_interrogatives("多大学生") == "多大学生"  # 多大 inside 大学 is no question word


def test_a_time_a_question_opens_with_is_not_its_topic() -> None:
    assert question_topic("2022年,乍都节公园的面积有多大?") == "乍都节公园"
    assert question_topic("2019年12月,郏县建成了多少座5G基站?") == "郏县"
    assert question_topic("去年郏县建成了多少座5G基站?") == "郏县"
    assert question_topic("据最新报道,乍都节公园的面积有多大?") == "乍都节公园"


def test_question_topic_is_the_leading_noun_phrase() -> None:
    assert question_topic("六耳铃的花期是什么时候?") == "六耳铃"
    assert question_topic("此剧的制作人是谁?") == ""  # a pronoun: nothing to look for
    assert question_topic("于海什么时候入选中国国家队?") == ""  # 于 read as a preposition: no topic


def test_a_topic_no_page_names_is_refused() -> None:
    # The passage is about another plant; 六耳铃 is on no page of the corpus.
    other = "黄蝉的花期为5-8月，果期10-12月。黄蝉分布在巴西。"
    answer = _answerer(other).answer("六耳铃的花期是什么时候？", [_hit("黄蝉", other)])
    assert not answer.found
    # With its own page the same question is answered.
    own = "六耳铃是菊科植物。六耳铃的花期为3-8月。"
    answer = _answerer(own + other).answer("六耳铃的花期是什么时候？", [_hit("六耳铃", own), _hit("黄蝉", other, "b")])
    assert answer.found and "3-8月" in answer.answer


def test_a_topic_glued_to_the_next_character_still_counts() -> None:
    # jieba reads 冷湖市是 as one word; the page says 设立冷湖市.
    text = "冷湖原为无人区，1954年发现石油后开始建设，1959年设立冷湖市，1964年降格为镇。"
    answer = _answerer(text).answer("冷湖市是何时设立的？", [_hit("冷湖行政区", text)])
    assert answer.found and "1959年" in answer.answer


def test_what_is_x_needs_a_sentence_about_x() -> None:
    # The passage shares 羊水 with the question, enough coverage to quote it, but never names 羊水栓塞.
    text = "羊水是胎儿在子宫内赖以生存的液体，羊水过少时需要及时就医。"
    assert not _answerer(text).answer("什么是羊水栓塞？", [_hit("羊水", text)]).found
    defined = "羊水栓塞是指分娩过程中羊水进入母体血液循环引起的严重综合征。"
    answer = _answerer(defined).answer("什么是羊水栓塞？", [_hit("羊水栓塞", defined)])
    assert answer.found and "严重综合征" in answer.answer


def test_the_noun_asked_for_is_not_an_unknown_name() -> None:
    analysis = QuestionAnalysis("元皇后是哪位帝王的皇后？", lambda token: 2.0)
    # 帝王 follows 哪位: it names the slot, so a corpus without the word 帝王 can still answer.
    assert analysis.missing_unknown_name("元皇后是北齐孝昭帝高演的皇后。", lambda token: False) is None
    assert QuestionAnalysis("郑州市的市委书记是谁？", lambda token: 2.0).missing_unknown_name(
        "焦作市委书记。", lambda token: False) == "郑州市"


def test_a_common_noun_tagged_as_a_name_may_appear_in_a_near_form() -> None:
    # jieba tags 冰淇淋 nr and 广告语 nz; the pages write 冰淇林 and 广告口号. Neither is on any page.
    absent = lambda token: False  # noqa: E731
    question = QuestionAnalysis("冰雪皇后冰淇淋有什么特点？", lambda token: 2.0)
    assert question.missing_unknown_name("冰雪皇后的冰淇林类产品标榜倒杯不洒。", absent) is None
    assert question.missing_unknown_name("冰雪皇后是一家快餐厅。", absent) == "冰淇淋"
    ad = QuestionAnalysis("莎莉公司在东南亚的广告语是什么？", lambda token: 2.0)
    assert ad.missing_unknown_name("莎莉公司在东南亚广告口号是莎莉多谢您。", absent) is None


def test_a_person_name_never_stands_for_a_near_name() -> None:
    from rag.answering.slots import named_as_word

    assert not named_as_word("王进华", "nr", "黄道镇党委书记王进伟主持会议。")
    assert named_as_word("王进伟", "nr", "黄道镇党委书记王进伟主持会议。")
    assert named_as_word("冰淇淋", "nr", "冰淇林")  # 冰 starts no common surname
    assert named_as_word("郑州", "ns", "郑州市") and not named_as_word("郑州市", "ns", "郑州")  # places: whole


def test_the_noun_asked_for_weighs_like_a_property_noun_in_the_refusal_gates() -> None:
    from rag.answering.evidence import FRAGMENT_WEIGHT
    from rag.answering.slots import asked_slot_nouns

    assert asked_slot_nouns("在中国,牡蒿分布在哪些省市?") == {"省市"}
    assert asked_slot_nouns("百老汇至今经历了哪些磨难?") == {"磨难"}
    assert asked_slot_nouns("为什么李白被贬?") == set()  # 为什么 asks why; 李白 is the topic
    assert asked_slot_nouns("这个航空团由什么组成?") == set()  # 组成 is a verb: the answer says 由…组成
    # A token the index has (idf 2.0, below that of an unseen token) keeps its weight; the asked noun does not.
    analysis = QuestionAnalysis("在中国,牡蒿分布在哪些省市?", lambda token: 3.0 if token == "\uffff" else 2.0)
    assert analysis.gate_weights["省市"] == 2.0 * FRAGMENT_WEIGHT and analysis.gate_weights["牡蒿"] == 2.0
    assert analysis.weights["省市"] == 2.0  # ranking: the answer often ends with the noun (第四医院)
    text = "在中国境内，牡蒿分布于福建、辽宁、河北、四川等地。"
    answer = _answerer(text).answer("在中国，牡蒿分布在哪些省市？", [_hit("牡蒿", text)])
    assert answer.found and "福建" in answer.answer


def test_a_space_typed_inside_a_quoted_title_does_not_refuse() -> None:
    text = "《卡美拉大怪兽空中决战》是1995年上映的日本怪兽电影，卡美拉系列电影的第9部作品。"
    hit = _hit("卡美拉大怪兽空中决战", text)
    for question in ("《卡美拉 大怪兽空中决战》在哪一年上映的？", "《卡美拉大怪兽空中决战》在哪一年上映的？"):
        answer = _answerer(text).answer(question, [hit])
        assert answer.found and "1995年" in answer.answer, question
    # A title the page does not hold is still not found, spaced or not.
    assert not _answerer(text).answer("《大怪兽 陆地决战》在哪一年上映的？", [hit]).found
