"""Bad input gets 4xx JSON naming the field; oversized bodies get 413; unexpected errors a 500 with a request id
that is also in the log, and never a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from bot.rest.app import create_app
from rag.service import NewsQA
from tests.rest_support.helpers import HTTP_TIMEOUT, assert_error, settings_for
from tests.rest_support.live import LiveServer, running_server

pytest_plugins = ["tests.rest_support.fixtures"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"question": ""}, "question"),
        ({"question": "   \n\t "}, "question"),
        ({"question": "问" * 1001}, "question"),
        ({"question": "5G\x00基站"}, "question"),
        ({}, "question"),
        ({"question": None}, "question"),
        ({"question": 42}, "question"),
        ({"question": "郏县建成了多少座5G基站？", "top_k": 0}, "top_k"),
        ({"question": "郏县建成了多少座5G基站？", "top_k": 21}, "top_k"),
        ({"question": "郏县建成了多少座5G基站？", "top_k": "many"}, "top_k"),
        ({"question": "郏县建成了多少座5G基站？", "conversation_id": "x" * 129}, "conversation_id"),
        ({"question": "郏县建成了多少座5G基站？", "topk": 3}, "topk"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/ask", "/v1/ask/stream"])
def test_bad_ask_bodies_name_the_field(api: httpx.Client, path: str, body: dict[str, Any], field: str) -> None:
    error = assert_error(api.post(path, json=body), 422, "validation_error", field)
    assert error["type"] == "invalid_request_error"
    assert error["fields"][0]["field"] == field


def test_question_of_1000_characters_is_accepted(api: httpx.Client) -> None:
    response = api.post("/v1/ask", json={"question": "郏县5G基站" + "问" * 994})
    assert response.status_code == 200, response.text


def test_bad_json_is_400(api: httpx.Client) -> None:
    response = api.post("/v1/ask", content=b'{"question": "5G', headers={"Content-Type": "application/json"})
    error = assert_error(response, 400, "invalid_json", "body")
    assert "JSON" in error["message"]


def test_body_not_an_object_is_422(api: httpx.Client) -> None:
    assert_error(api.post("/v1/ask", json=["郏县"]), 422, "validation_error", "body")
    assert_error(api.post("/v1/ask", content=b"question=x", headers={"Content-Type": "text/plain"}), 422)


def test_body_over_the_limit_is_413(api: httpx.Client, sample_settings: Any) -> None:
    limit = sample_settings.max_body_bytes
    big = {"question": "问" * 5, "padding": "x" * (limit + 10)}
    error = assert_error(api.post("/v1/ask", json=big), 413, "body_too_large", "body")
    assert str(limit) in error["message"]

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted while read
        yield b'{"question": "'
        for _ in range(limit // 1000 + 2):
            yield b"x" * 1000
        yield b'"}'

    response = api.post("/v1/chat/completions", content=chunked(), headers={"Content-Type": "application/json"})
    assert_error(response, 413, "body_too_large", "body")
    assert api.get("/healthz").status_code == 200  # the server is fine afterwards


@pytest.mark.parametrize(
    ("params", "field"),
    [({}, "q"), ({"q": ""}, "q"), ({"q": "  "}, "q"), ({"q": "问" * 1001}, "q"), ({"q": "5G", "top_k": 0}, "top_k"),
     ({"q": "5G", "top_k": 21}, "top_k"), ({"q": "5G", "top_k": "x"}, "top_k")],
)
def test_bad_search_parameters_name_the_field(api: httpx.Client, params: dict[str, Any], field: str) -> None:
    assert_error(api.get("/v1/search", params=params), 422, "validation_error", field)


def test_ingest_routes_are_disabled_without_admin_key(api: httpx.Client) -> None:
    # ingest over HTTP is disabled on this server: every ingest route answers 403 first
    assert_error(api.post("/v1/ingest"), 403, "ingest_disabled")
    assert_error(api.get("/v1/ingest/0123456789abcdef0123456789abcdef"), 403, "ingest_disabled")


class FailingService(NewsQA):
    """Test double for the failure path only: ``ask`` raises an unexpected error; nothing else is used."""

    def __init__(self, settings: Any) -> None:  # no store, no model
        self.settings = settings

    def warm_up(self) -> None:
        return None

    def ask(self, question: str, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom: /secret/internal/path password=hunter2")

    def close(self) -> None:
        return None


@pytest.fixture(scope="module")
def failing_server(sample_settings: Any) -> Iterator[LiveServer]:
    settings = settings_for(sample_settings)
    with running_server(create_app(settings, service=FailingService(settings))) as live:
        yield live


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/ask", {"question": "郏县建成了多少座5G基站？"}),
        ("/v1/ask/stream", {"question": "郏县建成了多少座5G基站？"}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "郏县建成了多少座5G基站？"}]}),
        ("/v1/chat/completions", {"stream": True, "messages": [{"role": "user", "content": "郏县建成了多少座5G基站？"}]}),
    ],
)
def test_unexpected_error_is_500_with_request_id_in_body_and_log(
    failing_server: LiveServer, caplog: pytest.LogCaptureFixture, path: str, body: dict[str, Any]
) -> None:
    caplog.set_level(logging.ERROR, logger="newsqa")
    with httpx.Client(base_url=failing_server.base_url, timeout=HTTP_TIMEOUT) as client:
        response = client.post(path, json=body)
    error = assert_error(response, 500, "internal_error")
    request_id = response.json()["request_id"]
    assert request_id in error["message"]
    assert "boom" not in response.text and "hunter2" not in response.text and "RuntimeError" not in response.text
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged, "the request id of the 500 must be in the log"
    assert logged[0].exc_info is not None  # the traceback goes to the log, not to the client


def test_unexpected_error_reaches_the_openai_client_as_500(failing_server: LiveServer) -> None:
    client = openai.OpenAI(base_url=f"{failing_server.base_url}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="newsqa", messages=[{"role": "user", "content": "郏县有多少5G基站？"}])
    assert "request id" in str(caught.value)
