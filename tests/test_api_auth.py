"""API keys, the admin key, CORS: 401/403 JSON bodies that say what is missing, and keys never in the logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from bot.rest.app import create_app
from tests.rest_support.helpers import HTTP_TIMEOUT, assert_error, settings_for
from tests.rest_support.live import LiveServer, running_server

API_KEYS = ("key-one-5f1e9a", "key-two-77c0d2")
ADMIN_KEY = "admin-secret-d41d8c"
QUESTION = {"question": "示范区有几家企业入选专精特新名单？"}
JOB = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def keyed_server(sample_settings: Any, sample_service: Any) -> Iterator[LiveServer]:
    settings = settings_for(sample_settings, api_keys=",".join(API_KEYS), admin_key=ADMIN_KEY)
    with running_server(create_app(settings, service=sample_service)) as live:
        yield live


@pytest.fixture()
def client(keyed_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=keyed_server.base_url, timeout=HTTP_TIMEOUT) as c:
        yield c


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/ask", QUESTION),
        ("POST", "/v1/ask/stream", QUESTION),
        ("GET", "/v1/search?q=5G", None),
        ("GET", "/v1/articles/whatever", None),
        ("GET", "/v1/models", None),
        ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "你好"}]}),
    ],
)
def test_every_v1_route_needs_an_api_key(client: httpx.Client, method: str, path: str, body: Any) -> None:
    missing = client.request(method, path, json=body)
    error = assert_error(missing, 401, "missing_api_key", "Authorization")
    assert "Bearer" in error["message"] and error["type"] == "authentication_error"
    assert missing.headers["www-authenticate"] == "Bearer"

    wrong = client.request(method, path, json=body, headers=bearer("not-a-key"))
    assert_error(wrong, 401, "invalid_api_key", "Authorization")

    basic = client.request(method, path, json=body, headers={"Authorization": "Basic a2V5LW9uZTo="})
    assert_error(basic, 401, "missing_api_key")


def test_valid_keys_are_accepted(client: httpx.Client) -> None:
    for key in (*API_KEYS, ADMIN_KEY):
        response = client.post("/v1/ask", json=QUESTION, headers=bearer(key))
        assert response.status_code == 200, response.text
    assert client.get("/v1/search", params={"q": "5G"}, headers=bearer(API_KEYS[1])).status_code == 200


def test_health_routes_are_open(client: httpx.Client) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_ingest_needs_the_admin_key(client: httpx.Client) -> None:
    error = assert_error(client.post("/v1/ingest"), 401, "missing_admin_key", "Authorization")
    assert "admin key" in error["message"]
    error = assert_error(client.post("/v1/ingest", headers=bearer(API_KEYS[0])), 403, "admin_key_required")
    assert error["type"] == "permission_error" and "NEWSQA_ADMIN_KEY" in error["message"]
    assert_error(client.get(f"/v1/ingest/{JOB}", headers=bearer(API_KEYS[0])), 403, "admin_key_required")
    assert_error(client.get(f"/v1/ingest/{JOB}"), 401, "missing_admin_key")
    assert_error(client.get(f"/v1/ingest/{JOB}", headers=bearer(ADMIN_KEY)), 404, "job_not_found", "job_id")


def test_openai_client_with_and_without_key(keyed_server: LiveServer) -> None:
    base = f"{keyed_server.base_url}/v1"
    good = openai.OpenAI(base_url=base, api_key=API_KEYS[0], max_retries=0, timeout=HTTP_TIMEOUT)
    completion = good.chat.completions.create(model="newsqa", messages=[{"role": "user", "content": QUESTION["question"]}])
    assert completion.choices[0].message.content
    bad = openai.OpenAI(base_url=base, api_key="sk-wrong", max_retries=0, timeout=HTTP_TIMEOUT)
    with pytest.raises(openai.AuthenticationError) as caught:
        bad.models.list()
    assert "invalid API key" in str(caught.value)


def test_keys_never_appear_in_logs(client: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for key in (*API_KEYS, ADMIN_KEY, "wrong-key-e3b0c4"):
        client.post("/v1/ask", json=QUESTION, headers=bearer(key))
        client.post("/v1/ingest", headers=bearer(key) if key != ADMIN_KEY else bearer(API_KEYS[0]))
        client.get("/v1/ask", headers=bearer(key))
    assert caplog.records, "uvicorn's access log and our logs should have recorded the requests"
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    for key in (*API_KEYS, ADMIN_KEY, "wrong-key-e3b0c4"):
        assert key not in text


def test_ingest_disabled_without_admin_key(sample_settings: Any, sample_service: Any) -> None:
    settings = settings_for(sample_settings, api_keys=API_KEYS[0])
    with running_server(create_app(settings, service=sample_service)) as live, httpx.Client(
        base_url=live.base_url, timeout=HTTP_TIMEOUT
    ) as c:
        for headers in ({}, bearer(API_KEYS[0]), bearer("anything")):
            error = assert_error(c.post("/v1/ingest", headers=headers), 403, "ingest_disabled")
            assert "NEWSQA_ADMIN_KEY" in error["message"]
        assert c.post("/v1/ask", json=QUESTION, headers=bearer(API_KEYS[0])).status_code == 200


def test_cors_origins_from_settings(sample_settings: Any, sample_service: Any) -> None:
    allowed = "https://news.example.cn"
    settings = settings_for(sample_settings, cors_origins=f"{allowed}, https://other.example.cn")
    with running_server(create_app(settings, service=sample_service)) as live, httpx.Client(
        base_url=live.base_url, timeout=HTTP_TIMEOUT
    ) as c:
        preflight = c.options(
            "/v1/ask",
            headers={"Origin": allowed, "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization, content-type"},
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == allowed
        assert "POST" in preflight.headers["access-control-allow-methods"]

        simple = c.post("/v1/ask", json=QUESTION, headers={"Origin": allowed})
        assert simple.status_code == 200
        assert simple.headers["access-control-allow-origin"] == allowed
        assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()

        error = c.post("/v1/ask", json={"question": ""}, headers={"Origin": allowed})
        assert error.status_code == 422 and error.headers["access-control-allow-origin"] == allowed

        other = c.post("/v1/ask", json=QUESTION, headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in other.headers
        denied = c.options(
            "/v1/ask", headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"}
        )
        assert denied.status_code == 400 and "access-control-allow-origin" not in denied.headers
