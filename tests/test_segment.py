"""Tests for ingest.segment.segment_articles on synthetic pages, a real page excerpt and the sample pages."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.clean import clean_page, heading_text
from ingest.loaders import load_text
from ingest.segment import ArticleSegment, segment_articles

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "articles"


def _pairs(page: str) -> list[tuple[str, str]]:
    return [(a.title, a.text) for a in segment_articles(page)]


def test_article_segment_is_frozen_with_positions() -> None:
    articles = segment_articles("标题一\n本报讯(记者甲)正文一。\n标题二\n本报讯(记者乙)正文二。")
    assert [a.position for a in articles] == [0, 1]
    assert articles[0] == ArticleSegment(title="标题一", text="本报讯(记者甲)正文一。", position=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        articles[0].title = "x"  # type: ignore[misc]


def test_leads_open_articles_and_take_the_headline_block_above() -> None:
    page = "\n".join(
        [
            "让科技创新成为最强发展引擎",
            "示范区党工委会议召开",
            "本报讯(记者张亚丹)12月29日上午,示范区召开会议。",
            "会议强调,要抓好创新驱动。",
            "乡村纪行",
            "示范区启动主题党团队日活动",
            "为170名困难青少年送上暖冬物品",
            "本报讯(记者张亚丹)12月26日,示范区启动活动。",
            "示范区巡察办:",
            "强化巡中指导 力促巡察提质增效",
            "本报讯(记者张亚丹)近日,巡察办开展督导。",
        ]
    )
    assert _pairs(page) == [
        (
            "让科技创新成为最强发展引擎 示范区党工委会议召开",
            "本报讯(记者张亚丹)12月29日上午,示范区召开会议。\n会议强调,要抓好创新驱动。",
        ),
        (
            "乡村纪行 示范区启动主题党团队日活动 为170名困难青少年送上暖冬物品",
            "本报讯(记者张亚丹)12月26日,示范区启动活动。",
        ),
        ("示范区巡察办:强化巡中指导 力促巡察提质增效", "本报讯(记者张亚丹)近日,巡察办开展督导。"),
    ]


def test_markdown_headings_open_articles_and_bulleted_ones_are_subheadings() -> None:
    page = "\n".join(
        [
            "## 郟县工信局",
            "## 党建引领谱华章 砥砺奋进创佳绩",
            "## ● 抓科技,创新驱动助发展",
            "该局以实施创新驱动发展战略为主线。",
            "(本报记者 张鸿雨 通讯员 刘士钰)",
            "## ● 抓党建,引领全局促发展",
            "树立党员形象,提升作风素质。",
            "## 黄道镇",
            "## 奋力奏响乡村振兴协奏曲",
            "近年来,黄道镇坚持党建引领。",
        ]
    )
    assert _pairs(page) == [
        (
            "郟县工信局 党建引领谱华章 砥砺奋进创佳绩",
            "● 抓科技,创新驱动助发展\n该局以实施创新驱动发展战略为主线。\n(本报记者 张鸿雨 通讯员 刘士钰)\n"
            "● 抓党建,引领全局促发展\n树立党员形象,提升作风素质。",
        ),
        ("黄道镇 奋力奏响乡村振兴协奏曲", "近年来,黄道镇坚持党建引领。"),
    ]


def test_feature_keeps_its_subheadings_until_a_closing_byline() -> None:
    page = "\n".join(
        [
            "以科技创新作支撑 加快建设新兴科创名城",
            "——我市系列新闻发布会第五场实录",
            "本报记者 董柏生 赵政玲",
            "11月20日,系列新闻发布会第五场举行。",
            "开门问策问计于民 高质量编制规划",
            "张王成(市科技局副局长):规划初稿年底前完成。",
            "加大科研投入 助推企业高质量发展",
            "张玉荣(研究院院长):企业持续加大研发投入。",
            "(本报记者 董柏生)",
            "致读者",
            "本报2022年1月3日无报,1月4日恢复出版。",
            "本报编辑部",
        ]
    )
    assert _pairs(page) == [
        (
            "以科技创新作支撑 加快建设新兴科创名城——我市系列新闻发布会第五场实录",
            "本报记者 董柏生 赵政玲\n11月20日,系列新闻发布会第五场举行。\n开门问策问计于民 高质量编制规划\n"
            "张王成(市科技局副局长):规划初稿年底前完成。\n加大科研投入 助推企业高质量发展\n"
            "张玉荣(研究院院长):企业持续加大研发投入。\n(本报记者 董柏生)",
        ),
        ("致读者", "本报2022年1月3日无报,1月4日恢复出版。\n本报编辑部"),
    ]


def test_headline_followed_by_body_after_a_news_article_is_a_new_article() -> None:
    page = "\n".join(
        [
            "做实日常监督 提升工作质效",
            "本报讯(记者张亚丹)近日,纪工委开展督查。",
            "自主创新助力产业升级",
            "12月26日,技术人员在车间内调试开关室复合机器人。",
        ]
    )
    assert [title for title, _ in _pairs(page)] == ["做实日常监督 提升工作质效", "自主创新助力产业升级"]


def test_list_items_after_a_colon_stay_with_their_heading() -> None:
    page = "\n".join(
        [
            "光荣榜",
            "大会同时表彰了全国文明单位,焦作市获得表彰的有:",
            "第六届全国文明城市名单",
            "河南省焦作市",
            "第六届全国文明单位名单(3家)",
            "焦作市纪委监委 中共焦作市委宣传部",
            "政务要闻",
            "我市召开平安建设推进会",
            "本报讯(记者邓帆)昨日上午,推进会召开。",
        ]
    )
    assert _pairs(page) == [
        (
            "光荣榜",
            "大会同时表彰了全国文明单位,焦作市获得表彰的有:\n第六届全国文明城市名单\n河南省焦作市\n"
            "第六届全国文明单位名单(3家)\n焦作市纪委监委 中共焦作市委宣传部",
        ),
        ("政务要闻 我市召开平安建设推进会", "本报讯(记者邓帆)昨日上午,推进会召开。"),
    ]


def test_text_before_the_first_headline_gets_its_first_sentence_as_title() -> None:
    opening = "这是一段没有标题的开头文字,内容比较长而且超过了三十个字符,用来检查截断。第二句。"
    page = f"{opening}\n标题\n本报讯(记者甲)正文。"
    articles = segment_articles(page)
    assert [(a.title, a.text) for a in articles] == [
        ("这是一段没有标题的开头文字,内容比较长而且超过了三十个字符", opening),
        ("标题", "本报讯(记者甲)正文。"),
    ]
    assert len(articles[0].title) <= 30


def test_lead_without_headline_gets_a_title_from_its_first_sentence() -> None:
    assert _pairs("第一段结束。\n本报讯(记者甲)12月30日,市人大召开会议。会议强调落实。") == [
        ("第一段结束", "第一段结束。"),
        ("12月30日,市人大召开会议", "本报讯(记者甲)12月30日,市人大召开会议。会议强调落实。"),
    ]


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ("第一段。\n第二段。", [("第一段", "第一段。\n第二段。")]),
        (
            "会议通知\n全体人员明天上午开会。\n请准时参加。",
            [("会议通知", "全体人员明天上午开会。\n请准时参加。")],
        ),
        ("泡泡战士\n泡泡战士是韩国Nexon开发的游戏。", [("泡泡战士", "泡泡战士是韩国Nexon开发的游戏。")]),
        ("", []),
        ("\n \n", []),
    ],
)
def test_pages_without_headlines(page: str, expected: list[tuple[str, str]]) -> None:
    assert _pairs(page) == expected


def test_cmrc_style_file_through_clean() -> None:
    raw = (
        "玛丽娜·科斯塔\n\n玛丽娜·科斯塔（Marina Costa），一位虚构的葡萄牙职业排球运动员。她生于波尔图。\n"
    )
    assert _pairs(clean_page(raw)) == [
        ("玛丽娜·科斯塔", "玛丽娜·科斯塔（Marina Costa），一位虚构的葡萄牙职业排球运动员。她生于波尔图。")
    ]


def test_empty_article_gives_its_title_to_the_next_one() -> None:
    page = "## 专题报道\n政务要闻\n我市召开推进会\n本报讯(记者邓帆)昨日上午,推进会召开。"
    assert _pairs(page) == [("专题报道 政务要闻 我市召开推进会", "本报讯(记者邓帆)昨日上午,推进会召开。")]


def test_headline_shaped_last_line_stays_as_body() -> None:
    page = "## 黄道镇\n该村累计接待游客3000余人。\n(本报记者 张鸿雨 文/图)\n郟县红牛产业红红火火"
    assert _pairs(page) == [
        ("黄道镇", "该村累计接待游客3000余人。\n(本报记者 张鸿雨 文/图)\n郟县红牛产业红红火火")
    ]


def test_stray_headlines_above_a_headline_block_stay_in_the_previous_article() -> None:
    page = "\n".join(
        [
            "打造一流营商环境",
            "本报讯(记者高轶鹏)遵化店镇开展“五星”支部创建交流活动。",
            "找差距 补短板 学先进 促提升",
            "遵化店镇全面推进“五星”支部创建",
            "创新创业服务园区为企业成长搭台筑巢",
            "目前园区有国家级“专精特新”中小企业1家,省级6家",
            "本报讯(记者高轶鹏)日前,高新区创新创业服务园区企业入选“小巨人”名单。",
        ]
    )
    assert _pairs(page) == [
        (
            "打造一流营商环境",
            "本报讯(记者高轶鹏)遵化店镇开展“五星”支部创建交流活动。\n找差距 补短板 学先进 促提升\n遵化店镇全面推进“五星”支部创建",
        ),
        (
            "创新创业服务园区为企业成长搭台筑巢 目前园区有国家级“专精特新”中小企业1家,省级6家",
            "本报讯(记者高轶鹏)日前,高新区创新创业服务园区企业入选“小巨人”名单。",
        ),
    ]


# An excerpt of a real OCR'd page (003), raw: a photo story whose caption is cut into column lines,
# then a headline block and a lead.
RAW_EXCERPT = """

“宣传讲师”传播文明风尚。8月16日下午,该局志愿者组织开展了一场别开生面的生态文明建设主题宣讲会。



“爱心头盔”赠环卫工人

8月19日上午,高新区城市管理和综合执法局工作人员为50名

环卫工人送上安全头盔。连日来,该局

扎实组织开展“戴头盔、上牌照、创建文

坚持日常治理与改造提升同步

皇台街道持续推进创文工作走深走实

本报讯(记者高轶鹏 通讯员张嵩)8月20日上午,皇台街道党工委副书记张琳琳带队到辖区各创文迎检点位进行督导检查。

连日来,皇台街道立足工作实际,多措并举,抓住重点难点,坚持日常治理与改造提升同步,全员发

力,以分秒必争的精神、敢打必胜的决心扎实推进文明城市创建。
"""


def test_real_page_excerpt() -> None:
    assert _pairs(clean_page(RAW_EXCERPT)) == [
        (
            "“宣传讲师”传播文明风尚",
            "“宣传讲师”传播文明风尚。8月16日下午,该局志愿者组织开展了一场别开生面的生态文明建设主题宣讲会。",
        ),
        (
            "“爱心头盔”赠环卫工人",
            "8月19日上午,高新区城市管理和综合执法局工作人员为50名环卫工人送上安全头盔。连日来,该局扎实组织开展“戴头盔、上牌照、创建文",
        ),
        (
            "坚持日常治理与改造提升同步 皇台街道持续推进创文工作走深走实",
            "本报讯(记者高轶鹏 通讯员张嵩)8月20日上午,皇台街道党工委副书记张琳琳带队到辖区各创文迎检点位进行督导检查。\n"
            "连日来,皇台街道立足工作实际,多措并举,抓住重点难点,坚持日常治理与改造提升同步,全员发力,以分秒必争的精神、敢打必胜的决心扎实推进文明城市创建。",
        ),
    ]


def _assert_no_text_lost(page: str, articles: list[ArticleSegment]) -> None:
    """Body lines appear once, in page order; every other page line is part of some title."""
    lines = [heading_text(line.strip()) for line in page.split("\n") if line.strip()]
    body = [line for article in articles for line in article.text.split("\n") if line]
    cursor = 0
    for line in lines:
        if cursor < len(body) and body[cursor] == line:
            cursor += 1
        else:
            assert any(line in article.title for article in articles), f"lost line: {line!r}"
    assert cursor == len(body), f"body line not from the page: {body[cursor : cursor + 1]!r}"
    assert [a.position for a in articles] == list(range(len(articles)))


EXPECTED_SAMPLE_TITLES = {
    "000_a17aea0bf2d75ea6.txt": ["郟县工信局 党建引领谱华章 砥砺奋进创佳绩", "黄道镇 奋力奏响乡村振兴协奏曲"],
    "001_9560272fe25c5dcf.txt": [
        "让科技创新成为最强发展引擎和核心竞争力 示范区党工委(扩大)会议暨党工委理论学习中心组第七次集体学习会议召开",
        "打造创建“亮点” 破解治理“难点” 示范区推动文明城市创建提质增效",
        "3家企业入选全省第二批“专精特新”拟认定名单",
        "“烦心路”变“暖心路” 闫庄村“五星工坊”分享集体经济红利",
        "乡村纪行 示范区启动主题党团队日活动 为170名困难青少年送上暖冬物品",
        "示范区巡察办:强化巡中指导 力促巡察提质增效",
        "湖滨路街道纪工委:做实日常监督 提升工作质效",
        "自主创新助力产业升级",
    ],
    "002_2e775c1fab223d6b.txt": 5,
    "003_128db7e5df983d7c.txt": 8,
    "004_96820dbef81a5cc4.txt": [
        "奋进2021——年终特别报道 强县富民争出彩——我市高质量推动县域经济发展综述",
        "市人大常委会机关召开“能力作风建设年”活动动员部署会 李萍出席并讲话",
        "黄庚调在高新区督导安全生产和社会稳定工作时强调 认真排查安全隐患 坚决维护社会稳定",
        "党建引领物业行业不断提升 我市“红色物业”打造社区治理“金名片”",
        "国务院办公厅印发《实施方案》 加强信用信息共享应用 促进中小微企业融资",
        "致读者",
    ],
}


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="sample corpus not present")
@pytest.mark.parametrize("name", sorted(EXPECTED_SAMPLE_TITLES))
def test_sample_pages(name: str) -> None:
    page = clean_page(load_text(SAMPLES / name))
    articles = segment_articles(page)
    expected = EXPECTED_SAMPLE_TITLES[name]
    if isinstance(expected, int):
        assert len(articles) == expected
    else:
        assert [a.title for a in articles] == expected
    assert all(a.title and a.text for a in articles)
    _assert_no_text_lost(page, articles)


_HEADLINES = st.sampled_from(
    [
        "## 郏县工信局",
        "## ● 抓服务",
        "政务要闻",
        "强县富民争出彩",
        "——我市综述",
        "示范区巡察办:",
        "本报编辑部",
    ]
)
_BODY = st.sampled_from(
    [
        "本报讯(记者张亚丹)12月29日上午,示范区召开会议。",
        "会议强调,要抓好创新驱动。",
        "焦作市获得表彰的有:",
        "(本报记者 王孟鹤)",
        "本报记者 董柏生 赵政玲",
        "一、提高政治站位,深刻领会科学内涵",
        "全市成立物业行业党组织11个,选派党建指导员136人。",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_HEADLINES, _BODY), max_size=25))
def test_segmentation_never_loses_text(lines: list[str]) -> None:
    page = "\n".join(lines)
    articles = segment_articles(page)
    _assert_no_text_lost(page, articles)
    assert all(a.text for a in articles) or len(articles) <= 1
