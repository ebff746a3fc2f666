"""Pages the browser tests add to the sample corpus, written for these tests (not taken from any dataset).

Two dated reports about community libraries in two districts (same shape, different figures) let a follow-up
question (``它的开放时间是几点？``) be answered only through the question before it; the upload page holds markup that
must never run in the page (a ``<script>`` and an ``<img onerror>``).
"""

from __future__ import annotations

from pathlib import Path

#: path relative to the articles folder -> text. The path gives publication, date and page (ingest.metadata).
LIBRARY_PAGES = {
    "平顶山日报/2021-06-18/03.txt": (
        "湛河区首个社区图书馆正式开放\n\n"
        "本报讯（记者 李文）6月17日上午，湛河区首个社区图书馆在姚孟街道正式对外开放。图书馆面积约800平方米，"
        "首批藏书3.6万册，设有少儿阅读区、自习区和老年阅览室。\n\n"
        "该馆每周二至周日开放，开放时间为上午9点至晚上8点，市民凭身份证即可免费办理借阅证。\n"
    ),
    "平顶山日报/2022-09-02/05.txt": (
        "卫东区东环路社区书屋建成使用\n\n"
        "本报讯（记者 赵晴）9月1日，卫东区东环路社区书屋建成使用。书屋面积约300平方米，首批藏书1.2万册，"
        "配有电子阅览设备20台。\n\n"
        "书屋每周一至周五开放，开放时间为上午8点半至下午5点半，周末举办亲子阅读活动。\n"
    ),
}
# The same report reprinted the next day by another paper: one story, shown as 另见 beside the cited printing.
LIBRARY_PAGES["平顶山晚报/2022-09-03/02.txt"] = LIBRARY_PAGES["平顶山日报/2022-09-02/05.txt"].replace(
    "本报讯（记者 赵晴）", "（通讯员 钱明）")
REPRINT_LABELS = ("《平顶山日报》 2022-09-02 第5版", "《平顶山晚报》 2022-09-03 第2版")

#: Asked with the district named.
FIRST_QUESTIONS = {"湛河区": "湛河区首个社区图书馆首批藏书多少册？", "卫东区": "卫东区东环路社区书屋首批藏书多少册？"}
#: A question naming the library, then a follow-up asking for the opening hours of "it".
CONTEXT_QUESTIONS = {"湛河区": "湛河区首个社区图书馆在哪个街道？", "卫东区": "卫东区东环路社区书屋有多大？"}
FOLLOW_UP = "它的开放时间是几点？"
HOURS = {"湛河区": "上午9点至晚上8点", "卫东区": "上午8点半至下午5点半"}
BOOKS = {"湛河区": "3.6万册", "卫东区": "1.2万册"}
#: Nothing in the corpus answers it.
REFUSED_QUESTION = "2022年世界杯足球赛的冠军是哪支球队？"

#: Uploaded through the admin view: markup in the text, and a fact to ask about.
UPLOAD_FOLDER = "平顶山日报/2023-03-08"
UPLOAD_NAME = "07.txt"
UPLOAD_TEXT = (
    "鹰城文化馆剪纸展开幕\n\n"
    "本报讯 3月7日，鹰城文化馆举办民间剪纸艺术展，共展出剪纸作品260件。<script>window.__xss=2;alert(2)</script>"
    '展览将持续到4月底，<img src=x onerror="window.__xss=1;alert(1)">免费向市民开放。\n'
)
UPLOAD_QUESTION = "鹰城文化馆的剪纸艺术展共展出多少件作品？"
UPLOAD_GOLD = "260件"


def write_pages(articles_dir: Path, pages: dict[str, str]) -> None:
    """Write ``pages`` (relative path -> text) under ``articles_dir``."""
    for relative, text in pages.items():
        path = articles_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
