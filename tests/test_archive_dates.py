"""Datelines with a day but no year (``7-24 19:15，正文：``): the year the folder's dated reports agree on."""

from __future__ import annotations

from pathlib import Path

from ingest.dating import MIN_EVIDENCE, ArchiveDates
from rag.text.dateline import parse_dateline
from tests.conftest import make_settings


def _archive(dates: list[str], folder: str = "2023") -> ArchiveDates:
    archive = ArchiveDates()
    for n, day in enumerate(dates):
        archive.add(f"{folder}/{n}.txt", day)
    return archive


def test_a_day_without_a_year_is_read_from_the_header_or_the_lead() -> None:
    assert parse_dateline("7-24 19:15，正文：记者24日获悉，某地开展活动。").month_day == "07-24"
    assert parse_dateline("[\t07/19\t]，正文：某地开展活动。").month_day == "07-19"
    assert parse_dateline("，正文：中新网兰州7月24日电 (记者 张三)某地开展活动。").month_day == "07-24"
    dated = parse_dateline("2023-08-16 17:27，正文：8月16日，某地开展活动。")
    assert dated.published == "2023-08-16" and dated.month_day is None
    assert parse_dateline("7月24日，某地开展活动。").month_day is None  # a date in the text is no dateline


def test_the_year_comes_from_the_reports_around_that_day_when_they_agree() -> None:
    around = ["2023-07-18", "2023-07-20", "2023-07-22", "2023-07-25", "2023-07-30"]
    assert _archive(around).published_for("2023/x.txt", "07-24") == "2023-07-24"
    assert _archive(around[:MIN_EVIDENCE - 1]).year_for("2023/x.txt", "07-24") is None  # too few
    assert _archive([*around, "2019-07-24"]).year_for("2023/x.txt", "07-24") is None  # two years around that day
    assert _archive([*around, "2019-03-01"]).year_for("2023/x.txt", "07-24") == 2023  # another season: no matter
    assert _archive(around).year_for("2023/x.txt", "09-24") is None  # nothing printed near that day
    assert _archive(around).year_for("other/x.txt", "07-24") is None  # another folder's reports do not count
    assert _archive(around).year_for("2023/x.txt", "7/24") is None  # not MM-DD


def test_the_window_crosses_new_year_and_impossible_days_stay_unknown() -> None:
    winter = _archive(["2023-12-28", "2023-12-30", "2024-01-01", "2024-01-02", "2024-01-03"])
    assert winter.year_for("2023/x.txt", "12-31") == 2023
    assert winter.year_for("2023/x.txt", "01-02") == 2024
    leap_less = _archive(["2023-02-25", "2023-02-26", "2023-02-27", "2023-03-01", "2023-03-02"])
    assert leap_less.year_for("2023/x.txt", "02-28") == 2023
    assert leap_less.published_for("2023/x.txt", "02-29") is None


def test_file_heads_count_only_full_dates_of_text_files() -> None:
    archive = ArchiveDates()
    for n in range(MIN_EVIDENCE):
        archive.add_head(f"a/{n}.txt", f"2023-07-2{n} 10:00，正文：某地开展活动。".encode())
    archive.add_head("a/scan.png", "2019-07-22 10:00，正文：".encode())  # not a text file
    archive.add_head("a/x.txt", "7-22 10:00，正文：某地开展活动。".encode())  # no year: no evidence
    archive.add_head("a/gbk.txt", "2019-07-23 10:00\n某地开展活动。".encode("gbk"))  # not UTF-8: the digits count
    assert archive.year_for("a/y.txt", "07-22") is None  # one of 2019 against five of 2023
    archive.add_head("a/more.txt", "2023-07-25 10:00，正文：".encode())
    archive.add_head("a/more2.txt", "2023-07-26 10:00，正文：".encode())
    archive.add_head("a/more3.txt", "2023-07-27 10:00，正文：".encode())
    archive.add_head("a/more4.txt", "2023-07-28 10:00，正文：".encode())
    assert archive.year_for("a/y.txt", "07-22") == 2023  # 9 of 10


def test_ingest_dates_a_yearless_report_from_its_folder(
    tmp_path: Path, packaged_model_path: str, packaged_embedder  # noqa: ANN001
) -> None:
    from bot.service import build_service

    articles = tmp_path / "articles"
    (articles / "july").mkdir(parents=True)
    (articles / "other").mkdir()
    for n, day in enumerate(("18", "20", "22", "25", "27")):
        (articles / "july" / f"{n}.txt").write_text(
            f"2023-07-{day} 09:00，正文：某市第{n}期文化活动举行，市民踊跃参加，现场气氛热烈。", "utf-8")
    report = "7-24 19:15，正文：记者24日从某市消防救援支队获悉，今年全市计划招录消防员150名。"
    (articles / "july" / "yearless.txt").write_text(report, "utf-8")
    (articles / "other" / "yearless.txt").write_text(report.replace("某市", "某县"), "utf-8")
    service = build_service(make_settings(tmp_path, packaged_model_path), embedder=packaged_embedder)
    assert service.ingest().files_failed == 0
    hits = {h.source: h for h in service.search("招录消防员", top_k=5)}
    assert hits["july/yearless.txt"].published == "2023-07-24"
    assert hits["other/yearless.txt"].published is None  # no dated report beside it
    article = service.store.get_article(hits["july/yearless.txt"].article_id)
    assert article is not None and article.published == "2023-07-24"
    service.close()
