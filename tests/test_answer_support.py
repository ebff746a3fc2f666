"""Which sentence answers, beyond word coverage: the kind or model a 哪种 question asks for, words jieba's guesses
cut apart, phrasings several independent reports share, and the readable copy of a reprinted report."""

from __future__ import annotations

from llama_index.core.schema import NodeWithScore, TextNode

from rag.answering.cloze import anchor_score, slot_anchors
from rag.answering.evidence import FRAGMENT_WEIGHT, QuestionAnalysis
from rag.answering.extractive import ExtractiveAnswerer
from rag.answering.redundancy import SHARED_RUN_CHARS, corroborate
from rag.retrieval.stories import UNPUNCTUATED_RUN, collapse_stories, unpunctuated
from rag.text.normalize import normalize

UNSEEN = 9.0


def _idf(term: str) -> float:
    """Every word of these tests about as rare as the others; the guess 团由 (and the probe ``\\uffff``) unseen."""
    return UNSEEN if term in ("团由", "\uffff") else 3.0 + 0.1 * len(term)


def _hit(text: str, source: str, story: str, score: float = 1.0, title: str = "") -> NodeWithScore:
    meta = {"title": title, "source": source, "article_id": source, "story_id": story}
    return NodeWithScore(node=TextNode(text=text, id_=source + str(hash(text)), metadata=meta), score=score)


def test_a_kind_question_is_not_answered_by_the_owner_of_the_thing() -> None:
    anchors = slot_anchors(normalize("对哪种无人机发射了热诱弹？"))
    assert anchors and anchors[0].kind
    owner = anchor_score(anchors, normalize("一架俄罗斯军机向一架正在执行任务的美国无人机发射红外干扰弹。"))
    country = anchor_score(anchors, normalize("俄军共击落38架乌克兰无人机。"))
    model = anchor_score(anchors, normalize("一架美国MQ-9“死神”无人机正在叙利亚上空执行任务。"))
    unseen_name = anchor_score(anchors, normalize("翼龙无人机完成了试飞。"))
    assert owner == country == 0.0 < model == unseen_name
    # 哪个国家 asks for the owner: there the country before the noun fills the slot.
    which = slot_anchors(normalize("哪个国家的无人机被击落了？"))
    assert not which[0].kind


def test_a_word_the_segmenter_cut_apart_is_matched_whole() -> None:
    analysis = QuestionAnalysis("这个航空团由什么组成？", _idf)
    assert analysis.weights["航空团"] == _idf("航空") and analysis.weights["航空"] == FRAGMENT_WEIGHT * _idf("航空")
    text = ("据报道，俄罗斯国防部正考虑在远东地区部署一个图-160战略轰炸机航空团。"
            "消息人士表示，一切都将取决于国防订单的数量和组成。")
    answer = ExtractiveAnswerer(_idf).answer("这个航空团由什么组成？", [_hit(text, "a.txt", "s1")])
    assert answer.found and answer.answer.startswith("据报道，俄罗斯国防部正考虑")


def _candidates(question: str, hits: list[NodeWithScore]) -> tuple[QuestionAnalysis, list]:
    analysis = QuestionAnalysis(question, _idf)
    cands = [c for rank, hit in enumerate(hits) for c in analysis.candidates(hit, rank)]
    cands.sort(key=lambda c: c.score, reverse=True)
    return analysis, cands


def test_a_phrasing_other_stories_print_overtakes_a_close_one_only_one_prints() -> None:
    shared = "更好满足居民刚性和改善性住房需求"
    assert len(shared) > SHARED_RUN_CHARS
    hits = [
        _hit("会议提出，发展保障性租赁住房，支持住房消费，有效满足居民的汽车、住房消费需求。", "a.txt", "s1", 1.0),
        _hit(f"会议指出，要因城施策用好政策工具箱，{shared}。", "b.txt", "s2", 0.95),
        _hit(f"继续引导个人住房贷款利率下行，{shared}。", "c.txt", "s3", 0.9),
        _hit(f"各地要{shared}，促进房地产市场平稳健康发展。", "d.txt", "s4", 0.9),
    ]
    analysis, cands = _candidates("如何满足居民的住房需求？", hits)
    before = [c.sentence for c in cands]
    assert shared not in before[0]  # closest in words: the report only one story prints
    corroborate(cands, analysis)
    assert shared in cands[0].sentence
    # Copies of one story are one report: the same three sentences in one story lend no support.
    same_story = [_hit(h.node.get_content(), h.node.metadata["source"], "s1", h.score) for h in hits]
    analysis, cands = _candidates("如何满足居民的住房需求？", same_story)
    order = [c.sentence for c in cands]
    corroborate(cands, analysis)
    assert [c.sentence for c in cands] == order == before


def test_the_readable_copy_of_a_story_is_kept_at_the_best_copys_rank() -> None:
    run_together = "截至8月16日已有5000多万观众在电影院接受了特殊反诈教育但你可能没想到走进电影院的居然还有涉诈嫌疑人" * 2
    assert len(run_together) > UNPUNCTUATED_RUN and unpunctuated(run_together)
    readable = "8月14日，湖北十堰市公安局茅箭区分局民警远赴贵州省六盘水市，成功抓获一名嫌疑人。"
    assert not unpunctuated(readable)
    nodes = [_hit(run_together, "a.txt", "s1", 2.0), _hit("另一篇报道。", "x.txt", "s2", 1.5),
             _hit(readable, "b.txt", "s1", 1.0)]
    kept = collapse_stories(nodes, 5)
    assert [h.node.metadata["source"] for h in kept] == ["b.txt", "x.txt"]
    assert kept[0].score == 2.0
    # Both copies punctuated: the best-ranked one stays.
    nodes[0] = _hit("电影院里，民警抓获了嫌疑人。", "a.txt", "s1", 2.0)
    assert [h.node.metadata["source"] for h in collapse_stories(nodes, 5)] == ["a.txt", "x.txt"]


def test_furniture_many_pages_print_lends_no_support() -> None:
    boiler = "多生长在山谷空旷湿润地，目前尚未由人工引种栽培"
    hits = [
        _hit("狭叶种分布于云南、菲律宾以及台湾。", "a.txt", "s1", 1.0, "狭叶艾纳香"),
        _hit(f"狭叶艾纳香生长于海拔900米至1,900米的地区，{boiler}。", "b.txt", "s2", 0.99, "狭叶艾纳香"),
        _hit(f"艾纳香生长于海拔600米的地区，{boiler}。", "c.txt", "s3", 0.5, "艾纳香"),
        _hit(f"大头艾纳香生长于海拔1,000米的地区，{boiler}。", "d.txt", "s4", 0.5, "大头艾纳香"),
    ]
    analysis, cands = _candidates("狭叶艾纳香分布在哪些地区？", hits)
    order = [(c.sentence, c.score) for c in cands]
    assert order[0][0].startswith("狭叶种") and order[1][1] > order[0][1] - 0.1  # close enough to be overtaken
    corroborate(cands, analysis)
    assert [(c.sentence, c.score) for c in cands] == order
