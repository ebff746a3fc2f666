"""The REST routes added for the web page, over HTTP (no browser): ``GET /v1/publications``, ``POST /v1/feedback``,
``POST /v1/uploads`` (admin; never overwrites: 409), and the page, static files and offline docs routes.

The server answers from the session's sample corpus (its shared service) but writes uploads and feedback into a
data dir of its own.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.rest.app import create_app
from bot.web.pages import STATIC_DIR
from tests.conftest import SAMPLE_ARTICLES, make_settings
from tests.rest_support.helpers import HTTP_TIMEOUT, assert_error
from tests.rest_support.live import running_server

ADMIN_KEY = "web-api-admin-key"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
UPLOAD_LIMIT = 4096


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sample_settings: Any, sample_service: Any
           ) -> Iterator[tuple[httpx.Client, Path]]:
    data_dir = tmp_path_factory.mktemp("web-api")
    shutil.copytree(SAMPLE_ARTICLES, data_dir / "articles")
    settings = make_settings(data_dir, sample_settings.embedding_model, admin_key=ADMIN_KEY,
                             upload_max_bytes=UPLOAD_LIMIT)
    with running_server(create_app(settings, service=sample_service)) as live, httpx.Client(
        base_url=live.base_url, timeout=HTTP_TIMEOUT
    ) as client:
        yield client, data_dir


def test_publications_count_articles_and_dates(server: tuple[httpx.Client, Path], sample_service: Any) -> None:
    client, _ = server
    response = client.get("/v1/publications")
    assert response.status_code == 200, response.text
    rows = response.json()["publications"]
    listed = sample_service.articles(None, 0, 100)
    for row in rows:  # each count agrees with the article listing of that publication
        mine = [a for a in listed.items if a.publication == row["publication"]]
        assert row["articles"] == len(mine) > 0
        dated = sorted(a.published for a in mine if a.published)
        assert (row["first"], row["last"]) == ((dated[0], dated[-1]) if dated else (None, None))
        assert row["undated"] == len(mine) - len(dated)
    assert sum(r["articles"] for r in rows) == listed.total
    assert [r["articles"] for r in rows] == sorted((r["articles"] for r in rows), reverse=True)


def test_feedback_is_appended_with_channel_and_ids(server: tuple[httpx.Client, Path]) -> None:
    client, data_dir = server
    asked = client.post("/v1/ask", json={"question": "郏县建成了多少座5G基站？"})
    answer = asked.json()
    body = {"vote": "up", "answer": answer, "answer_id": asked.headers["x-request-id"], "conversation_id": "web-1"}
    response = client.post("/v1/feedback", json={**body, "channel": "web"})
    assert response.status_code == 201, response.text
    assert client.post("/v1/feedback", json={**body, "vote": "down"}).status_code == 201  # channel: rest
    records = [json.loads(line) for line in (data_dir / "feedback.jsonl").read_text("utf-8").splitlines()]
    assert [(r["channel"], r["vote"]) for r in records] == [("web", "up"), ("rest", "down")]
    assert {r["answer_id"] for r in records} == {asked.headers["x-request-id"]}
    assert records[0]["conversation_id"] == "web-1" and records[0]["question"] == answer["question"]
    assert [s["chunk_id"] for s in records[0]["sources"]] == [c["chunk_id"] for c in answer["citations"]]
    assert_error(client.post("/v1/feedback", json={**body, "vote": "meh"}), 422, "validation_error", "vote")
    assert_error(client.post("/v1/feedback", json={**body, "channel": "telegram"}), 422, "validation_error")


def _upload(client: httpx.Client, name: str, data: bytes, folder: str | None = None,
            headers: dict[str, str] | None = ADMIN) -> httpx.Response:
    return client.post("/v1/uploads", files={"file": (name, data, "text/plain")},
                       data={"folder": folder} if folder is not None else None, headers=headers)


def test_upload_needs_the_admin_key_and_never_overwrites(server: tuple[httpx.Client, Path]) -> None:
    client, data_dir = server
    page = "## 标题\n\n正文一句。\n".encode()
    assert_error(_upload(client, "a.txt", page, headers=None), 401, "missing_admin_key")
    assert_error(_upload(client, "a.txt", page, headers={"Authorization": "Bearer nope"}), 403, "admin_key_required")
    response = _upload(client, "a.txt", page, folder="平顶山日报/2024-01-05")
    assert response.status_code == 201, response.text
    assert response.json() == {"path": "平顶山日报/2024-01-05/a.txt", "bytes": len(page)}
    target = data_dir / "articles" / "平顶山日报" / "2024-01-05" / "a.txt"
    assert target.read_bytes() == page
    again = assert_error(_upload(client, "a.txt", b"other", folder="平顶山日报/2024-01-05"), 409, "file_exists", "file")
    assert "a.txt" in again["message"] and target.read_bytes() == page
    assert _upload(client, "a.txt", b"other").status_code == 201  # same name, other folder: fine
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no temporary file left


@pytest.mark.parametrize(("name", "folder", "status", "code", "param"), [
    ("../escape.txt", None, 201, None, None),  # only the base name is kept: stays inside the articles folder
    ("notes.docx", None, 415, "unsupported_file_type", "file"),
    (".hidden.txt", None, 422, "invalid_filename", "file"),
    ("ok.txt", "../outside", 422, "invalid_folder", "folder"),
    ("ok.txt", "a/.git", 422, "invalid_folder", "folder"),
])
def test_upload_names_and_folders_stay_inside_the_articles_folder(
        server: tuple[httpx.Client, Path], name: str, folder: str | None, status: int, code: str | None,
        param: str | None) -> None:
    client, data_dir = server
    response = _upload(client, name, "正文。".encode(), folder=folder)
    if status == 201:
        assert response.status_code == 201, response.text
        assert (data_dir / "articles" / response.json()["path"]).resolve().is_relative_to(data_dir / "articles")
    else:
        assert_error(response, status, code, param)
    assert not (data_dir / "outside").exists() and not (data_dir / "escape.txt").exists()


def test_upload_size_limit(server: tuple[httpx.Client, Path]) -> None:
    client, data_dir = server
    assert_error(_upload(client, "big.txt", b"x" * (UPLOAD_LIMIT + 1)), 413, "file_too_large", "file")
    assert_error(_upload(client, "empty.txt", b""), 422, "empty_file", "file")
    assert not (data_dir / "articles" / "big.txt").exists()
    assert _upload(client, "fits.txt", b"x" * UPLOAD_LIMIT).status_code == 201
    # Other routes keep the small body limit.
    assert_error(client.post("/v1/ask", content=b"x" * 70_000, headers={"Content-Type": "application/json"}),
                 413, "body_too_large")


def test_page_static_files_and_docs_are_served_from_the_package(server: tuple[httpx.Client, Path]) -> None:
    client, _ = server
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    assert client.head("/").status_code == 200
    script = client.get("/static/js/main.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert script.headers["x-content-type-options"] == "nosniff" and script.headers["cache-control"] == "no-cache"
    assert client.get("/static/js/main.js", headers={"If-None-Match": script.headers["etag"]}).status_code == 304
    for path in ("/docs", "/redoc"):
        html = client.get(path).text
        assert "http://" not in html and "https://" not in html and "<script>" not in html  # no CDN, no inline
    for asset in ("swagger-ui-dist-5.36.0/swagger-ui-bundle.js", "redoc-2.5.4/redoc.standalone.js"):
        assert client.get(f"/static/vendor/{asset}").status_code == 200
    assert "/docs" not in client.get("/openapi.json").json()["paths"]


def test_page_scripts_never_parse_text_as_html() -> None:
    """Untrusted text is set with textContent / text nodes only: no HTML sinks in the page's own scripts."""
    sources = {p.name: p.read_text("utf-8") for p in (STATIC_DIR / "js").glob("*.js")}
    assert sources
    for name, source in sources.items():
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in source, f"{name} uses {sink}"
