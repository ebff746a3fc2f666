"""The slot check of the citation verifier (:mod:`rag.answering.claim_spans`): the answer-bearing spans of a cited clause
(names, numbers with their units, dates, titles, Latin terms) must be stated by the cited source, near the rest of
the clause; a clause whose slot filler no source states condemns the whole answer (streamed or not)."""

from __future__ import annotations

import pytest
from llama_index.core.schema import NodeWithScore, TextNode

from rag.answering.citation_check import StreamVerifier, check_answer
from rag.answering.claim_spans import answer_spans, chinese_number, numbers_in
from rag.answering.question import QuestionType

SECRETARY = "“征途漫漫,惟有奋斗。”黄道镇党委书记王进伟说。"
# Page 000 and 004 of the sample pages (SECRETARY, MEETING, FAR); VILLAGES is written for the tests (an invented town).
VILLAGES = "青松镇坚持党建引领,对全镇21个自然村党员群众服务中心进行完善和提升。"
MEETING = "12月30日上午,市人大常委会机关召开动员部署会,市人大常委会党组书记、主任李萍出席会议并讲话。"
# Traditional characters, full-width digits and a full-width percent sign, as OCR of a Hong Kong page gives them.
TRADITIONAL = "據統計，郟縣建成開通5G基站１２０座，覆蓋率達９５％。主持人為劉德華。"
FAR = ("市人大常委会党组书记、主任李萍出席会议并讲话。" + "会议听取了各部门的工作汇报，研究部署了下一阶段的重点任务。" * 4
       + "市人大常委会党组副书记张荣海参加会议。")


def node(number: int, text: str, title: str = "") -> NodeWithScore:
    meta = {"title": title, "source": f"{number:03}.txt", "article_id": f"art{number}"}
    return NodeWithScore(node=TextNode(id_=f"art{number}:0", text=text, metadata=meta), score=1.0 / number)


@pytest.fixture()
def nodes() -> list[NodeWithScore]:
    return [node(1, SECRETARY, "黄道镇 奋力奏响乡村振兴协奏曲"), node(2, VILLAGES, "青松镇"), node(3, MEETING, "市人大常委会"),
            node(4, TRADITIONAL, "郟縣"), node(5, FAR, "市人大常委会会议")]


def outcome(text: str, nodes: list[NodeWithScore], question: str) -> tuple[str, str]:
    result, _citations = check_answer(text, nodes, question)
    return result.outcome, result.text


def test_spans_of_a_claim() -> None:
    spans = {s.text: s for s in answer_spans("黄道镇党委书记是张三", "黄道镇党委书记是谁？", QuestionType.PERSON)}
    assert set(spans) == {"张三"} and spans["张三"].slot and spans["张三"].kind == "person"  # 黄道镇 is the subject
    spans = {s.text: s for s in answer_spans("2021年12月29日召开,建成120座、十三个", "", QuestionType.NUMBER)}
    assert spans["120座"].value == 120 and spans["120座"].unit == "座" and spans["120座"].slot
    assert spans["十三个"].value == 13 and spans["2021年"].kind == "date" and spans["29日"].kind == "date"
    assert {s.text for s in answer_spans("上映了《流浪地球》,由gdp统计", "", None)} >= {"流浪地球", "gdp"}
    assert "一个" not in {s.text for s in answer_spans("这是一个统一规划", "", QuestionType.OTHER)}
    assert chinese_number("一百二十") == 120 and chinese_number("二〇二一") == 2021 and chinese_number("十三") == 13
    assert (120.0, "座") in numbers_in("建成120座") and (21.0, "个") in numbers_in("二十一个自然村")


def test_a_name_that_fills_the_slot_must_be_in_the_source(nodes: list[NodeWithScore]) -> None:
    question = "黄道镇党委书记是谁？"
    assert outcome("黄道镇党委书记是王进伟[1]。", nodes, question) == ("cited", "黄道镇党委书记是王进伟[1]。")
    assert outcome("黄道镇党委书记是张三[1]。", nodes, question)[0] == "unsupported"  # the example
    # not even next to true sentences, in either order
    assert outcome("青松镇坚持党建引领[2]。黄道镇党委书记是张三[1]。", nodes, question)[0] == "unsupported"
    assert outcome("黄道镇党委书记是张三[1]。青松镇有21个自然村[2]。", nodes, question)[0] == "unsupported"
    # the marker moves to the source that states the name
    assert outcome("市人大常委会主任李萍出席会议[1]。", nodes, "市人大常委会主任是谁？") == (
        "cited", "市人大常委会主任李萍出席会议[1]。")


def test_a_name_found_elsewhere_on_the_page_is_not_support(nodes: list[NodeWithScore]) -> None:
    # 张荣海 is on page 5, but in another sentence far from 出席会议并讲话
    assert outcome("市人大常委会主任张荣海出席会议并讲话[5]。", nodes, "市人大常委会主任是谁？")[0] == "unsupported"
    assert outcome("市人大常委会主任李萍出席会议并讲话[5]。", nodes, "市人大常委会主任是谁？")[0] == "cited"


def test_numbers_with_their_units(nodes: list[NodeWithScore]) -> None:
    question = "青松镇有多少个自然村？"
    assert outcome("全镇共有21个自然村[2]。", nodes, question)[0] == "cited"
    assert outcome("全镇共有二十一个自然村[2]。", nodes, question)[0] == "cited"  # Chinese numerals by value
    assert outcome("全镇共有22个自然村[2]。", nodes, question)[0] == "unsupported"
    assert outcome("全镇共有21座自然村[2]。", nodes, question)[0] == "unsupported"  # the unit counts too


def test_dates(nodes: list[NodeWithScore]) -> None:
    question = "市人大常委会机关的动员部署会是什么时候召开的？"
    assert outcome("市人大常委会机关于12月30日上午召开动员部署会[3]。", nodes, question)[0] == "cited"
    assert outcome("市人大常委会机关于12月29日上午召开动员部署会[3]。", nodes, question)[0] == "unsupported"
    assert outcome("市人大常委会机关于11月30日上午召开动员部署会[3]。", nodes, question)[0] == "unsupported"


def test_traditional_characters_and_full_width_digits_in_the_source(nodes: list[NodeWithScore]) -> None:
    assert outcome("郏县建成开通5G基站120座[4]。", nodes, "郏县建成了多少座5G基站？") == (
        "cited", "郏县建成开通5G基站120座[1]。")
    assert outcome("郏县建成开通5G基站150座[4]。", nodes, "郏县建成了多少座5G基站？")[0] == "unsupported"
    assert outcome("郏县5G覆盖率达95%[4]。", nodes, "郏县5G覆盖率是多少？")[0] == "cited"
    assert outcome("主持人为刘德华[4]。", nodes, "主持人是谁？")[0] == "cited"
    assert outcome("主持人为张学友[4]。", nodes, "主持人是谁？")[0] == "unsupported"


def test_streamed_text_waits_for_the_slot_filler(nodes: list[NodeWithScore]) -> None:
    question = "黄道镇党委书记是谁？"
    text = "青松镇坚持党建引领[2]。黄道镇党委书记是王进伟[1]。"
    verifier = StreamVerifier(nodes, question)
    released = [verifier.feed(ch) for ch in text] + [verifier.finish()]
    first = next(i for i, batch in enumerate(released) if batch)
    assert first >= text.index("王进伟")  # nothing before the name was verified
    assert "".join(p for batch in released for p in batch) == "青松镇坚持党建引领[1]。黄道镇党委书记是王进伟[2]。"

    fake = StreamVerifier(nodes, question)
    pieces = [p for ch in "青松镇坚持党建引领[2]。黄道镇党委书记是张三[1]。" for p in fake.feed(ch)] + fake.finish()
    assert pieces == [] and fake.result().outcome == "unsupported" and fake.fabricated

    # a question with no slot (为什么) is released as soon as a clause is verified
    why = StreamVerifier(nodes, "青松镇为什么完善服务中心？")
    assert [p for ch in "青松镇坚持党建引领[2]。" for p in why.feed(ch)]
