"""Questions about what was reported (rag.answering.report_listing): a tiny dated archive filed as
``<publication>/<date>/<page>.txt`` (pages written here, ingested for real with the packaged model), asked which
reports a paper printed in a time, on a topic; the time scope and the publication bound the list, and factual
questions are not taken for listing questions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app as cli_app
from rag.answering.report_listing import MAX_REPORTS, detect
from rag.filters import ArchiveFilter
from rag.text.normalize import normalize
from rag.text.time_expr import TimeScope, parse_time_expression
from tests.conftest import make_settings, store_env

#: (publication, date, page, [(title, body)]): synthetic reports of two made-up papers.
PAGES = [
    ("滨江日报", "2021-12-28", "01", [
        ("滨江县蛋鸡养殖合作社扩建鸡舍", "本报讯 滨江县蛋鸡养殖合作社本月新建标准化鸡舍二十栋，带动一百二十户农户增收，"
         "合作社负责人说，明年还将引进自动喂料设备。"),
        ("滨江县开通首批新能源公交线路", "本报讯 滨江县首批八条新能源公交线路日前开通运营，全县公交车辆全部换成电动车，"
         "市民乘车可以刷码支付。"),
    ]),
    ("滨江日报", "2021-11-15", "02", [
        ("冬季水产养殖技术培训班开班", "本报讯 县农业农村局举办冬季水产养殖技术培训班，八十名养殖户学习了鱼塘越冬管理、"
         "水质调控和病害防治技术。"),
    ]),
    ("滨江日报", "2021-06-10", "01", [
        ("滨江县生猪养殖规模稳步扩大", "本报讯 今年上半年，滨江县生猪养殖存栏量稳步增长，规模养殖场达到四十家，"
         "县里为养殖场提供了贷款贴息。"),
    ]),
    ("滨江日报", "2022-03-05", "01", [
        ("滨江县春耕备耕有序展开", "本报讯 眼下正值春耕备耕时节，滨江县各乡镇组织农机手检修拖拉机，"
         "供销社备足化肥种子，确保不误农时。"),
        ("滨江县图书馆延长开放时间", "本报讯 滨江县图书馆从三月起每天开放到晚上九点，方便上班族借阅图书，"
         "周末还举办亲子阅读活动。"),
    ]),
    ("江城晚报", "2021-12-20", "03", [
        ("江城肉牛养殖基地通过验收", "本报讯 江城区肉牛养殖基地日前通过省级标准化验收，基地存栏肉牛三千头，"
         "年出栏一千五百头。"),
    ]),
    ("江城晚报", "2022-03-05", "01", [
        ("江城举办春季招聘会", "本报讯 江城区春季招聘会在会展中心举行，两百家企业提供岗位五千多个，"
         "现场达成就业意向一千二百人。"),
    ]),
]


def write_archive(root: Path) -> None:
    """The pages of :data:`PAGES` as ``<publication>/<date>/<page>.txt`` under ``root``."""
    for publication, day, page, reports in PAGES:
        folder = root / publication / day
        folder.mkdir(parents=True, exist_ok=True)
        text = "\n\n".join(f"## {title}\n\n{body}" for title, body in reports)
        (folder / f"{page}.txt").write_text(text + "\n", "utf-8")


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory, packaged_model_path: str,
            packaged_embedder: Any) -> Iterator[Any]:
    """A service over the ingested tiny archive (``today`` after its last issue)."""
    from bot.service import build_service

    data_dir = tmp_path_factory.mktemp("listing")
    write_archive(data_dir / "articles")
    service = build_service(make_settings(data_dir, packaged_model_path, today=date(2022, 6, 1)),
                            embedder=packaged_embedder)
    summary = service.ingest()
    assert summary.files_failed == 0, summary.failures
    assert summary.articles_dated == summary.articles_total == sum(len(p[3]) for p in PAGES)
    service.warm_up()
    yield service
    service.close()


def titles(answer: Any) -> list[str]:
    return [c.title for c in answer.citations]


def test_reports_of_a_paper_at_the_end_of_a_year_on_a_topic(archive: Any) -> None:
    answer = archive.ask("2021年底《滨江日报》报道了哪些关于养殖的消息？")
    assert answer.found and answer.mode == "extractive"
    assert titles(answer) == ["滨江县蛋鸡养殖合作社扩建鸡舍", "冬季水产养殖技术培训班开班"]  # newest first
    assert all(c.publication == "滨江日报" and "2021-11-01" <= (c.published or "") <= "2021-12-31"
               for c in answer.citations)
    first = answer.citations[0]
    assert first.page == "第1版" and first.source == "滨江日报/2021-12-28/01.txt"
    assert "[1]" in answer.answer and "[2]" in answer.answer and "《滨江日报》2021-12-28 第1版" in answer.answer


def test_reports_of_a_paper_on_a_day(archive: Any) -> None:
    answer = archive.ask("《滨江日报》2022年3月5日刊登了什么？")
    assert answer.found
    assert sorted(titles(answer)) == ["滨江县图书馆延长开放时间", "滨江县春耕备耕有序展开"]
    assert {c.published for c in answer.citations} == {"2022-03-05"}


def test_the_time_scope_without_a_paper_takes_every_paper(archive: Any) -> None:
    answer = archive.ask("2021年底有哪些关于养殖的报道？")
    assert answer.found
    assert set(titles(answer)) == {"滨江县蛋鸡养殖合作社扩建鸡舍", "江城肉牛养殖基地通过验收", "冬季水产养殖技术培训班开班"}
    dates = [c.published for c in answer.citations]
    assert dates == sorted(dates, reverse=True)
    whole_year = archive.ask("2021年滨江日报报道了哪些关于养殖的消息？")
    assert "滨江县生猪养殖规模稳步扩大" in titles(whole_year) and len(whole_year.citations) == 3


def test_the_paper_bounds_the_list(archive: Any) -> None:
    answer = archive.ask("江城晚报2022年3月5日报道了什么？")
    assert titles(answer) == ["江城举办春季招聘会"]
    missing = archive.ask("《东海商报》2021年底报道了哪些关于养殖的消息？")
    assert not missing.found and not missing.citations and "东海商报" in missing.answer
    nothing = archive.ask("2021年底《滨江日报》报道了哪些关于招聘会的消息？")
    assert not nothing.found and not nothing.citations
    caller = archive.ask("2021年底报道了哪些关于养殖的消息？", archive_filter=ArchiveFilter.parse(publication="江城"))
    assert titles(caller) == ["江城肉牛养殖基地通过验收"]


def test_without_a_topic_the_newest_reports_up_to_the_limit(archive: Any) -> None:
    answer = archive.ask("滨江日报刊登过哪些文章？")
    assert answer.found and len(answer.citations) == MAX_REPORTS
    dates = [c.published for c in answer.citations]
    assert dates == sorted(dates, reverse=True) and dates[0] == "2022-03-05"
    assert all(c.publication == "滨江日报" for c in answer.citations)


def test_a_factual_question_is_answered_as_before(archive: Any) -> None:
    answer = archive.ask("滨江县蛋鸡养殖合作社新建了多少栋鸡舍？")
    assert answer.found and "二十栋" in answer.answer and "由新到旧" not in answer.answer
    evaluated, _nodes = archive.answer_with_nodes("2021年底《滨江日报》报道了哪些关于养殖的消息？")
    assert titles(evaluated)[0] == "滨江县蛋鸡养殖合作社扩建鸡舍"  # the eval path answers listings too


KNOWN = {"滨江日报", "江城晚报"}


@pytest.mark.parametrize("question", [
    "滨江县蛋鸡养殖合作社新建了多少栋鸡舍？",
    "据滨江日报报道，江城肉牛养殖基地存栏多少头？",
    "2021年滨江日报报道了什么新技术？",  # a thing, not reports
    "2021年滨江县有哪些合作社扩建了鸡舍？",
    "有哪些关于养殖的报道？",  # no paper and no time: answered as any question
    "滨江日报报道的培训班有多少名养殖户参加？",
    "那位作家在1998年发表了什么？",  # a person's work: 发表 needs a paper
])
def test_the_detector_leaves_other_questions_alone(question: str) -> None:
    scope = parse_time_expression(normalize(question), date(2022, 6, 1))
    assert detect(question, scope, KNOWN) is None


@pytest.mark.parametrize(("question", "paper", "topic"), [
    ("2021年底《滨江日报》报道了哪些关于养殖的消息？", "滨江日报", ("养殖",)),
    ("江城晚报在去年刊发过哪几篇有关肉牛的文章?", "江城晚报", ("肉牛",)),
    ("滨江日报最近报道了什么", "滨江日报", ()),
    ("2022年3月有哪些关于春耕的新闻？", "", ("春耕",)),
    ("濱江日報2021年報道了哪些消息？", "滨江日报", ()),  # traditional characters
    ("江城晚报去年发表过哪些关于招聘会的文章？", "江城晚报", ("招聘", "招聘会")),  # jieba search mode
])
def test_the_detector_reads_paper_time_and_topic(question: str, paper: str, topic: tuple[str, ...]) -> None:
    scope = parse_time_expression(normalize(question), date(2022, 6, 1))
    query = detect(question, scope, KNOWN)
    assert query is not None
    assert query.publication_label == paper and query.topic == topic


def test_end_and_start_of_a_year() -> None:
    ref = date(2022, 6, 1)
    assert parse_time_expression("2021年底的报道", ref) == TimeScope(date(2021, 11, 1), date(2021, 12, 31), False,
                                                                   "2021年底", "2021年底的报道")
    assert parse_time_expression("去年末", ref).since == date(2021, 11, 1)
    assert parse_time_expression("今年初有什么", ref).until == date(2022, 2, 28)
    assert parse_time_expression("2021年初步统计", ref).until == date(2021, 12, 31)  # 初步 is not 年初


def test_cli_lists_reports(archive: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**store_env(archive.settings), "NEWSQA_TODAY": "2022-06-01"}.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli_app, ["ask", "--server", "local", "--json", "《滨江日报》2022年3月5日刊登了什么？"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["found"] and {c["published"] for c in body["citations"]} == {"2022-03-05"}
