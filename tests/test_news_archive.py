"""News-archive behaviour: datelines become metadata, reprints group into stories, answers name their subject.

Unit tests of :mod:`rag.text.dateline`, :mod:`ingest.near_duplicates` and :mod:`rag.text.question`, and one
integration test through a real ingest (packaged model, real Chroma store) of a small archive written here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ingest.near_duplicates import (
    NUMBER_PERM,
    TEXT_THRESHOLD,
    StoryAssigner,
    StorySignature,
    same_story,
    signature,
)
from rag.evaluation import QAItem, half
from rag.text.dateline import lead_outlet, parse_dateline, split_headline, strip_lead
from rag.text.normalize import normalize
from rag.text.question import (
    QuestionType,
    answer_value,
    names_in,
    question_names,
    question_type,
    wanted_unit,
)
from tests.conftest import SAMPLE_ARTICLES, make_settings

# A report written for these tests (invented parties and places), shaped like a wire story: a claim, a denial,
# "报道称", a ministry's statement with a date and a count.
REPORT = (
    "东岛海军无人艇对位于石湾港的西岛南方舰队基地发动夜袭，东岛称这次行动击伤了西岛一艘补给舰，"
    "而西岛表示夜袭没有造成任何人员伤亡。报道称，那艘补给舰受损较重，短期内不能出海。"
    "西岛国防部6日通报，当天凌晨东岛出动3艘无人舰艇试图靠近石湾港的海军基地，均被岸防火力击沉。"
)


# --- datelines -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "published", "clock", "publication"),
    [
        ("2023-08-16 17:27，正文：8月16日，某地召开会议。", "2023-08-16", "17:27", None),
        ("来源：中国新闻网 | 2023年07月11日 09:15:42，正文：中新网南京7月11日电 (记者 李明)记者11日获悉。",
         "2023-07-11", "09:15:42", "中国新闻网"),
        ("发布时间：2023-07-19 16:05:13，正文：【环球网报道】综合多家外媒报道，事件发生。", "2023-07-19", "16:05:13", "环球网"),
        ("7-12 08:31，正文：中新社上海7月12日电 综合消息：某方宣布。", None, "08:31", "中新社"),
        ("23-07-18 06:12，正文：沈阳日报讯(记者 王丽)7月17日，工作室挂牌。", "2023-07-18", "06:12", "沈阳日报"),
    ],
)
def test_dateline_header_becomes_metadata(text: str, published: str | None, clock: str, publication: str) -> None:
    dateline = parse_dateline(text)
    assert dateline.published == published
    assert dateline.time == clock
    assert dateline.publication == publication
    assert "正文" not in dateline.body[:5]
    assert not dateline.body.startswith(("2023", "来源", "发布", "7-12", "23-"))


def test_text_without_header_is_returned_whole() -> None:
    page = "本报讯（记者 王尧）12月29日上午，郏县召开会议。\n会议强调，要抓好落实。"
    dateline = parse_dateline(page)
    assert dateline.body == page
    assert (dateline.published, dateline.publication, dateline.title) == (None, None, None)


def test_a_sentence_with_a_date_is_not_a_header() -> None:
    text = "2023年上半年，某省风电装机达到3150万千瓦，光伏装机为2600万千瓦，两项合计占全省装机的48%，创历史新高。"
    assert parse_dateline(text).body == text


@pytest.mark.parametrize(
    ("body", "title", "rest_starts"),
    [
        ("原标题：年营收达3亿元，青禾科技完成B轮融资近日，杭州青禾科技有限公司宣布完成融资。",
         "年营收达3亿元，青禾科技完成B轮融资", "近日"),
        ("原标题：临溪启动“邻里共建”项目建设临溪启动“邻里共建”项目建设 邻里守望，共建家园。",
         "临溪启动“邻里共建”项目建设", "邻里守望"),
        ("东岛称重创西岛补给舰，西岛发声据路透社7月9日报道，消息人士9日表示，无人艇发动夜袭。",
         "东岛称重创西岛补给舰，西岛发声", "据路透社"),
        # The headline ends at layout padding, a source label or a byline, not at the first sentence end.
        ("原标题：某市暴雨持续，明天仍有强降雨                    某市报讯（记者张三）受台风影响，全市出现暴雨。",
         "某市暴雨持续，明天仍有强降雨", "某市报讯"),
        ("原标题：夜市免费提供晚餐来源：某某都市报 自活动开展以来，夜市每晚都有演出。", "夜市免费提供晚餐", "来源："),
        ("原标题：这些路段将临时封闭作者：交警来源：某某视窗7月6日，交警支队发布通告。", "这些路段将临时封闭", "作者："),
        ("原标题：公园有了“儿童乐园”文/某报记者 李四 图/通讯员提供6月18日，公园开放。", "公园有了“儿童乐园”", "文/"),
        # A lead or a second dateline left at the headline's end is dropped from it.
        ("原标题：新区公益园开园某某在线8月3日讯（文/图 记者 王五）孵化56家社会组织。", "新区公益园开园", "（文/图"),
        # A byline run into the headline ends it: a known outlet's reporter, a short outlet's 讯, 本报, 【…报道】.
        ("原标题：某社区开展口腔科普活动极目新闻记者 张三通讯员 李四近日，社区开展活动。", "某社区开展口腔科普活动", "极目新闻记者"),
        ("原标题：某公司股权将挂牌转让上证报中国证券网讯（记者 王五）某公司发布公告。", "某公司股权将挂牌转让", "中国证券网讯"),
        ("原标题：某企业登陆H股 布局再提速中证网讯（记者 赵六）某企业发布公告。", "某企业登陆H股 布局再提速", "中证网讯"),
        ("原标题：某地捐款支援防汛本报某地8月10日电 (记者 钱七)近日，各界捐款。", "某地捐款支援防汛", "本报某地"),
        ("原标题：某国宣布采购直升机【环球网报道 记者 孙八】据报道，某国将采购。", "某国宣布采购直升机", "【环球网报道"),
        ("原标题：布局低空经济 抢占新赛道本报讯（记者 周九）订单很多。", "布局低空经济 抢占新赛道", "本报讯"),
        ("原标题：某法院便民服务开通啦！正义之声网讯 近日，为方便群众办事，某法院开通服务。", "某法院便民服务开通啦！", "正义之声网讯"),
        ("原标题：某市志愿者获赠意外伤害险某某日报客户端 | 记者 吴十 7月27日下午，某市举行仪式。",
         "某市志愿者获赠意外伤害险", "记者"),
        ("原标题：某地奋战在抢险一线，同心协力7月30日电（记者 郑一）近期，某地受台风影响。", "某地奋战在抢险一线，同心协力",
         "（记者"),
        ("原标题：某厂在某地建厂：建6000个岗位2023-08-01 20:08:01                    据报道，某厂将建厂。",
         "某厂在某地建厂：建6000个岗位", "据报道"),
    ],
)
def test_headline_run_into_the_text_is_split_off(body: str, title: str, rest_starts: str) -> None:
    found, rest = split_headline(body)
    assert found == title
    assert rest.startswith(rest_starts)


@pytest.mark.parametrize(
    "body",
    ["智利即将上任的财政部长罗萨莱斯7月12日表示，两国正在制定一项计划。", "极目新闻记者 陈晨7月15日凌晨，某地一仓库突发火灾。"],
)
def test_subject_or_byline_before_a_date_is_no_headline(body: str) -> None:
    assert split_headline(body) == (None, body)


def test_leads_name_the_outlet_and_are_kept_out_of_answers() -> None:
    assert lead_outlet("中新网南京7月11日电 (记者 李明)记者11日获悉") == "中新网"
    assert lead_outlet("IT之家 7 月 3 日消息，某品牌发布键盘") == "IT之家"
    assert lead_outlet("本报讯 记者获悉") is None
    # 据…报道/消息 attributes a source; it is not the outlet that printed the report, nor the start of a name.
    assert lead_outlet("据央视新闻客户端消息，北京市召开发布会") is None
    assert strip_lead("他表示据路透社8月4日报道的数字有误。") == "他表示据路透社8月4日报道的数字有误。"
    assert strip_lead("人民网北京7月21日电 (记者王芳)据中国铁路消息，列车出发。") == "据中国铁路消息，列车出发。"
    assert strip_lead("，正文：省农业农村厅日前召开全体会议。") == "省农业农村厅日前召开全体会议。"
    # A sub-headline run into the sentence after it (the example), and sentences that only look like one.
    assert strip_lead("东岛称重创西岛补给舰，西岛发声据路透社7月9日报道，消息人士9日表示。") == "据路透社7月9日报道，消息人士9日表示。"
    for kept in ("当地时间8日，据路透社7月8日报道，消息人士表示。", "此前西岛国防部通报称，6日凌晨，东岛方面企图袭击。"):
        assert strip_lead(kept) == kept
    # A photo caption scraped into the text, up to its credit; a caption without one stays (nothing to cut at).
    assert strip_lead("▲西岛海军补给舰“远航”号（美联社）石湾港所在州的行政长官称，舰上无人伤亡。") == "石湾港所在州的行政长官称，舰上无人伤亡。"
    assert strip_lead("△现场画面 图源：央视新闻客户端救援现场的视频显示，救援人员正在转移群众。") == "救援现场的视频显示，救援人员正在转移群众。"
    assert strip_lead("▲2021年5月6日，运输船队在石湾港卸载救灾物资。") == "▲2021年5月6日，运输船队在石湾港卸载救灾物资。"


# --- near duplicates ------------------------------------------------------------------------------------------------
def test_reprints_are_one_story_and_template_reports_are_not() -> None:
    reprint = "参考消息网7月7日报道 " + REPORT.replace("报道称", "另据报道")
    a, b = signature(normalize(REPORT)), signature(normalize(reprint))
    assert same_story(a, b)
    quote = "截至2023年7月12日收盘，青禾股份报收于4.27元，上涨2.15%，换手率1.36%，成交量18.42万手，主力资金净流出215万元。"
    other_day = "截至2023年6月28日收盘，青禾股份报收于5.81元，上涨9.98%，换手率19.74%，成交量96.35万手，主力资金净流出87万元。"
    assert not same_story(signature(normalize(quote)), signature(normalize(other_day)))
    assert not same_story(a, signature(normalize(quote)))


def test_signature_round_trips_and_band_keys_are_stable() -> None:
    sig = signature(normalize(REPORT))
    back = StorySignature.decode(sig.encode())
    assert (back.text == sig.text).all() and back.number_set is not None and (back.number_set == sig.number_set).all()
    assert back.band_keys() == sig.band_keys() and all(0 <= k < 2**63 for k in sig.band_keys())
    with pytest.raises(ValueError):
        StorySignature.decode("AAAA")


def test_assigner_joins_stored_and_same_batch_copies() -> None:
    stored = signature(normalize(REPORT))
    calls: list[list[list[int]]] = []

    def lookup(keys: list[list[int]]) -> list[tuple[str, str, str]]:
        calls.append(keys)
        return [("old", "story-old", stored.encode())]

    fresh = "这是一篇完全不同的报道，讲的是某市图书馆暑期举办少儿阅读活动，共有三百名小读者参加。" * 2
    assigner = StoryAssigner(lookup)
    got = assigner.assign([("copy", signature(normalize("据路透社报道，" + REPORT))), ("new", signature(normalize(fresh))),
                           ("new-copy", signature(normalize(fresh + "本报记者")))])
    assert got == {"copy": "story-old", "new": "new", "new-copy": "new"}
    assert len(calls) == 1 and len(calls[0]) == 20


# --- question slots ---------------------------------------------------------------------------------------------------
def test_question_names_units_and_values() -> None:
    assert question_names(normalize("王小明被任命为什么职务？")) == ("王小明",)
    assert question_type(normalize("王小明被任命为什么职务？")) is QuestionType.PERSON
    assert wanted_unit(normalize("全省有多少家企业入选？")) == "家"
    assert wanted_unit(normalize("光伏电站的总容量为多少万千瓦？")) == "万千瓦"
    assert answer_value(QuestionType.NUMBER, "万千瓦", "光伏电站总容量达到320万千瓦") == "320万千瓦"
    assert answer_value(QuestionType.NUMBER, "家", "有30余家企业参加") == "30余家"
    assert answer_value(QuestionType.NUMBER, "家", "有30名代表参加") is None
    assert answer_value(QuestionType.NUMBER, "家", "共有85家企业入选") == "85家"
    assert answer_value(QuestionType.DATE, None, "9月3日开始试运行") == "9月3日"


def test_names_of_equal_length_come_in_the_questions_order() -> None:
    # A set's order would change with PYTHONHASHSEED; the analysis must not.
    assert question_names(normalize("《春晓》和《登高》哪首诗更早？")) == ("春晓", "登高")
    assert question_names(normalize("《登高》和《春晓》哪首诗更早？")) == ("登高", "春晓")


def test_a_name_is_found_whole_or_glued_to_the_next_character() -> None:
    assert names_in("王小明", "省政协主席王小明会见了考察团")
    assert not names_in("王小明", "副组长李刚参加了救援")
    assert names_in("王小明被", "主席王小明会见")
    assert not names_in("张小明", "主席王小明会见")


def test_halves_split_by_gold_source_and_cover_the_set() -> None:
    items = [QAItem(q=f"问题{i}", a=["x"], src=[f"f{i % 20}.txt"]) for i in range(40)]
    zero, one = half(items, 0), half(items, 1)
    assert len(zero) + len(one) == 40 and zero and one
    assert not {tuple(i.src) for i in zero} & {tuple(i.src) for i in one}


# --- through a real ingest ----------------------------------------------------------------------------------------------
def test_archive_ingest_answers_once_per_story_with_date_and_copies(
    tmp_path: Path, packaged_model_path: str, packaged_embedder  # noqa: ANN001
) -> None:
    from bot.service import build_service

    articles = tmp_path / "articles"
    shutil.copytree(SAMPLE_ARTICLES, articles)  # the sample pages give the archive realistic word statistics
    (articles / "a.txt").write_text("来源：中国新闻网 | 2023年07月07日 19:32:05，正文：" + REPORT, "utf-8")
    (articles / "b.txt").write_text("2023-07-08 09:10，正文：参考消息网7月7日报道 " + REPORT, "utf-8")
    (articles / "c.txt").write_text(
        "2023-08-06，正文：原标题：图书馆暑期活动丰富近日，某市图书馆举办少儿阅读活动，共有300名小读者参加。", "utf-8")
    service = build_service(make_settings(tmp_path, packaged_model_path), embedder=packaged_embedder)
    assert service.ingest().files_failed == 0
    answer = service.ask("东岛海军无人艇对哪个港口的舰队基地发动了夜袭？")
    assert answer.found and "石湾港" in answer.answer
    assert len({c.story_id for c in answer.citations}) == len(answer.citations)
    first = answer.citations[0]
    assert first.published in ("2023-07-07", "2023-07-08")
    assert {first.source, *(c.source for c in first.also)} == {"a.txt", "b.txt"}
    assert not first.title.startswith(("2023", "来源"))
    hits = service.search("石湾港 海军基地 夜袭", top_k=5)
    assert len([h for h in hits if h.source in ("a.txt", "b.txt")]) == len({h.article_id for h in hits
                                                                           if h.source in ("a.txt", "b.txt")})
    library = service.search("图书馆 少儿阅读", top_k=1)[0]
    assert library.title == "图书馆暑期活动丰富" and library.published == "2023-08-06"
    service.close()


def test_a_trimmed_reprint_is_one_story_and_legacy_signatures_still_compare() -> None:
    intro = ("截至7月10日，已有3000多万观众在影院看过这部科幻电影，但你可能没想到观众里还有科学家。"
             "南海沿岸近来局势紧张，多方媒体持续关注港口与航道安全，当地居民表示夜间常听到爆炸声，"
             "专家分析认为冲突外溢风险正在上升，航运公司纷纷调整航线并提高保险费率。")
    longer, shorter = signature(normalize(intro + REPORT)), signature(normalize(REPORT))
    assert float(np.mean(longer.text == shorter.text)) < TEXT_THRESHOLD  # below the Jaccard rule ...
    assert same_story(longer, shorter)  # ... yet the shorter lies inside the longer
    quote = "截至2023年7月12日收盘，青禾股份报收于4.27元，上涨2.15%，换手率1.36%，成交量18.42万手，主力资金净流出215万元。"
    assert not same_story(signature(normalize(quote + REPORT)), shorter)  # the other numbers outweigh
    legacy = StorySignature(shorter.text, np.arange(NUMBER_PERM, dtype=np.uint32))
    back = StorySignature.decode(legacy.encode())
    assert back.number_set is None and back.numbers is not None and same_story(back, back)
    assert not same_story(back, shorter)  # different formats never join
    assert StorySignature.decode(shorter.encode()).shingles == shorter.shingles
