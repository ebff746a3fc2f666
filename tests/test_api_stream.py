"""Streaming answers (SSE) and the OpenAI-compatible chat route, read over the wire and with the ``openai`` client."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from bot.rest.streaming import DELTA_MAX_CHARS
from tests.rest_support.helpers import HTTP_TIMEOUT, assert_error
from tests.rest_support.live import LiveServer
from tests.rest_support.sse import iter_sse

pytest_plugins = ["tests.rest_support.fixtures"]

QUESTION = "示范区有几家企业入选专精特新名单？"


def expected_content(answer: dict[str, Any]) -> str:
    """Answer, blank line, then one ``[n] 标题 — 《报刊》日期 版次 source`` line per citation."""
    lines = []
    for c in answer["citations"]:
        printed = (f"《{c['publication']}》" if c["publication"] else "") + (c["published"] or "")
        printed = " ".join(p for p in (printed, c["page"] or "") if p)
        lines.append(f"[{c['id']}] {c['title']} — {printed + ' ' if printed else ''}{c['source']}")
    return answer["answer"] + ("\n\n" + "\n".join(lines) if lines else "")


@pytest.fixture()
def oai(sample_server: LiveServer) -> openai.OpenAI:
    """The official OpenAI client pointed at the test server (no retries, so failures show at once)."""
    return openai.OpenAI(base_url=f"{sample_server.base_url}/v1", api_key="unused", max_retries=0, timeout=HTTP_TIMEOUT)


def test_ask_stream_sends_citations_deltas_done(api: httpx.Client) -> None:
    reference = api.post("/v1/ask", json={"question": QUESTION}).json()
    with api.stream("POST", "/v1/ask/stream", json={"question": QUESTION}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        events = list(iter_sse(response))

    names = [e.event for e in events]
    assert names[0] == "citations" and names[-1] == "done"
    assert names.count("citations") == 1 and names.count("done") == 1
    assert set(names[1:-1]) == {"answer"}

    first = events[0].json()
    assert first == {"question": reference["question"], "citations": reference["citations"]}
    deltas = [e.json()["delta"] for e in events[1:-1]]
    assert "".join(deltas) == reference["answer"]
    assert all(0 < len(d) <= DELTA_MAX_CHARS or d.startswith("[") for d in deltas)
    assert events[-1].json() == reference


def test_ask_stream_validates_before_streaming(api: httpx.Client) -> None:
    response = api.post("/v1/ask/stream", json={"question": "   "})
    assert_error(response, 422, "validation_error", "question")


def test_chat_completion_shape_over_http(api: httpx.Client) -> None:
    reference = api.post("/v1/ask", json={"question": QUESTION}).json()
    request = {
        "model": "newsqa",
        "messages": [
            {"role": "system", "content": "你是新闻问答助手。"},
            {"role": "user", "content": "黄道镇如何发展文旅产业？"},
            {"role": "assistant", "content": "……"},
            {"role": "user", "content": QUESTION},
        ],
        "temperature": 0.2,
        "some_future_option": True,
    }
    response = api.post("/v1/chat/completions", json=request)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert isinstance(body["created"], int) and body["model"] == "newsqa"
    assert len(body["choices"]) == 1
    choice = body["choices"][0]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == expected_content(reference)
    assert "\n\n[1] " in choice["message"]["content"]
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0


def test_chat_completion_with_openai_client(oai: openai.OpenAI, api: httpx.Client) -> None:
    reference = api.post("/v1/ask", json={"question": QUESTION}).json()
    completion = oai.chat.completions.create(model="any-model-name", messages=[{"role": "user", "content": QUESTION}])
    assert completion.object == "chat.completion"
    assert completion.model == "any-model-name"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == expected_content(reference)
    assert completion.usage is not None and completion.usage.completion_tokens > 0


def test_chat_completion_text_parts(oai: openai.OpenAI, api: httpx.Client) -> None:
    reference = api.post("/v1/ask", json={"question": QUESTION}).json()
    completion = oai.chat.completions.create(
        model="newsqa",
        messages=[{"role": "user", "content": [{"type": "text", "text": "示范区有几家企业"}, {"type": "text", "text": "入选专精特新名单？"}]}],
    )
    assert completion.choices[0].message.content == expected_content(reference)


def test_chat_completion_stream_with_openai_client(oai: openai.OpenAI, api: httpx.Client) -> None:
    reference = api.post("/v1/ask", json={"question": QUESTION}).json()
    stream = oai.chat.completions.create(
        model="newsqa",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    with_choices = [c for c in chunks if c.choices]
    assert with_choices[0].choices[0].delta.role == "assistant"
    content = "".join(c.choices[0].delta.content or "" for c in with_choices)
    assert content == expected_content(reference)
    assert [c.choices[0].finish_reason for c in with_choices][-1] == "stop"
    assert all(c.choices[0].finish_reason is None for c in with_choices[:-1])
    assert len(with_choices) > 3  # really streamed in pieces
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.usage is not None
    assert usage_chunk.usage.completion_tokens == len(content)


def test_chat_completion_stream_wire_format(api: httpx.Client) -> None:
    request = {"model": "newsqa", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    with api.stream("POST", "/v1/chat/completions", json=request) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = list(iter_sse(response))
    assert all(e.event == "message" for e in events)
    assert events[-1].data == "[DONE]"
    chunks = [e.json() for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": None}


def test_models_list_with_openai_client(oai: openai.OpenAI) -> None:
    models = oai.models.list()
    assert [m.id for m in models.data] == ["newsqa"]


def test_chat_completion_errors_reach_the_openai_client(oai: openai.OpenAI, api: httpx.Client) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        oai.chat.completions.create(model="newsqa", messages=[{"role": "system", "content": "你好"}])
    assert "messages" in str(caught.value)

    response = api.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "  "}]})
    assert_error(response, 422, "validation_error", "messages[0].content")
    response = api.post("/v1/chat/completions", json={"messages": []})
    assert_error(response, 422, "validation_error", "messages")
    response = api.post("/v1/chat/completions", json={"messages": [{"role": "wizard", "content": "你好"}]})
    assert_error(response, 422, "validation_error", "messages[0].role")
    long_question = "问" * 1001
    response = api.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": long_question}]})
    assert_error(response, 422, "validation_error", "messages[0].content")
