"""Time-aware questions and archive filters: the relative-date parser, the filters inside both retrieval legs (a real
Chroma collection and real keyword-index segments), the newest-report rule of the extractive answerer, and the
dated-corpus benchmark's number shifting."""

from __future__ import annotations

from datetime import date

import chromadb
import numpy as np
import pytest
from llama_index.core.schema import NodeWithScore, TextNode

from rag.answering.extractive import ExtractiveAnswerer
from rag.answering.verifier import Similarity
from rag.errors import InputError
from rag.eval_dated import shift_numbers
from rag.filters import SCOPE_GRACE_DAYS, ArchiveFilter, parse_day
from rag.retrieval.embedding import packaged_e5
from rag.retrieval.segments import build_segment
from rag.text.event_dates import date_number
from rag.text.time_expr import parse_time_expression

SIMILARITY = Similarity(packaged_e5)  # the packaged e5, loaded once for the module's tests

REF = date(2023, 8, 16)


# --- time expressions -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("question", "since", "until", "latest"),
    [
        ("2021年郏县建成了多少座5G基站？", date(2021, 1, 1), date(2021, 12, 31), False),
        ("2021年12月的会议在哪里召开？", date(2021, 12, 1), date(2021, 12, 31), False),
        ("2021年12月31日发生了什么？", date(2021, 12, 31), date(2021, 12, 31), False),
        ("2021-12-31的报道", date(2021, 12, 31), date(2021, 12, 31), False),
        ("1990年3月至1992年8月，他担任什么职务？", date(1990, 3, 1), date(1992, 8, 31), False),
        ("谁在2003年至2007年间夺得五项冠军？", date(2003, 1, 1), date(2007, 12, 31), False),
        ("2022年上半年新建了多少公里公路？", date(2022, 1, 1), date(2022, 6, 30), False),
        ("今年郏县建成了多少座5G基站？", date(2023, 1, 1), date(2023, 12, 31), False),
        ("去年郏县建成了多少座5G基站？", date(2022, 1, 1), date(2022, 12, 31), False),
        ("前年的产值是多少？", date(2021, 1, 1), date(2021, 12, 31), False),
        ("去年第三季度的产值是多少？", date(2022, 7, 1), date(2022, 9, 30), False),
        ("上个月召开了什么会议？", date(2023, 7, 1), date(2023, 7, 31), False),
        ("本月召开了什么会议？", date(2023, 8, 1), date(2023, 8, 31), False),
        ("上周召开了什么会议？", date(2023, 8, 7), date(2023, 8, 13), False),
        ("昨天发生了什么？", date(2023, 8, 15), date(2023, 8, 15), False),
        ("近三年GDP增长了多少？", date(2020, 8, 17), REF, False),
        ("最近一周有什么新闻？", date(2023, 8, 10), REF, True),
        ("最新的5G基站数量是多少？", None, None, True),
        ("目前园区有几家企业？", None, None, True),
        ("郏县建成了多少座5G基站？", None, None, False),
        ("2020年代的音乐", None, None, False),
        ("2019年以来全市新增了多少家企业？", date(2019, 1, 1), None, False),
        ("自2020年3月以来共举办了几场展会？", date(2020, 3, 1), None, False),
        ("这项规定从2021年起施行吗？", date(2021, 1, 1), None, False),
        ("2018年以前的产量是多少？", None, date(2018, 12, 31), False),
        ("2021年起草的条例有几章？", date(2021, 1, 1), date(2021, 12, 31), False),
    ],
)
def test_time_expressions(question: str, since: date | None, until: date | None, latest: bool) -> None:
    scope = parse_time_expression(question, REF)
    assert (scope.since, scope.until, scope.prefer_latest) == (since, until, latest)
    assert scope.has_range == (since is not None or until is not None)
    assert scope.recency == ("latest" if latest else "off" if since or until else "auto")


def test_the_query_loses_relative_words_but_keeps_what_texts_say() -> None:
    assert parse_time_expression("去年郏县建成了多少座5G基站？", REF).query == "郏县建成了多少座5G基站？"
    assert parse_time_expression("据最新报道，郏县建成了多少座5G基站？", REF).query == "郏县建成了多少座5G基站？"
    assert parse_time_expression("2021年郏县建成了多少座5G基站？", REF).query.startswith("2021年")  # texts say it
    assert parse_time_expression("LibreOffice目前支持哪些文件格式？", REF).query == "LibreOffice目前支持哪些文件格式？"


def test_relative_times_follow_the_reference_day_across_a_year_end() -> None:
    scope = parse_time_expression("上个月召开了什么会议？", date(2022, 1, 3))
    assert (scope.since, scope.until) == (date(2021, 12, 1), date(2021, 12, 31))
    assert parse_time_expression("去年的产值", date(2022, 1, 3)).since == date(2021, 1, 1)


def test_recent_years_from_a_leap_day_reference() -> None:
    """近N年 counted back from 29 February lands on the 28th (there is no 29 February N years back)."""
    scope = parse_time_expression("近三年的产值是多少？", date(2024, 2, 29))
    assert (scope.since, scope.until) == (date(2021, 3, 1), date(2024, 2, 29))
    assert parse_time_expression("近四年的产值是多少？", date(2024, 2, 29)).since == date(2020, 3, 1)


def test_impossible_dates_are_ignored() -> None:
    scope = parse_time_expression("2021年13月的会议", REF)
    assert (scope.since, scope.until) == (date(2021, 1, 1), date(2021, 12, 31))  # the year still counts


# --- filter parsing ---------------------------------------------------------------------------------------------------
def test_filter_parse_names_the_bad_field() -> None:
    with pytest.raises(InputError, match="since"):
        ArchiveFilter.parse("2021-13-01")
    with pytest.raises(InputError, match="until"):
        ArchiveFilter.parse(None, "yesterday")
    with pytest.raises(InputError, match="after until"):
        ArchiveFilter.parse("2022-01-01", "2021-01-01")
    assert not ArchiveFilter.parse(None, None, "  ")
    assert parse_day("2021-12-31T08:00:00+08:00", "published") == date(2021, 12, 31)
    assert date_number(date(2021, 12, 31)) == 20211231


def _rows() -> list[tuple[str, dict]]:
    return [
        ("a:0", {"published": "2021-12-31", "published_day": 20211231, "publication": "平顶山日报",
                 "event_min": 20211229, "event_max": 20211231}),
        ("b:0", {"published": "2023-08-16", "published_day": 20230816, "publication": "中国新闻网",
                 "event_min": 20210101, "event_max": 20211231}),  # printed 2023, about 2021
        ("c:0", {"published": "2023-08-16", "published_day": 20230816, "publication": "焦作日报",
                 "event_min": 0, "event_max": 0}),
        ("d:0", {"published_day": 0, "event_min": 0, "event_max": 0}),  # undated
        ("e:0", {"published": "2022-03-01", "published_day": 20220301, "publication": "平顶山晚报",
                 "event_min": 0, "event_max": 0}),  # within the grace days after 2021
    ]


CASES = [
    (ArchiveFilter.parse("2022-01-01"), {"b:0", "c:0", "e:0"}),
    (ArchiveFilter.parse(None, "2021-12-31"), {"a:0"}),
    (ArchiveFilter.parse("2021-01-01", "2022-12-31"), {"a:0", "e:0"}),
    (ArchiveFilter.parse(publication="平顶山"), {"a:0", "e:0"}),
    (ArchiveFilter.parse("2022-01-01", publication="日报"), {"c:0"}),
    (ArchiveFilter().with_scope(date(2021, 1, 1), date(2021, 12, 31)), {"a:0", "b:0", "d:0", "e:0"}),
    (ArchiveFilter().with_scope(date(2019, 1, 1), date(2019, 12, 31)), {"d:0"}),
    (ArchiveFilter.parse(publication="平顶山").with_scope(date(2021, 1, 1), date(2021, 12, 31)), {"a:0", "e:0"}),
]


@pytest.mark.parametrize(("flt", "expected"), CASES)
def test_filter_inside_the_dense_leg_is_a_chroma_where(tmp_path, flt: ArchiveFilter, expected: set[str]) -> None:  # noqa: ANN001
    client = chromadb.PersistentClient(path=str(tmp_path))
    collection = client.create_collection("chunks")
    rows = _rows()
    collection.add(ids=[i for i, _ in rows], embeddings=[[1.0, float(n)] for n in range(len(rows))],
                   metadatas=[m for _, m in rows])
    resolved = flt.resolved({"平顶山日报", "中国新闻网", "焦作日报", "平顶山晚报"})
    got = collection.query(query_embeddings=[[1.0, 0.0]], n_results=10, where=resolved.chroma_where())
    assert set(got["ids"][0]) == expected


@pytest.mark.parametrize(("flt", "expected"), CASES)
def test_filter_inside_the_keyword_leg_is_a_row_mask(flt: ArchiveFilter, expected: set[str]) -> None:
    rows = _rows()
    seg = build_segment([(i, ["词"], m) for i, m in rows], {})
    resolved = flt.resolved({"平顶山日报", "中国新闻网", "焦作日报", "平顶山晚报"})
    mask = resolved.row_mask(seg)
    assert mask.dtype == np.bool_ and mask.shape == (len(rows),)
    assert {seg.ids[r] for r in np.flatnonzero(mask)} == expected


def test_a_publication_no_store_holds_matches_nothing_in_either_leg() -> None:
    flt = ArchiveFilter.parse(publication="人民日报").resolved({"平顶山日报"})
    assert flt.publications == frozenset()
    seg = build_segment([(i, ["词"], m) for i, m in _rows()], {})
    assert not flt.row_mask(seg).any()
    where = flt.chroma_where()
    assert where is not None and where["publication"]["$in"]  # never an empty $in (Chroma rejects it)


def test_grace_days_are_half_a_year() -> None:
    assert 150 <= SCOPE_GRACE_DAYS <= 200


# --- the newest report ------------------------------------------------------------------------------------------------
def _hit(article: str, text: str, published: str | None, score: float) -> NodeWithScore:
    meta = {"article_id": article, "title": "郏县5G网络建设", "source": f"{article}.txt", "position": 0,
            "chunk_index": 0, "story_id": article}
    if published:
        meta["published"] = published
    return NodeWithScore(node=TextNode(id_=f"{article}:0", text=text, metadata=meta), score=score)


def _answerer() -> ExtractiveAnswerer:
    return ExtractiveAnswerer(lambda token: 2.0, SIMILARITY, 150)


OLD = "郏县累计建成5G基站120座，实现县城以上城区5G网络全覆盖。"
NEW = "郏县累计建成5G基站860座，实现乡镇以上区域5G网络全覆盖。"


def test_sources_that_disagree_over_years_give_the_newest_with_its_date() -> None:
    nodes = [_hit("old", OLD, "2020-12-30", 1.0), _hit("new", NEW, "2023-06-01", 0.95)]
    answer = _answerer().answer("郏县建成了多少座5G基站？", nodes)
    assert answer.found and "860座" in answer.answer and "120座" not in answer.answer
    assert answer.answer.startswith("据") and "2023-06-01" in answer.answer
    assert answer.citations[0].article_id == "new"


def test_reports_weeks_apart_are_other_events_not_updates() -> None:
    nodes = [_hit("old", OLD, "2023-05-20", 1.0), _hit("new", NEW, "2023-06-01", 0.95)]
    answer = _answerer().answer("郏县建成了多少座5G基站？", nodes)
    assert "120座" in answer.answer and "据" not in answer.answer[:1]


def test_a_question_that_names_its_time_keeps_the_best_report() -> None:
    nodes = [_hit("old", OLD, "2020-12-30", 1.0), _hit("new", NEW, "2023-06-01", 0.95)]
    answer = _answerer().answer("2020年郏县建成了多少座5G基站？", nodes, recency="off")
    assert "120座" in answer.answer and "860座" not in answer.answer


def test_a_question_naming_a_year_is_answered_from_the_report_of_that_year() -> None:
    later = "截至2020年底，郏县累计建成5G基站860座，实现乡镇以上区域5G网络全覆盖。"  # printed 2023, mentions 2020
    nodes = [_hit("new", later, "2023-06-01", 1.0), _hit("old", OLD, "2020-12-30", 0.95)]
    question = "2020年郏县建成了多少座5G基站？"
    answer = _answerer().answer(question, nodes, recency="off", scope=("2020-01-01", "2020-12-31"))
    assert "120座" in answer.answer and answer.citations[0].article_id == "old" and "2020-12-30" in answer.answer
    unscoped = _answerer().answer(question, nodes, recency="off")
    assert "860座" in unscoped.answer  # without the range the better-worded later report wins


def test_a_latest_question_prefers_the_newest_even_weeks_apart() -> None:
    nodes = [_hit("old", OLD, "2023-05-20", 1.0), _hit("new", NEW, "2023-06-01", 0.9)]
    answer = _answerer().answer("郏县最新建成了多少座5G基站？", nodes, recency="latest")
    assert "860座" in answer.answer and "2023-06-01" in answer.answer


def test_undated_reports_are_never_preferred_for_being_new() -> None:
    nodes = [_hit("old", OLD, "2020-12-30", 1.0), _hit("new", NEW, None, 0.99)]
    answer = _answerer().answer("郏县最新建成了多少座5G基站？", nodes, recency="latest")
    assert "120座" in answer.answer


# --- the dated benchmark ----------------------------------------------------------------------------------------------
def test_shift_numbers_moves_years_and_grows_figures() -> None:
    assert shift_numbers("2019年建成120座，占比12.5%，第1名", 3) == "2022年建成180座，占比18.8%，第2名"
    assert shift_numbers("0人") == "1人"
    assert shift_numbers("建成5G基站120座，COVID-19") == "建成5G基站180座，COVID-19"
    assert shift_numbers("没有数字") == "没有数字"
