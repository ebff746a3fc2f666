"""Tests for ingest.clean.clean_page: rejoining OCR-broken paragraphs, dropping furniture, whitespace."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.clean import clean_page
from ingest.loaders import load_text

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "articles"


def test_rejoins_a_paragraph_cut_mid_word() -> None:
    raw = (
        "加强理论学习,提高专业能力。以党史学习教育活动为契机,要求每月不低于20篇学习笔记,以紧凑的工作节奏,营\n"
        "\n"
        "造浓厚的学习氛围。同时,开展股级干部讲红色故事活动。\n"
    )
    assert clean_page(raw) == (
        "加强理论学习,提高专业能力。以党史学习教育活动为契机,要求每月不低于20篇学习笔记,以紧凑的工作节奏,"
        "营造浓厚的学习氛围。同时,开展股级干部讲红色故事活动。"
    )


def test_rejoins_a_short_fragment_cut_inside_a_word() -> None:
    # "为了让全区170名困难青少" looks like a headline by shape; jieba sees 青少年 cut in two.
    raw = "为了让全区170名困难青少\n\n年温暖过冬,示范区又部署启动主题党团队日活动。"
    assert clean_page(raw) == "为了让全区170名困难青少年温暖过冬,示范区又部署启动主题党团队日活动。"


@pytest.mark.parametrize(
    ("raw", "joined"),
    [
        (
            "全区各乡镇生产总值为2385\n\n.67亿元,占全区生产总值的58%。",
            "全区各乡镇生产总值为2385.67亿元,占全区生产总值的58%。",
        ),
        (
            "清理乱停乱放车辆46\n\n80余起,清理违规广告1520余处。",
            "清理乱停乱放车辆4680余起,清理违规广告1520余处。",
        ),
        ("近年来共外出学习4\n\n次,培训企业家500余人次。", "近年来共外出学习4次,培训企业家500余人次。"),
        (
            "2022年5月,河南省科技厅印发\n\n《关于营造更好环境支持科技型中小企业研发的实施意见》。",
            "2022年5月,河南省科技厅印发《关于营造更好环境支持科技型中小企业研发的实施意见》。",
        ),
        (
            "落实责任抓整改。针对督查\n\n发现的问题,该街道纪工委现场反馈。",
            "落实责任抓整改。针对督查发现的问题,该街道纪工委现场反馈。",
        ),
        (
            "他说,这在英文里叫 the market\n\nprice,即市场价格。",
            "他说,这在英文里叫 the market price,即市场价格。",
        ),
    ],
)
def test_rejoins_numbers_and_prose_cut_by_the_ocr(raw: str, joined: str) -> None:
    assert clean_page(raw) == joined


def test_keeps_headlines_and_leads_on_their_own_lines() -> None:
    raw = (
        "\n\n“烦心路”变“暖心路”\n\n闫庄村“五星工坊”分享集体经济红利\n\n"
        "本报讯(记者张亚丹)12月25日上午,走进滨湖街道闫庄村,3条主干道经过翻新修葺焕然一新。\n\n"
        "乡村纪行\n\n示范区启动主题党团队日活动\n\n为170名困难青少年送上暖冬物品\n\n"
        "本报讯(记者张亚丹)12月26日,示范区在湛阳镇闫口小学启动主题党团队日活动。\n"
    )
    assert clean_page(raw).split("\n") == [
        "“烦心路”变“暖心路”",
        "闫庄村“五星工坊”分享集体经济红利",
        "本报讯(记者张亚丹)12月25日上午,走进滨湖街道闫庄村,3条主干道经过翻新修葺焕然一新。",
        "乡村纪行",
        "示范区启动主题党团队日活动",
        "为170名困难青少年送上暖冬物品",
        "本报讯(记者张亚丹)12月26日,示范区在湛阳镇闫口小学启动主题党团队日活动。",
    ]


def test_does_not_glue_a_truncated_paragraph_to_the_next_headline() -> None:
    raw = (
        "要加强督查问效,对领导不重视、措施不得力、不能按时完成任\n\n"
        "区城乡建设和生态环境局:\n\n志愿者化身多面手 为创文赋能\n\n"
        "本报讯(记者高轶鹏 通讯员张冰楠)连日来,区城乡建设和生态环境局全员上阵。\n"
    )
    assert clean_page(raw).split("\n")[:3] == [
        "要加强督查问效,对领导不重视、措施不得力、不能按时完成任",
        "区城乡建设和生态环境局:",
        "志愿者化身多面手 为创文赋能",
    ]


def test_keeps_a_title_line_apart_from_its_text() -> None:
    assert clean_page("青溪古镇\n\n青溪古镇是江南一座以石桥和茶楼闻名的水乡小镇。").split("\n") == [
        "青溪古镇",
        "青溪古镇是江南一座以石桥和茶楼闻名的水乡小镇。",
    ]


def test_list_lines_after_a_colon_stay_separate() -> None:
    raw = (
        "焦作市获得表彰的有:\n\n第六届全国文明单位名单(3家)\n\n"
        "焦作市纪委监委 政协焦作市委员会办公室(机关) 中共焦作市委宣传部\n"
    )
    assert clean_page(raw).split("\n") == [
        "焦作市获得表彰的有:",
        "第六届全国文明单位名单(3家)",
        "焦作市纪委监委 政协焦作市委员会办公室(机关) 中共焦作市委宣传部",
    ]


def test_numbered_subheading_stays_apart_from_its_paragraph() -> None:
    raw = "一、提高政治站位,深刻领会县域治理“三起来”的科学内涵\n\n2021年是开启全面建设社会主义现代化国家新征程的开局之年。"
    assert len(clean_page(raw).split("\n")) == 2


def test_drops_photo_credits_and_their_captions_but_keeps_photo_story_text() -> None:
    raw = (
        "全市科技活动周启动仪式在郟县进行。\n\n\n\n科技周上科技展示异彩纷呈\n\n本报记者 张鸿雨 摄\n\n"
        "自主创新助力产业升级\n\n12月26日,技术人员在车间内调试开关室复合机器人,处于国内一流水平。\n\n"
        "本报记者 王尧 摄\n\n图为市民在广场参加活动。\n\n王尧/摄\n\n(新华社记者 李贺 摄)\n"
    )
    assert clean_page(raw).split("\n") == [
        "全市科技活动周启动仪式在郟县进行。",
        "自主创新助力产业升级",
        "12月26日,技术人员在车间内调试开关室复合机器人,处于国内一流水平。",
    ]


def test_subtitle_above_a_photo_credit_is_not_a_caption() -> None:
    raw = "强县富民争出彩\n\n——我市高质量推动县域经济发展综述\n\n本报记者 王尧 摄\n\n强市在于强县域。\n"
    assert clean_page(raw).split("\n") == [
        "强县富民争出彩",
        "——我市高质量推动县域经济发展综述",
        "强市在于强县域。",
    ]


def test_keeps_bylines_that_are_not_photo_credits() -> None:
    raw = "正文结束。\n\n(本报记者 张鸿雨 文/图)\n\n标题\n\n本报记者 董柏生 赵政玲\n"
    assert clean_page(raw).split("\n") == [
        "正文结束。",
        "(本报记者 张鸿雨 文/图)",
        "标题",
        "本报记者 董柏生 赵政玲",
    ]


@pytest.mark.parametrize(
    "furniture",
    [
        "第3版",
        "第 12 版",
        "- 3 -",
        "7",
        "责任编辑 张三",
        "责任编辑:张三 校对:李四",
        "版式 王五",
        "校对 李四",
        "编辑 赵六",
        "●",
        "——",
        "2021年12月31日 星期五",
    ],
)
def test_drops_page_furniture(furniture: str) -> None:
    assert clean_page(f"标题\n\n{furniture}\n\n正文第一句。\n") == "标题\n正文第一句。"


def test_keeps_cross_references_that_look_a_little_like_furniture() -> None:
    assert clean_page("加强信用信息共享应用\n\n(见今日第四版)\n") == "加强信用信息共享应用\n(见今日第四版)"


def test_normalises_whitespace_but_keeps_original_characters() -> None:
    raw = "\ufeff\u3000\u3000郟县　工信局\t局长  雷建欣  说 。\r\n\r\n ＡＢ１２  測試\u200b文字。\r\n"
    assert clean_page(raw) == "郟县 工信局 局长 雷建欣 说。\nＡＢ１２ 測試文字。"


def test_heading_markers_are_kept_and_markdown_levels_normalised() -> None:
    raw = "# 一级标题\n\n## ● 抓科技,创新驱动助发展\n\n### 三级\n\n#### 四级小节\n\n正文。\n\n##\n"
    assert clean_page(raw).split("\n") == [
        "## 一级标题",
        "## ● 抓科技,创新驱动助发展",
        "## 三级",
        "四级小节",
        "正文。",
    ]


def test_heading_lines_are_never_joined() -> None:
    raw = (
        "完成了2018年、2020年基层党组织换届工作,为全镇发展奠定了\n\n## 黄道镇\n\n## 奋力奏响乡村振兴协奏曲\n"
    )
    assert clean_page(raw).split("\n") == [
        "完成了2018年、2020年基层党组织换届工作,为全镇发展奠定了",
        "## 黄道镇",
        "## 奋力奏响乡村振兴协奏曲",
    ]


@pytest.mark.parametrize("raw", ["", "\n\n  \n", "第3版\n\n本报记者 王尧 摄\n"])
def test_blank_or_furniture_only_page_is_empty(raw: str) -> None:
    assert clean_page(raw) == ""


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="sample corpus not present")
@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*.txt")) if SAMPLES.is_dir() else [])
def test_sample_pages_clean_shape(name: str) -> None:
    raw = load_text(SAMPLES / name)
    page = clean_page(raw)
    lines = page.split("\n")
    assert all(line and line == line.strip() for line in lines)
    assert not any(line.rstrip().endswith(" 摄") for line in lines)
    assert clean_page(page) == page  # idempotent: cleaning twice changes nothing
    # Only whitespace, furniture and captions go: nearly all non-blank characters survive.
    kept = sum(1 for ch in page if not ch.isspace())
    assert kept >= 0.97 * sum(1 for ch in raw if not ch.isspace())


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="sample corpus not present")
def test_sample_page_with_broken_paragraphs() -> None:
    page = clean_page(load_text(SAMPLES / "000_a17aea0bf2d75ea6.txt"))
    lines = page.split("\n")
    assert lines[:3] == ["## 郟县工信局", "## 党建引领谱华章 砥砺奋进创佳绩", "## ● 抓科技,创新驱动助发展"]
    assert "以紧凑的工作节奏,营造浓厚的学习氛围。" in page
    assert "组织青少年科技创新大赛。" in page
    assert "科技周上科技展示异彩纷呈" not in page  # a photo caption
    assert "(本报记者 张鸿雨 通讯员 刘士钰)" in lines
