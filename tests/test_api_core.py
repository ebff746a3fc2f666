"""REST API over a real uvicorn server: health, ask, search, articles, errors for unknown things, OpenAPI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import store_env
from tests.rest_support.helpers import assert_error

pytest_plugins = ["tests.rest_support.fixtures"]

QUESTION = "示范区有几家企业入选专精特新名单？"


def test_healthz_and_readyz(api: httpx.Client, sample_service: Any) -> None:
    health = api.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}

    ready = api.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    stats = sample_service.stats()
    assert body["status"] == "ready"
    assert body["articles"] == stats.articles > 0
    assert body["chunks"] == stats.chunks >= body["articles"]
    assert body["files"] == 5
    assert body["embedding_model"] == stats.embedding_model and body["embedding_model"]
    assert body["ingest_running"] is False


def test_ask_returns_the_core_answer(api: httpx.Client, sample_service: Any) -> None:
    response = api.post("/v1/ask", json={"question": QUESTION})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body == sample_service.ask(QUESTION, top_k=5).model_dump()
    assert set(body) == {"question", "answer", "found", "mode", "confidence", "citations"}
    assert body["found"] is True and body["mode"] == "extractive" and 0.0 < body["confidence"] <= 1.0
    assert body["citations"], body
    for citation in body["citations"]:
        assert {"id", "title", "source", "article_id", "chunk_id", "text", "score"} <= set(citation)


def test_ask_top_k_and_conversation_id(api: httpx.Client, sample_service: Any) -> None:
    body = {"question": "黄道镇如何发展文旅产业？", "top_k": 2, "conversation_id": "web-8f3a"}
    response = api.post("/v1/ask", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer == sample_service.ask(body["question"], top_k=2).model_dump()
    assert len(answer["citations"]) <= 2


def test_ask_json_equals_cli_json(
    api: httpx.Client, sample_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The body of /v1/ask is the object ``newsqa ask --json`` prints (run in-process with typer's runner)."""
    from typer.testing import CliRunner

    from bot.cli import app as cli

    monkeypatch.chdir(tmp_path)  # no developer .env
    env = store_env(sample_settings)  # the same store: embedded, or the same collection on the test Chroma server
    result = CliRunner().invoke(cli, ["ask", "--json", QUESTION], env=env)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    served = api.post("/v1/ask", json={"question": QUESTION}).json()
    assert served == printed
    assert list(served) == list(printed)


def test_search_returns_ranked_chunks(api: httpx.Client, sample_service: Any) -> None:
    response = api.get("/v1/search", params={"q": "5G基站", "top_k": 4})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["query"] == "5G基站" and body["top_k"] == 4
    hits = body["hits"]
    assert 1 <= len(hits) <= 4
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    for hit in hits:
        assert {"rank", "score", "chunk_id", "article_id", "title", "source", "text", "published", "publication",
                "page", "story_id"} == set(hit)
        assert hit["article_id"] and hit["source"].endswith(".txt")
    assert "answer" not in body
    assert hits == [h.model_dump() for h in sample_service.search("5G基站", top_k=4)]


def test_search_default_top_k(api: httpx.Client) -> None:
    body = api.get("/v1/search", params={"q": "乡村振兴"}).json()
    assert body["top_k"] == 10 and 1 <= len(body["hits"]) <= 10


def test_article_by_id(api: httpx.Client, sample_service: Any) -> None:
    hit = api.get("/v1/search", params={"q": "5G基站", "top_k": 1}).json()["hits"][0]
    response = api.get(f"/v1/articles/{hit['article_id']}")
    assert response.status_code == 200, response.text
    article = response.json()
    assert set(article) == {"article_id", "title", "source", "position", "text", "chunk_ids", "published",
                            "publication", "page", "story_id"}
    assert article["article_id"] == hit["article_id"]
    assert article["source"] == hit["source"] and article["title"] == hit["title"]
    assert hit["chunk_id"] in article["chunk_ids"]
    assert article["text"]
    assert article == sample_service.get_article(hit["article_id"]).model_dump()


def test_unknown_article_is_404_json(api: httpx.Client) -> None:
    response = api.get("/v1/articles/no-such-article-0000")
    error = assert_error(response, 404, "article_not_found", "article_id")
    assert "no-such-article-0000" in error["message"]


def test_unknown_route_and_method_are_json(api: httpx.Client) -> None:
    assert_error(api.get("/v1/nothing-here"), 404, "not_found")
    response = api.get("/v1/ask")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers.get("allow", "")


def test_request_id_header(api: httpx.Client) -> None:
    generated = api.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32
    assert api.get("/healthz", headers={"X-Request-ID": "trace-42.a_b"}).headers["x-request-id"] == "trace-42.a_b"
    replaced = api.get("/healthz", headers={"X-Request-ID": "bad id with spaces"}).headers["x-request-id"]
    assert replaced != "bad id with spaces" and len(replaced) == 32


def test_no_cors_headers_by_default(api: httpx.Client) -> None:
    response = api.get("/healthz", headers={"Origin": "https://example.org"})
    assert "access-control-allow-origin" not in response.headers
    preflight = api.options(
        "/v1/ask", headers={"Origin": "https://example.org", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_openapi_documents_every_route_with_chinese_examples(api: httpx.Client) -> None:
    response = api.get("/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    expected = {
        ("/v1/ask", "post"),
        ("/v1/ask/stream", "post"),
        ("/v1/search", "get"),
        ("/v1/articles/{article_id}", "get"),
        ("/v1/ingest", "post"),
        ("/v1/ingest/{job_id}", "get"),
        ("/v1/chat/completions", "post"),
        ("/v1/models", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    }
    assert expected <= {(p, m) for p, item in paths.items() for m in item}
    ask_body = paths["/v1/ask"]["post"]["requestBody"]["content"]["application/json"]
    assert any("郏县" in json.dumps(e, ensure_ascii=False) for e in ask_body["examples"].values())
    ask_ok = paths["/v1/ask"]["post"]["responses"]["200"]["content"]["application/json"]
    assert "5G基站" in json.dumps(ask_ok["example"], ensure_ascii=False)
    assert "bearer" in schema["components"]["securitySchemes"]
    for status in ("401", "422", "500"):
        assert status in paths["/v1/ask"]["post"]["responses"]
    docs = api.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
