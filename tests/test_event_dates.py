"""Metadata date values, day numbers and the event dates a chunk mentions (rag.text.event_dates)."""

from __future__ import annotations

from datetime import date

import pytest

from rag.text.event_dates import (
    MAX_EVENT_DATES,
    day_number,
    event_dates,
    iso_date,
    resolve_month_day,
)


@pytest.mark.parametrize(("value", "expected"), [
    ("2021-12-31", "2021-12-31"),
    ("2021-12-31T23:30:00+08:00", "2021-12-31"),  # the date as written, no time-zone shift
    ("2021/12/31 08:00", "2021-12-31"),
    ("2021.1.5", "2021-01-05"),
    ("20211231", "2021-12-31"),
    ("D:20211231083000+08'00'", "2021-12-31"),
    ("2021年12月31日", "2021-12-31"),
    (date(2021, 12, 31), "2021-12-31"),
    ("2021-13-45", None),
    ("2021-02-29", None),
    ("2020-02-29", "2020-02-29"),
    ("1850-01-01", None),
    ("202112311", None),
    ("yesterday", None),
    ("", None),
    (None, None),
])
def test_iso_date_reads_metadata_values_and_rejects_impossible_ones(value: object, expected: str | None) -> None:
    assert iso_date(value) == expected


def test_day_number_is_zero_when_unknown() -> None:
    assert day_number("2021-12-31") == 20211231
    assert day_number(None) == day_number("") == day_number("2021-12") == 0


def test_month_day_resolves_to_the_year_nearest_the_publication_date() -> None:
    found = event_dates("本报讯 12月29日上午，示范区召开会议。", "2022-01-02")
    assert found.dates == ("2021-12-29",)  # the year rolls back over New Year
    assert (found.first, found.last) == (20211229, 20211229)
    assert event_dates("1月2日将举行。", "2021-12-30").dates == ("2022-01-02",)  # and forward
    assert event_dates("8月13日上午，高新区召开大会。", "2022-08-15").dates == ("2022-08-13",)
    assert resolve_month_day(2, 29, date(2023, 3, 1)) == date(2024, 2, 29)  # the only 2月29日 near it
    assert resolve_month_day(13, 1, date(2023, 3, 1)) is None


def test_month_day_without_a_publication_date_is_left_out() -> None:
    found = event_dates("12月29日上午，示范区召开会议。")
    assert found.dates == () and (found.first, found.last) == (0, 0)
    assert found.metadata() == {"event_dates": "", "event_min": 0, "event_max": 0}
    # A full date needs no publication date.
    assert event_dates("2020年11月20日，在全国精神文明建设表彰大会上").dates == ("2020-11-20",)


def test_year_and_year_month_mentions_cover_their_whole_range() -> None:
    year = event_dates("2022年，全区经济实力持续攀升。")
    assert year.dates == () and (year.first, year.last) == (20220101, 20221231)
    assert (event_dates("2022年度河南省").first, event_dates("2022年度河南省").last) == (20220101, 20221231)
    month = event_dates("2024年2月，新馆开工。")
    assert month.dates == () and (month.first, month.last) == (20240201, 20240229)
    both = event_dates("2016年以来……2020年11月20日召开，12月3日闭幕。", "2020-12-05")
    assert both.dates == ("2020-11-20", "2020-12-03")
    assert (both.first, both.last) == (20160101, 20201203)  # 2016年 covers all of 2016


def test_full_dates_are_not_read_again_as_years_or_month_days() -> None:
    found = event_dates("2021-12-31 与 2021年12月30日", "2023-06-01")
    assert found.dates == ("2021-12-30", "2021-12-31")
    assert (found.first, found.last) == (20211230, 20211231)  # no 2021 year range, no 2023 month-day


def test_impossible_dates_and_numbers_are_no_mentions() -> None:
    found = event_dates("13月45日，投资356.78亿元，3000年，近5年来。", "2021-12-31")
    assert found.dates == () and found.first == 0


def test_event_dates_are_sorted_unique_and_capped() -> None:
    text = "，".join(f"2021年1月{d}日" for d in range(31, 0, -1)) + "，2021年1月5日"
    found = event_dates(text)
    assert len(found.dates) == MAX_EVENT_DATES and list(found.dates) == sorted(set(found.dates))
    assert found.dates[0] == "2021-01-01" and (found.first, found.last) == (20210101, 20210131)
    assert found.metadata()["event_dates"] == " ".join(found.dates)
