"""Sentence selection inside retrieved articles: cloze anchors around the interrogative, jieba fragments and
property nouns in the question's word weights, and the names a question is about."""

from __future__ import annotations

from llama_index.core.schema import NodeWithScore, TextNode

from rag.answering.cloze import anchor_score, slot_anchors
from rag.answering.evidence import FRAGMENT_WEIGHT, QuestionAnalysis
from rag.answering.extractive import ExtractiveAnswerer
from rag.answering.slots import Entity, question_entities, supported
from rag.text.normalize import normalize


def _idf(term: str) -> float:
    return 3.0 + 0.1 * len(term)  # every word of these tests is about as rare as the others


def test_anchors_are_the_clause_around_the_interrogative() -> None:
    anchors = slot_anchors(normalize("美国债务上限危机阻碍了什么的正常运行？"))
    assert [(a.left, a.right) for a in anchors] == [("限危机阻碍", "正常运行")]
    assert slot_anchors(normalize("中国有多少家公司上榜？"))[0].right == "家公司上榜"
    assert slot_anchors(normalize("你好。")) == ()


def test_the_sentence_continuing_the_question_scores_over_one_sharing_its_words() -> None:
    anchors = slot_anchors(normalize("中国有多少家公司上榜2023年的世界500强排行榜？"))
    right = anchor_score(anchors, normalize("今年，中国共有142家公司上榜，数量继续位居各国之首。"))
    wrong = anchor_score(anchors, normalize("此次排行榜一共有39家新上榜和重新上榜公司，其中有7家中国公司。"))
    assert right == 1.0 and wrong <= 0.34  # only 中国, before the interrogative
    assert anchor_score(slot_anchors(normalize("美国债务上限危机阻碍了什么的正常运行？")),
                        normalize("“美元霸权阻碍了全球金融市场的正常运行。”")) == 1.0


def test_anchors_out_of_order_count_once() -> None:
    anchors = slot_anchors(normalize("危机阻碍了什么的正常运行？"))
    apart = anchor_score(anchors, normalize("系统的正常运行很重要，但危机阻碍了它。"))
    together = anchor_score(anchors, normalize("危机阻碍了市场的正常运行。"))
    assert 0 < apart < together


def test_fragments_and_property_nouns_weigh_less() -> None:
    analysis = QuestionAnalysis("对哪种无人机发射了热诱弹？", _idf)
    assert analysis.weights["无人机"] == _idf("无人机")
    for fragment in ("无人", "人机"):
        if fragment in analysis.weights:
            assert analysis.weights[fragment] == FRAGMENT_WEIGHT * _idf(fragment)
    trait = QuestionAnalysis("黄蝉的叶子有什么特点？", _idf)
    assert trait.weights["特点"] == FRAGMENT_WEIGHT * _idf("特点") and trait.weights["叶子"] == _idf("叶子")


def test_question_names_without_slot_words_or_glued_particles() -> None:
    names = [e.text for e in question_entities(normalize("鲁齐巴齐水电站位于哪个省？"))]
    assert "哪个省" not in names
    assert "长度" not in [e.text for e in question_entities(normalize("非洲的猴面包树果实的长度约是多少厘米？"))]
    assert supported(Entity("李丰被"), "主席李丰会见了考察团")  # the guess swallowed 被
    assert not supported(Entity("张进伟"), "镇党委书记王进伟主持会议")  # another person with the same given name
    assert supported(Entity("台湾地区", place=True), "目前由爱贝克思在台湾代理")
    assert not supported(Entity("台湾地区"), "目前由爱贝克思在香港代理")


def test_answer_is_the_sentence_that_continues_the_question() -> None:
    text = ("中新网8月11日电，新修订的《山西省科学技术奖励办法》近日正式印发实施，记者从新闻发布会上获悉。"
            "专家表示，美元霸权阻碍了全球金融市场的正常运行。"
            "美国债务上限危机反复上演，暴露美元霸权本质，美国债务问题不断。")
    node = TextNode(text=text, id_="c1", metadata={"title": "美国债务上限危机", "source": "a.txt"})
    answer = ExtractiveAnswerer(_idf).answer("美国债务上限危机阻碍了什么的正常运行？", [NodeWithScore(node=node, score=1.0)])
    assert answer.found and answer.answer.startswith("专家表示，美元霸权阻碍了全球金融市场的正常运行")


def test_a_date_answer_gives_the_full_date_from_the_printing() -> None:
    text = "记者16日从集团获悉，当日，引江济淮工程航道江淮沟通段开始试运行。淮河侧为上游，巢湖侧为下游。"
    node = TextNode(text=text, id_="c1", metadata={"title": "江淮沟通段试运行", "source": "a.txt",
                                                 "published": "2023-08-16"})
    answer = ExtractiveAnswerer(_idf).answer("引江济淮工程航道江淮沟通段的试运行开始于哪一天？",
                                             [NodeWithScore(node=node, score=1.0)])
    assert answer.found and "16日（2023年8月16日）" in answer.answer
    undated = TextNode(text=text, id_="c2", metadata={"title": "江淮沟通段试运行", "source": "b.txt"})
    plain = ExtractiveAnswerer(_idf).answer("引江济淮工程航道江淮沟通段的试运行开始于哪一天？",
                                            [NodeWithScore(node=undated, score=1.0)])
    assert plain.found and "（" not in plain.answer


def _hit(text: str, title: str, source: str, score: float = 1.0) -> NodeWithScore:
    return NodeWithScore(node=TextNode(text=text, id_=source, metadata={"title": title, "source": source}), score=score)


def test_a_report_about_the_questions_topic_answers_before_a_closer_worded_one() -> None:
    other = _hit("王毅表示，中日两国应坚持和平友好原则，为两国交往确立方向。", "王毅会见日本外相", "jp.txt", 1.0)
    topical = _hit("郑泽光说，中英经贸合作前景广阔。会上，双方表示坚持互利共赢原则，不断开拓合作新领域。", "中英两国企业论坛在利兹举行",
                   "uk.txt", 0.9)
    answer = ExtractiveAnswerer(_idf).answer("中英两国应坚持什么原则？", [other, topical])
    assert answer.found and answer.citations[0].source == "uk.txt" and "互利共赢" in answer.answer


def test_an_organisation_answer_brings_the_sentence_naming_the_organisation() -> None:
    text = ("近日，公安部交通管理局部署各地优化车辆登记程序。简化新车注册登记手续。"
            "在前期基础上，进一步扩大预查验试点，在36个城市实行新车出厂提前查验。")
    answer = ExtractiveAnswerer(_idf).answer("哪个机构扩大了预查验试点？", [_hit(text, "车辆登记新措施", "a.txt")])
    assert answer.found and "公安部交通管理局" in answer.answer and "扩大预查验试点" in answer.answer


def test_what_it_looks_like_and_names_asked_for_are_question_words() -> None:
    flower = QuestionAnalysis("黄蝉的花是什么样子？", _idf)
    assert "花子" not in flower.weights and "样子" not in flower.weights
    assert "英文名" not in [e.text for e in question_entities(normalize("西贡商业信用银行的英文名是什么？"))]
    agent = QuestionAnalysis("此品牌的台湾地区代理人是谁？", _idf)
    assert agent.missing_unknown_name(normalize("目前由爱贝克思在台湾代理。"), lambda w: False) is None


def test_a_sentence_leaving_out_the_topic_its_passage_names_is_judged_with_it() -> None:
    text = ("冷湖行政区是中国青海省海西蒙古族藏族自治州下辖的一个县级行政区。"
            "以矿业为支柱，其中尤以石油开采为重要，另外还有芒硝、食盐等。")
    node = TextNode(text=text, id_="c1", metadata={"title": "冷湖行政区", "source": "a.txt",
                                                 "lead": "冷湖行政区是中国青海省海西蒙古族藏族自治州下辖的一个县级行政区。"})
    analysis = QuestionAnalysis("冷湖行政区的经济主要是由什么支撑的？", _idf)
    pillar = next(c for c in analysis.candidates(NodeWithScore(node=node, score=1.0), 0) if "矿业" in c.sentence)
    assert pillar.coverage > analysis.coverage(pillar.norm)


def test_which_one_is_answered_by_a_name_not_a_determiner() -> None:
    from rag.answering.cloze import anchor_score, slot_anchors

    anchors = slot_anchors("被攻击的是哪个海军基地？")
    named = anchor_score(anchors, "乌克兰海军无人艇对位于新罗西斯克的俄罗斯黑海海军基地发动夜袭。")
    unnamed = anchor_score(anchors, "乌克兰方面企图袭击俄黑海沿岸城市新罗西斯克的一处海军基地。")
    assert named > unnamed == 0.0
    # A count's unit after a figure is not a determiner: 多少家公司 keeps its anchor.
    assert anchor_score(slot_anchors("中国有多少家公司上榜？"), "中国有142家公司上榜。") > 0


def test_a_sentence_lead_earns_no_coverage() -> None:
    """The outlet and place of a lead (某某证券网讯, 中新网北京…电) are metadata: they do not make the sentence after
    them answer a question that shares those words."""
    node = TextNode(text="中新网北京7月24日电 (记者 张三)本次拍卖标的评估价8940万元。他估价，这件长袍在北京价值20万英镑。",
                    metadata={"title": "拍卖会"})
    analysis = QuestionAnalysis("北京长袍的估价是多少？", _idf)
    lead, plain = analysis.candidates(NodeWithScore(node=node, score=1.0), 0)
    assert "中新网" in lead.sentence and "北京" not in lead.norm  # the answer keeps the text, scoring skips the lead
    assert plain.coverage > lead.coverage


def test_a_short_answer_is_not_completed_with_the_sign_off() -> None:
    node = TextNode(text="平台7月30日上线试运行。该平台由某某交通投资集团有限公司开发建设。(完) 【编辑:张三】 更多精彩内容请进入财经频道",
                    metadata={"title": "平台上线"})
    hit = NodeWithScore(node=node, score=1.0)
    answer = ExtractiveAnswerer(_idf).answer("该平台由谁开发建设？", [hit])
    assert answer.found and "某某交通投资集团有限公司" in answer.answer
    # The editor's name would pass for the person asked about: the sign-off is no candidate at all.
    assert all("编辑" not in c.sentence for c in QuestionAnalysis("谁编辑了该平台的报道？", _idf).candidates(hit, 0))
    assert "编辑" not in answer.answer and "更多精彩" not in answer.answer


def test_a_long_answer_sentence_makes_room_for_the_name_and_a_later_passage_uses_the_lead() -> None:
    long_tail = ("，在36个城市33家生产企业实行新车出厂提前查验车辆，群众上牌免交验车辆，减少群众办事排队等候时间，"
                 "适应互联网线上售车等汽车销售新模式，更好促进汽车消费，便利群众企业办事，促进汽车消费流通，更好地服务保障高质量发展")
    text = "今天，公安部交管局部署各地细化措施、优化流程。简化新车注册登记手续。在前期基础上，进一步扩大预查验试点" + long_tail + "。"
    answer = ExtractiveAnswerer(_idf).answer("哪个机构扩大了预查验试点？", [_hit(text, "车辆登记新措施", "a.txt")])
    assert answer.found and "公安部交管局" in answer.answer and "扩大预查验试点" in answer.answer
    assert len(answer.answer.replace("[1]", "")) <= 150 + len("…")
    # The passage is the article's second: the naming sentence is not in it, the report's lead is.
    later = "在前期基础上，进一步扩大预查验试点" + long_tail + "。便利办理二手车转让登记。"
    node = TextNode(text=later, id_="b.txt", metadata={
        "title": "车辆登记新措施", "source": "b.txt", "chunk_index": 1,
        "lead": "记者从公安部交通管理局获悉，公安部近日推出若干措施。"})
    answer = ExtractiveAnswerer(_idf).answer("哪个机构扩大了预查验试点？", [NodeWithScore(node=node, score=1.0)])
    assert answer.found and answer.answer.startswith("记者从公安部交通管理局获悉") and "扩大预查验试点" in answer.answer


def test_the_sentence_of_the_date_the_question_names_answers_it() -> None:
    text = ("1963年12月至1967年4月为陆军战士。1967年4月至1969年9月任陆军排长。1990年6月至1993年4月任北京军区副参谋长。"
            "1993年4月至1996年2月任武警部队参谋长、武警部队党委委员。1996年2月至4月任武警部队副司令员兼参谋长（正军职）、"
            "武警部队党委委员。1996年4月至1999年12月任武警部队副司令员兼参谋长、武警部队党委委员。"
            "1999年12月至2009年12月任武警部队司令员、武警部队党委副书记。")
    answer = ExtractiveAnswerer(_idf).answer("1996年2月至4月，吴双战担任什么职务？", [_hit(text, "吴双战", "a.txt")])
    assert answer.found and "1996年2月至4月任武警部队副司令员兼参谋长" in answer.answer
    assert "1999年12月至2009年12月" not in answer.answer  # the post held later, with a 书记 in it


def test_posts_of_every_kind_answer_a_post_question() -> None:
    from rag.answering.question import QuestionType, _type_score

    for sentence in ("万历二十年进士及第，授九江推官，后任西华知县。", "他担任了外交部国务秘书和政务司司长。", "1996年任武警部队副司令员兼参谋长。"):
        assert _type_score(QuestionType.PERSON, normalize(sentence), use_pos=False) == 1.0
    assert _type_score(QuestionType.PERSON, normalize("委员会于1990年成立。"), use_pos=False) == 0.0


def test_a_sentence_opening_on_this_background_brings_the_one_before() -> None:
    text = ("1791年，助理财政部长威廉·杜尔投机案发生，许多纽约市民遭到财产损失。"
            "在此背景下，各家经纪商决定通过协商的方式制定公共管理条例，实现金融市场的自我规范。")
    answer = ExtractiveAnswerer(_idf).answer("决定协商制定公共管理条例的背景是什么？", [_hit(text, "纽约证券交易所", "a.txt")])
    assert answer.found and answer.answer.startswith("1791年，助理财政部长威廉·杜尔投机案发生")


def test_a_paraphrase_of_a_question_word_counts_almost_as_the_word() -> None:
    analysis = QuestionAnalysis("林永康有几个孩子？", _idf)
    paraphrase = analysis.coverage(normalize("林永康已婚，育有3名子女。"))
    unrelated = analysis.coverage(normalize("林永康于1996年加入公署。"))
    verbatim = analysis.coverage(normalize("林永康有3个孩子。"))
    assert unrelated < paraphrase < verbatim
    text = ("魏玩，字玉汝，北宋襄阳邓城人，著名女词人，人称魏夫人。自幼博览群书，以诗词见长。"
            "魏氏著有《魏夫人集》，词作多写闺情及吟咏景物。")
    answer = ExtractiveAnswerer(_idf).answer("魏玩的著作有哪些？", [_hit(text, "魏玩", "a.txt")])
    assert answer.found and "著有《魏夫人集》" in answer.answer


def test_a_colour_or_shape_question_is_answered_by_the_sentence_describing_one() -> None:
    cases = [
        ("蓝线裸顶鲷的身体是什么颜色的？", "蓝线裸顶鲷，又称蓝线白鲷，为辐鳍鱼纲鲈形目龙占鱼科的其中一个种。本鱼体呈银灰色，有若干不规则污斑。",
         "本鱼体呈银灰色"),
        ("纽西兰鸡毛松的树叶是什么形状的？", "纽西兰鸡毛松是罗汉松科鸡毛松属的一种，纽西兰的特有种。其叶螺旋状排列，幼树的叶呈尖锥状。",
         "其叶螺旋状排列"),
        ("牛佬的职业是什么？", "牛佬重视培育人材，曾成立「牛家班」。牛佬，香港漫画家，原名文启明，1961年出生。", "牛佬，香港漫画家"),
    ]
    for question, text, answer in cases:
        title = question.split("的")[0]
        candidates = QuestionAnalysis(question, _idf).candidates(_hit(text, title, "a.txt"), 0)
        assert max(candidates, key=lambda c: c.score).sentence.startswith(answer)


def test_a_question_opening_on_a_pronoun_is_answered_by_a_sentence_about_her() -> None:
    from rag.answering.question import subject_pronoun

    assert subject_pronoun(normalize("她在哪个地区的军事基地的商店工作？")) == "她"
    assert subject_pronoun(normalize("杨丽音和她的丈夫是如何认识的？")) is None
    assert subject_pronoun(normalize("他国的军队在哪里驻扎？")) is None
    text = ("袭击发生在新罗西斯克军事基地附近，当地官员称无人伤亡。"
            "据调查，她是尼古拉耶夫地区奥恰科夫的居民，曾是一家军用品商店的售货员。")
    candidates = QuestionAnalysis("她在哪个地区的军事基地的商店工作？", _idf).candidates(_hit(text, "", "a.txt"), 0)
    assert max(candidates, key=lambda c: c.score).sentence.startswith("据调查，她是")


def test_a_sum_in_a_foreign_currency_is_a_number_with_its_unit() -> None:
    from rag.answering.question import QuestionType, _type_score

    for sentence in ("他估价，这件龙袍价值高达20万英镑。", "该公司获得3亿美元融资。", "票价为120港元。"):
        assert _type_score(QuestionType.NUMBER, normalize(sentence), use_pos=False) == 1.0
    assert _type_score(QuestionType.NUMBER, normalize("该书共有20章。"), use_pos=False) < 1.0
    text = "节目中，鉴定专家为一件清代龙袍估价。他估价，这件龙袍价值高达20万英镑。另一件藏品的评估价为8940万。"
    candidates = QuestionAnalysis("这件龙袍的估价是多少？", _idf).candidates(_hit(text, "", "a.txt"), 0)
    assert max(candidates, key=lambda c: c.score).sentence.startswith("他估价")
