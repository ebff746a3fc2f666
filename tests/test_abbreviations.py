"""Short forms in extractive answers are spelled out with the full name their report gave first."""

from __future__ import annotations

from llama_index.core.schema import NodeWithScore, TextNode

from rag.answering.abbreviations import expand_abbreviations
from rag.answering.extractive import ExtractiveAnswerer

EXPO = ("在第六届中国国际进口博览会进入百日倒计时之际，西门子医疗宣布今年将再度参展这一盛会。"
        "在今年的进博会上，西门子医疗计划重磅展示超过20款创新医疗科技和解决方案。首届进博会至今，西门子医疗多次参展。")


def test_an_implied_short_form_gets_the_full_name_with_its_ordinal() -> None:
    answer = expand_abbreviations("在今年的进博会上，西门子医疗计划展示超过20款创新医疗科技。", EXPO)
    assert answer == "在今年的进博会（第六届中国国际进口博览会）上，西门子医疗计划展示超过20款创新医疗科技。"


def test_an_answer_naming_its_own_edition_keeps_it() -> None:
    # 首届进博会 is the first fair, not the sixth the report opened with.
    assert expand_abbreviations("首届进博会至今，西门子医疗多次参展。", EXPO) == (
        "首届进博会（中国国际进口博览会）至今，西门子医疗多次参展。")


def test_short_forms_starting_inside_the_name_and_explicit_definitions() -> None:
    report = ("记者从公安部交通管理局获悉，交管局将进一步扩大试点。"
              "目前公司直接持有镇江大白鲸海洋世界有限公司（以下简称“镇江大白鲸”）29.02%的股权。")
    assert expand_abbreviations("交管局将进一步扩大试点。", report) == "交管局（公安部交通管理局）将进一步扩大试点。"
    assert expand_abbreviations("公司持有的镇江大白鲸15.1%股权被拍卖。", report) == (
        "公司持有的镇江大白鲸（镇江大白鲸海洋世界有限公司）15.1%股权被拍卖。")
    # An explicit definition needs no name ending in the answer (世卫 ends with none).
    defined = "世界卫生组织（以下简称为“世卫”）发布报告。世卫表示，疫情仍在蔓延。"
    assert expand_abbreviations("世卫表示，疫情仍在蔓延。", defined) == "世卫（世界卫生组织）表示，疫情仍在蔓延。"


def test_one_character_per_word_and_names_jieba_keeps_whole() -> None:
    report = "第十四届全国人民代表大会第一次会议在北京开幕。人代会期间，代表们审议了政府工作报告。"
    assert expand_abbreviations("人代会期间，代表们审议了政府工作报告。", report) == (
        "人代会（第十四届全国人民代表大会）期间，代表们审议了政府工作报告。")


def test_nothing_is_added_without_a_true_short_form() -> None:
    report = "科学技术奖励办法规定，技术发明奖和科学技术进步奖不再设三等奖。乌克兰海军无人舰艇发动袭击，无人艇受损。"
    for answer in ("新修订的《山西省科学技术奖励办法》共6章41条。",  # 技术奖 only inside a longer word
                   "乌克兰海军无人艇受损。",  # a common noun shortened, not a name
                   "记者从公安部交通管理局获悉，交管局将扩大试点。"):  # the full name is already there
        assert expand_abbreviations(answer, report + answer) == answer


def test_the_extractive_answer_spells_out_the_fair() -> None:
    node = TextNode(text=EXPO, id_="c1", metadata={"title": "西门子医疗将第六次参展进博会", "source": "a.txt"})
    answer = ExtractiveAnswerer(lambda t: 3.0 + 0.1 * len(t)).answer(
        "西门子医疗计划在哪个展会上展示创新医疗科技和解决方案？", [NodeWithScore(node=node, score=1.0)])
    assert answer.found and "第六届中国国际进口博览会" in answer.answer and "超过20款" in answer.answer
