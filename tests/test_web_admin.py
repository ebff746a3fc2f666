"""The admin view of the web page in a real browser: upload a page (refused without the admin key, 409 for a
name already there), ingest it with progress, then ask about it; the page's markup never runs."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web_support.pages import UPLOAD_FOLDER, UPLOAD_GOLD, UPLOAD_NAME, UPLOAD_QUESTION, UPLOAD_TEXT
from tests.web_support.server import ADMIN_KEY, API_KEY, Served

pytest_plugins = ["tests.web_support.fixtures"]
pytestmark = pytest.mark.timeout(900)


def upload(page: Any, name: str, data: bytes, folder: str = UPLOAD_FOLDER) -> str:
    """Upload one file through the admin form; returns the status line shown."""
    page.set_input_files("#upload-file", {"name": name, "mimeType": "text/plain", "buffer": data})
    page.fill("#upload-folder", folder)
    page.evaluate("document.getElementById('upload-status').textContent = ''")
    page.click("#upload-send")
    expect(page.locator("#upload-status")).not_to_have_text("")
    return str(page.locator("#upload-status").inner_text())


def test_upload_and_ingest_as_admin_then_ask_without_running_the_pages_markup(
        guarded: Any, web_server: Served) -> None:
    page = guarded().new_page()
    page.goto(web_server.base_url + "/")
    page.wait_for_selector("body[data-ready=true]")
    page.click("#tab-admin")
    data = UPLOAD_TEXT.encode("utf-8")
    target = web_server.data_dir / "articles" / UPLOAD_FOLDER / UPLOAD_NAME

    assert upload(page, UPLOAD_NAME, data) == "请填写管理员密钥。"  # no admin key: refused
    page.fill("#admin-key", API_KEY)  # the API key is not the admin key
    assert upload(page, UPLOAD_NAME, data) == "管理员密钥不正确。"
    assert not target.exists()

    page.fill("#admin-key", ADMIN_KEY)
    assert upload(page, "notes.docx", b"PK\x03\x04").startswith("不支持的文件类型")
    assert upload(page, UPLOAD_NAME, data) == f"已保存：{UPLOAD_FOLDER}/{UPLOAD_NAME}（{len(data)} 字节）"
    assert target.read_bytes() == data
    assert upload(page, UPLOAD_NAME, b"another text").startswith("同名文件已存在")  # 409: never overwritten
    assert target.read_bytes() == data

    page.click("#ingest-start")
    page.wait_for_selector("#ingest-status[data-state=succeeded]", timeout=300_000)
    status = page.locator("#ingest-status").inner_text()
    assert "入库完成" in status and "新增 1 个文件" in status and "失败 0 个" in status
    assert page.evaluate("document.getElementById('ingest-progress').value") >= 1

    page.click("#tab-chat")
    page.fill("#question", UPLOAD_QUESTION)
    page.press("#question", "Enter")
    turn = page.locator("#log > li.turn").first
    turn.locator(".answer[data-answer=done]").wait_for(timeout=120_000)
    assert UPLOAD_GOLD in turn.locator(".answer-text").inner_text()
    turn.locator(".card .card-title").first.click()
    page.locator("#panel-body p").first.wait_for()
    shown = page.locator("#panel-title").inner_text() + "\n" + page.locator("#panel-body").inner_text()
    assert '<img src=x onerror="window.__xss=1;alert(1)">' in shown  # the markup is shown as text
    assert "<script>window.__xss=2;alert(2)</script>" in shown
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
    assert page.locator("img").count() == 0 and page.locator("#log script, #panel script").count() == 0
    assert page.evaluate("document.querySelectorAll('script:not([src])').length") == 0

