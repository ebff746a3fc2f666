"""The web chat page in a real browser (Debian's chromium via Playwright) against a real ``newsqa serve``.

Each test's browser context refuses and records any request to a host other than 127.0.0.1 and fails the test on
one (tests.web_support.browser.GuardedContext), so every test here also shows that the page needs no other origin.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.web_support.pages import (
    BOOKS,
    CONTEXT_QUESTIONS,
    FIRST_QUESTIONS,
    FOLLOW_UP,
    HOURS,
    LIBRARY_PAGES,
    REFUSED_QUESTION,
    REPRINT_LABELS,
)
from tests.web_support.server import API_KEY, Served

pytest_plugins = ["tests.web_support.fixtures"]
pytestmark = pytest.mark.timeout(600)

ANSWER_TIMEOUT_MS = 120_000
ZHANHE_TITLE = LIBRARY_PAGES["平顶山日报/2021-06-18/03.txt"].splitlines()[0]


def open_chat(context: Any, server: Served) -> Any:
    page = context.new_page()
    page.goto(server.base_url + "/")
    page.wait_for_selector("body[data-ready=true]")
    return page


def ask(page: Any, question: str) -> Any:
    """Type ``question``, send it with Enter and wait for its answer; returns the turn's locator."""
    turns = page.locator("#log > li.turn")
    before = turns.count()
    page.fill("#question", question)
    page.press("#question", "Enter")
    turn = turns.nth(before)
    turn.locator(".answer[data-answer=done], .answer.failed").wait_for(timeout=ANSWER_TIMEOUT_MS)
    return turn


def api_answer(server: Served, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{server.base_url}/v1/ask", json=body, timeout=120,
                          headers={"Authorization": f"Bearer {API_KEY}"})
    assert response.status_code == 200, response.text
    return dict(response.json())


def card_titles(turn: Any) -> list[str]:
    return [t.strip() for t in turn.locator(".card .card-title").all_inner_texts()]


def test_streamed_answer_cites_a_card_whose_source_opens_with_the_sentence_highlighted(
        guarded: Any, web_server: Served) -> None:
    page = open_chat(guarded(), web_server)
    question = FIRST_QUESTIONS["湛河区"]
    with page.expect_response(lambda r: r.url.endswith("/v1/ask/stream")) as streamed:
        turn = ask(page, question)
    assert streamed.value.headers["content-type"].startswith("text/event-stream")
    expected = api_answer(web_server, {"question": question})
    answer_text = turn.locator(".answer-text").inner_text()
    assert answer_text == expected["answer"] and BOOKS["湛河区"] in answer_text
    assert turn.locator(".answer").get_attribute("class") == "answer"  # an answer, not a refusal
    meta = turn.locator(".answer-meta").inner_text()
    if expected["confidence"] is None:
        assert meta == ""
    else:
        assert meta == f"置信度 {round(expected['confidence'] * 100)}%"

    assert card_titles(turn)[0] == ZHANHE_TITLE
    card = turn.locator(".card").first
    assert "《平顶山日报》 2021-06-18 第3版" in card.inner_text()
    marker = turn.locator("a.marker").first
    assert marker.inner_text() == "[1]"
    marker.click()
    panel = page.locator("#panel")
    panel.locator("mark.cited").first.wait_for()
    assert page.locator("#panel-title").inner_text() == ZHANHE_TITLE
    marked = "".join(panel.locator("mark.cited").all_inner_texts())
    cited_sentence = answer_text.split("[1]")[0].strip()
    assert marked == cited_sentence and BOOKS["湛河区"] in marked
    assert panel.locator("mark.cited").first.is_visible()
    box, view = panel.locator("mark.cited").first.bounding_box(), page.viewport_size
    assert box is not None and 0 <= box["y"] < view["height"]  # scrolled into view
    assert marked in panel.locator("#panel-body").inner_text()


def test_refusal_is_shown_as_a_refusal(guarded: Any, web_server: Served) -> None:
    page = open_chat(guarded(), web_server)
    turn = ask(page, REFUSED_QUESTION)
    assert "refusal" in (turn.locator(".answer").get_attribute("class") or "")
    assert turn.locator(".answer-head").inner_text() == "未在已收录的报道中找到"
    assert turn.locator(".card").count() == 0 and turn.locator("a.marker").count() == 0


def test_date_and_publication_filters_exclude_the_source(guarded: Any, web_server: Served) -> None:
    page = open_chat(guarded(), web_server)
    question = FIRST_QUESTIONS["湛河区"]
    page.click("details.filters summary")
    options = page.locator("#publication option").all_inner_texts()
    assert any(re.fullmatch(r"平顶山日报（\d+ 篇，2021-06-18 – \d{4}-\d\d-\d\d）", o) for o in options), options
    page.fill("#until", "2020-12-31")
    assert ZHANHE_TITLE not in card_titles(ask(page, question))
    page.fill("#until", "")
    page.fill("#since", "2021-06-01")
    assert card_titles(ask(page, question))[:1] == [ZHANHE_TITLE]
    page.select_option("#publication", "焦作日报")
    assert ZHANHE_TITLE not in card_titles(ask(page, question))


def test_follow_up_uses_the_conversation_and_new_conversation_forgets_it(guarded: Any, web_server: Served) -> None:
    page = open_chat(guarded(), web_server)
    ask(page, CONTEXT_QUESTIONS["卫东区"])
    follow = ask(page, FOLLOW_UP).locator(".answer-text").inner_text()
    assert HOURS["卫东区"] in follow and HOURS["湛河区"] not in follow
    page.click("#new-conversation")
    assert page.locator("#log > li").count() == 0
    assert page.evaluate("document.activeElement.id") == "question"
    ask(page, CONTEXT_QUESTIONS["湛河区"])
    follow = ask(page, FOLLOW_UP).locator(".answer-text").inner_text()
    assert HOURS["湛河区"] in follow and HOURS["卫东区"] not in follow


def test_feedback_is_recorded_in_the_shared_log(guarded: Any, web_server: Served) -> None:
    page = open_chat(guarded(), web_server)
    with page.expect_response(lambda r: r.url.endswith("/v1/ask/stream")) as streamed:
        turn = ask(page, FIRST_QUESTIONS["卫东区"])
    request_id = streamed.value.headers["x-request-id"]
    with page.expect_response(lambda r: r.url.endswith("/v1/feedback")) as sent:
        turn.locator("button.vote[data-vote=down]").click()
    assert sent.value.status == 201
    expect(turn.locator(".feedback-status")).to_have_text("已记录反馈，谢谢！")
    expect(turn.locator("button.vote[data-vote=down]")).to_have_attribute("aria-pressed", "true")
    log = web_server.data_dir / "feedback.jsonl"
    records = [json.loads(line) for line in log.read_text("utf-8").splitlines()]
    mine = [r for r in records if r["answer_id"] == request_id]
    assert len(mine) == 1
    record = mine[0]
    assert (record["channel"], record["vote"], record["question"]) == ("web", "down", FIRST_QUESTIONS["卫东区"])
    assert record["conversation_id"].startswith("web-") and record["chat_id"] is None
    assert record["answer"] == turn.locator(".answer-text").inner_text()
    assert record["sources"] and record["sources"][0]["title"] == card_titles(turn)[0]


def test_a_reprinted_story_shows_its_other_printing(guarded: Any, web_server: Served) -> None:
    page = open_chat(guarded(), web_server)
    card = ask(page, FIRST_QUESTIONS["卫东区"]).locator(".card").first
    shown, also = card.locator(".card-meta").inner_text(), card.locator(".card-also")
    assert shown in REPRINT_LABELS and also.inner_text().startswith("另见：")
    other = next(label for label in REPRINT_LABELS if label != shown)
    assert other in also.inner_text()
    also.locator("a").first.click()
    page.locator("#panel mark.cited").first.wait_for()
    assert other in page.locator("#panel-meta").inner_text()
    assert BOOKS["卫东区"] in "".join(page.locator("#panel mark.cited").all_inner_texts())


def test_keyboard_only(guarded: Any, web_server: Served) -> None:
    page = open_chat(guarded(), web_server)
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "question":
            break
    assert page.evaluate("document.activeElement.id") == "question", "Tab never reached the question box"
    page.keyboard.type(FIRST_QUESTIONS["湛河区"])
    page.keyboard.press("Enter")
    page.locator(".answer[data-answer=done]").wait_for(timeout=ANSWER_TIMEOUT_MS)
    for _ in range(30):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.classList.contains('marker')"):
            break
    assert page.evaluate("document.activeElement.classList.contains('marker')"), "no citation link took focus"
    page.keyboard.press("Enter")
    page.locator("#panel mark.cited").first.wait_for()
    assert page.evaluate("document.activeElement.id") == "panel-title"
    page.keyboard.press("Escape")
    assert page.locator("#panel").is_hidden()
    assert page.evaluate("document.activeElement.classList.contains('marker')")  # focus came back


def test_phone_width_has_no_horizontal_scroll(guarded: Any, web_server: Served) -> None:
    page = open_chat(guarded(viewport={"width": 390, "height": 844}, has_touch=True), web_server)
    overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert page.evaluate(overflow) <= 0
    turn = ask(page, FIRST_QUESTIONS["湛河区"])
    assert page.evaluate(overflow) <= 0
    for locator in (page.locator("#question"), turn.locator(".answer-text")):
        box = locator.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    assert page.locator("#question").is_visible() and page.locator("#question").is_editable()
    turn.locator("a.marker").first.click()
    page.locator("#panel mark.cited").first.wait_for()
    assert page.evaluate(overflow) <= 0


def test_api_key_is_asked_for_kept_and_a_wrong_one_is_named(guarded: Any, web_server: Served) -> None:
    context = guarded(api_key=None)
    page = open_chat(context, web_server)
    page.locator("#notice").wait_for()
    assert "需要 API 密钥" in page.locator("#notice").inner_text()
    assert page.locator("#view-settings").is_visible()
    page.fill("#api-key", "not-the-key")
    page.click("#settings-form button[type=submit]")
    expect(page.locator("#notice")).to_contain_text("不正确")
    page.fill("#api-key", API_KEY)
    page.click("#settings-form button[type=submit]")
    expect(page.locator("#publication option").nth(1)).to_be_attached()
    assert page.locator("#notice").is_hidden()
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#publication option").nth(1)).to_be_attached()  # kept in localStorage
    assert page.evaluate("localStorage.getItem('newsqa.apiKey')") == API_KEY


def test_archive_lists_articles_newest_first_and_pages(guarded: Any, web_server: Served) -> None:
    page = open_chat(guarded(), web_server)
    page.click("#tab-archive")
    expect(page.locator("#archive-rows tr").first).to_be_attached()
    dates = page.locator("#archive-rows tr td:first-child").all_inner_texts()
    dated = [d for d in dates if d != "日期不详"]
    assert dated == sorted(dated, reverse=True) and {"2022-09-02", "2021-06-18"} <= set(dated)
    assert dates[: len(dated)] == dated  # undated articles come last
    status = page.locator("#archive-status").inner_text()
    total = int(re.search(r"共 (\d+) 篇", status).group(1))  # type: ignore[union-attr]
    assert total > 20 and page.locator("#archive-rows tr").count() == 20
    page.click("#archive-next")
    expect(page.locator("#archive-status")).to_have_text(re.compile(r"^第 2 /"))
    assert page.locator("#archive-rows tr").count() == total - 20
    page.select_option("#archive-publication", "焦作日报")
    page.click("#archive-form button[type=submit]")
    expect(page.locator("#archive-status")).to_have_text(re.compile(r"^第 1 /"))
    assert set(page.locator("#archive-rows tr td:nth-child(2)").all_inner_texts()) == {"焦作日报"}


def test_docs_pages_work_offline_and_the_page_forbids_inline_scripts(guarded: Any, web_server: Served) -> None:
    context = guarded()
    page = context.new_page()
    response = page.goto(web_server.base_url + "/")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp and "unsafe-inline" not in csp
    page.goto(web_server.base_url + "/docs")
    page.locator(".opblock").first.wait_for(timeout=60_000)  # Swagger UI rendered the operations
    assert page.locator(".opblock").count() > 10
    page.goto(web_server.base_url + "/redoc")
    page.get_by_text("newsqa REST API", exact=False).first.wait_for(timeout=60_000)
    assert page.locator("[data-section-id]").count() > 5  # ReDoc rendered its sections
