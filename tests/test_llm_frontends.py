"""LLM answers through every front-end, against the fake OpenAI-compatible server: the CLI (typer, in process),
the REST API (real uvicorn server: /v1/ask, /v1/ask/stream, /v1/chat/completions with the ``openai`` client) and
the Telegram bot (real python-telegram-bot application against the fake Bot API server).

Streaming is shown without timing: the fake LLM pauses after its first sentence until the test has seen that
sentence arrive (over SSE, or as the bot's first message), then finishes.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from typer.testing import CliRunner

from bot.cli import app as cli_app
from bot.rest.app import create_app
from bot.telegram import texts
from rag.models import NOT_FOUND_ANSWER
from rag.service import NewsQA
from tests.conftest import store_env
from tests.llm_fake import MODEL, FakeLLM, RecordedRequest, Reply
from tests.llm_fake.fixtures import API_KEY
from tests.rest_support.helpers import HTTP_TIMEOUT
from tests.rest_support.live import LiveServer, running_server
from tests.rest_support.sse import iter_sse
from tests.telegram_fake import FakeTelegram, StartBot, bot_starter

pytest_plugins = ["tests.llm_fake.fixtures"]

Q_5G = "郏县建成了多少座5G基站？"
Q_CHAIR = "市人大常委会主任是谁？"  # page 004: 李萍
TWO_SOURCES = "全县建成开通5G基站120座[{base}]。郏县工信局以实施创新驱动发展战略为主线[{strategy}]。"
TWO_SOURCES_FINAL = "全县建成开通5G基站120座[1]。郏县工信局以实施创新驱动发展战略为主线[2]。"


def two_sources(r: RecordedRequest) -> str:
    return TWO_SOURCES.format(base=r.source_number("120座"), strategy=r.source_number("创新驱动发展战略为主线"))


def sources_text(answer: dict[str, Any]) -> str:
    return "\n".join(f"[{c['id']}] {c['title']} — {c['source']}" for c in answer["citations"])


# --- CLI -------------------------------------------------------------------------------------------------------------


def test_cli_ask_answers_with_the_llm_and_falls_back_silently(
    llm: FakeLLM, sample_settings: Any, sample_service: NewsQA, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no developer .env
    for name, value in {
        **store_env(sample_settings),  # data dir, model, and the Chroma server collection in server mode
        "NEWSQA_LLM_BASE_URL": llm.base_url, "NEWSQA_LLM_MODEL": MODEL, "NEWSQA_LLM_API_KEY": API_KEY,
        "NEWSQA_LLM_MAX_RETRIES": "1", "NEWSQA_LLM_RETRY_BACKOFF": "0.01",
    }.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()

    llm.script("answer", Reply.text(two_sources))
    result = runner.invoke(cli_app, ["ask", Q_5G, "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["mode"] == "llm" and answer["found"] and answer["answer"] == TWO_SOURCES_FINAL
    assert [c["id"] for c in answer["citations"]] == [1, 2]
    assert "120座" in answer["citations"][0]["text"] and "创新驱动发展战略" in answer["citations"][1]["text"]

    llm.script("answer", Reply.error(500), Reply.error(500))
    result = runner.invoke(cli_app, ["ask", Q_5G])
    assert result.exit_code == 0, result.output
    expected = sample_service.ask(Q_5G)
    shown = result.stdout.replace("\n", "")  # the console wraps long lines
    assert shown.startswith(expected.answer + "来源：[1] ")  # the extractive answer, no error shown
    assert "500" not in result.stdout and "error" not in result.stdout.lower()
    assert API_KEY not in result.output


# --- REST ------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llm_server(llm_settings: Any, llm_service: NewsQA) -> Iterator[LiveServer]:
    with running_server(create_app(llm_settings, service=llm_service)) as live:
        yield live


@pytest.fixture()
def api(llm_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=llm_server.base_url, timeout=HTTP_TIMEOUT) as client:
        yield client


def test_rest_ask_with_conversation_id(llm: FakeLLM, api: httpx.Client) -> None:
    llm.script("answer", Reply.text(lambda r: f"市人大常委会主任是李萍[{r.source_number('李萍')}]。"))
    first = api.post("/v1/ask", json={"question": Q_CHAIR, "conversation_id": "web-llm-1"}).json()
    assert first["mode"] == "llm" and first["answer"] == "市人大常委会主任是李萍[1]。"
    assert len(first["citations"]) == 1 and "李萍" in first["citations"][0]["text"]

    llm.script("rewrite", Reply.text("市人大常委会主任李萍出席了什么会议？"))
    llm.script("answer", Reply.text(
        lambda r: f"李萍出席了市人大常委会机关动员部署会[{r.source_number('李萍')}]。"
    ))
    body = api.post("/v1/ask", json={"question": "她出席了什么会议？", "conversation_id": "web-llm-1"}).json()
    assert body["question"] == "她出席了什么会议？" and body["mode"] == "llm"
    assert body["answer"] == "李萍出席了市人大常委会机关动员部署会[1]。"
    assert "用户：市人大常委会主任是谁？\n助手：市人大常委会主任是李萍。" in llm.of("rewrite")[0].user
    assert llm.of("answer")[-1].question() == "市人大常委会主任李萍出席了什么会议？"

    llm.script("answer", Reply.text(NOT_FOUND_ANSWER))
    fresh = api.post("/v1/ask", json={"question": "她出席了什么会议？", "conversation_id": "web-llm-2"}).json()
    assert fresh["found"] is False and fresh["mode"] == "llm" and fresh["citations"] == []
    assert len(llm.of("rewrite")) == 1  # a new conversation id starts fresh


def test_rest_stream_sends_verified_text_while_the_model_writes(llm: FakeLLM, api: httpx.Client) -> None:
    gate = threading.Event()
    llm.script("answer", Reply.slow(two_sources, gate, pause_after="。"))
    events = []
    with api.stream("POST", "/v1/ask/stream", json={"question": Q_5G}) as response:
        assert response.status_code == 200
        for event in iter_sse(response):
            events.append(event)
            text = "".join(e.json()["delta"] for e in events if e.event == "answer")
            if not gate.is_set() and text == "全县建成开通5G基站120座[1]。":
                gate.set()  # the first sentence arrived while the model was paused: let it finish
    assert gate.is_set()
    names = [e.event for e in events]
    assert names[0] == "citations" and names[-1] == "done" and "error" not in names
    done = events[-1].json()
    assert done["mode"] == "llm" and done["answer"] == TWO_SOURCES_FINAL
    deltas = [e.json()["delta"] for e in events if e.event == "answer"]
    assert "".join(deltas) == done["answer"]
    citations = [e.json()["citations"] for e in events if e.event == "citations"]
    assert [len(c) for c in citations] == [1, 2]  # cumulative: the second source is announced before its text
    assert citations[-1] == done["citations"]
    second = names.index("citations", 1)
    assert "".join(e.json()["delta"] for e in events[:second] if e.event == "answer") == "全县建成开通5G基站120座[1]。"


def test_rest_never_shows_an_llm_error(llm: FakeLLM, api: httpx.Client, sample_service: NewsQA) -> None:
    expected = sample_service.ask(Q_5G).model_dump(mode="json")
    llm.script("answer", Reply.error(500), Reply.error(500))
    response = api.post("/v1/ask", json={"question": Q_5G})
    assert response.status_code == 200 and response.json() == expected

    llm.script("answer", Reply.malformed(), Reply.malformed())
    with api.stream("POST", "/v1/ask/stream", json={"question": Q_5G}) as stream:
        events = list(iter_sse(stream))
    assert [e.event for e in events][0] == "citations" and events[-1].event == "done"
    assert events[-1].json() == expected and "error" not in [e.event for e in events]


def test_chat_completions_use_the_chat_as_conversation(llm: FakeLLM, llm_server: LiveServer) -> None:
    client = openai.OpenAI(base_url=f"{llm_server.base_url}/v1", api_key="unused", max_retries=0, timeout=HTTP_TIMEOUT)
    messages = [
        {"role": "system", "content": "你是新闻问答助手。"},
        {"role": "user", "content": Q_CHAIR},
        {"role": "assistant", "content": "市人大常委会主任是李萍[1]。\n\n[1] 某标题 — 某文件.txt"},
        {"role": "user", "content": "她出席了什么会议？"},
    ]
    meeting = "李萍出席了市人大常委会机关动员部署会[{n}]。"
    llm.script("rewrite", Reply.text("市人大常委会主任李萍出席了什么会议？"))
    llm.script("answer", Reply.text(lambda r: meeting.format(n=r.source_number("李萍"))))
    stream = client.chat.completions.create(model="newsqa", messages=messages, stream=True)  # type: ignore[arg-type]
    content = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    answer, _, sources = content.partition("\n\n")
    assert answer == meeting.format(n=1)
    assert re.fullmatch(r"\[1\] .*市人大常委会.* — 《平顶山日报》 \S+\.txt", sources)  # the page's sidecar names the paper
    rewrite = llm.of("rewrite")[0]
    assert "用户：市人大常委会主任是谁？\n助手：市人大常委会主任是李萍。" in rewrite.user  # markers and sources dropped
    assert llm.of("answer")[0].question() == "市人大常委会主任李萍出席了什么会议？"

    llm.script("rewrite", Reply.text("市人大常委会主任李萍出席了什么会议？"))
    llm.script("answer", Reply.text(lambda r: meeting.format(n=r.source_number("李萍"))))
    completion = client.chat.completions.create(model="newsqa", messages=messages)  # type: ignore[arg-type]
    assert completion.choices[0].message.content == content  # the same reply, streamed or not


# --- Telegram --------------------------------------------------------------------------------------------------------

@pytest.fixture()
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture()
def start_bot(telegram: FakeTelegram, llm_service: NewsQA, tmp_path: Path, packaged_model_path: str) -> Iterator[StartBot]:
    """Start the real bot answering with ``llm_service`` (see ``bot_starter``)."""
    with bot_starter(telegram, llm_service, tmp_path, packaged_model_path) as start:
        yield start


def final_message(telegram: FakeTelegram, chat_id: int, message_id: int) -> dict[str, Any]:
    """The bot's message once it carries its buttons (the settled answer)."""
    return telegram.wait_for(
        lambda: (lambda m: m if m.get("reply_markup") else None)(telegram.message(chat_id, message_id)),
        message="the answer settles with its buttons",
    )


def test_bot_edits_the_reply_as_the_answer_streams(llm: FakeLLM, telegram: FakeTelegram, start_bot: StartBot) -> None:
    start_bot()
    gate = threading.Event()
    llm.script("answer", Reply.slow(two_sources, gate, pause_after="。"))
    question = telegram.send_text(Q_5G, user_id=1201)
    partial = telegram.wait_reply(question)  # the first verified sentence, while the model is paused
    assert partial.visible == "全县建成开通5G基站120座[1]。 …" and not partial.buttons
    gate.set()

    message = final_message(telegram, 1201, partial.result["message_id"])
    shown = message["text"]
    assert shown.startswith(TWO_SOURCES_FINAL + "\n\n" + texts.SOURCES_HEADER + "\n")
    lines = re.findall(r"^\[(\d)\] (.+)（(?:《[^》]*》(?: \d{4}-\d{2}-\d{2})? |\d{4}-\d{2}-\d{2} )?(\S+)）$", shown, flags=re.M)
    assert [n for n, _, _ in lines] == ["1", "2"] and all(src.endswith(".txt") for _, _, src in lines)
    labels = [b["text"] for row in message["reply_markup"]["inline_keyboard"] for b in row]
    assert [label.split(" ")[0] for label in labels] == ["[1]", "[2]", "👍", "👎"]
    assert telegram.calls_of("editMessageText")  # settled by editing the streamed message
    assert len(telegram.sent(1201)) == 1  # one reply, edited in place


def test_bot_answers_extractively_when_the_llm_fails(
    llm: FakeLLM, telegram: FakeTelegram, start_bot: StartBot, sample_service: NewsQA
) -> None:
    start_bot()
    llm.script("answer", Reply.error(500), Reply.error(429, retry_after=0))
    question = telegram.send_text(Q_5G, user_id=1202)
    first = telegram.wait_reply(question)
    message = final_message(telegram, 1202, first.result["message_id"])
    expected = sample_service.ask(Q_5G)
    assert message["text"].startswith(expected.answer + "\n\n" + texts.SOURCES_HEADER)
    assert all(texts.APOLOGY not in c.text for c in telegram.sent(1202))


def test_bot_follow_up_until_reset(llm: FakeLLM, telegram: FakeTelegram, start_bot: StartBot) -> None:
    start_bot()
    llm.script("answer", Reply.text(lambda r: f"市人大常委会主任是李萍[{r.source_number('李萍')}]。"))
    first = telegram.send_text(Q_CHAIR, user_id=1203)
    final_message(telegram, 1203, telegram.wait_reply(first).result["message_id"])

    llm.script("rewrite", Reply.text("市人大常委会主任李萍出席了什么会议？"))
    llm.script("answer", Reply.text(lambda r: f"李萍出席了市人大常委会机关动员部署会[{r.source_number('李萍')}]。"))
    follow_up = telegram.send_text("她出席了什么会议？", user_id=1203)
    message = final_message(telegram, 1203, telegram.wait_reply(follow_up).result["message_id"])
    assert message["text"].startswith("李萍出席了市人大常委会机关动员部署会[1]。")
    assert llm.of("answer")[-1].question() == "市人大常委会主任李萍出席了什么会议？"

    reset = telegram.send_text("/reset", user_id=1203)
    assert telegram.wait_reply(reset).visible == texts.RESET_DONE
    llm.script("answer", Reply.text(NOT_FOUND_ANSWER))
    again = telegram.send_text("她出席了什么会议？", user_id=1203)
    reply = telegram.wait_reply(again)
    assert final_message(telegram, 1203, reply.result["message_id"])["text"] == NOT_FOUND_ANSWER
    assert len(llm.of("rewrite")) == 1  # after /reset the question is asked as it is
    assert llm.of("answer")[-1].question() == "她出席了什么会议？"


def test_a_fabricated_slot_filler_is_never_shown_cited(llm: FakeLLM, llm_server: LiveServer, api: httpx.Client,
                                                        sample_service: NewsQA) -> None:
    """Issue 12: a model answering 张三 for 黄道镇's party secretary (the page names 王进伟) gets the extractive
    answer, over /v1/ask, /v1/ask/stream and the OpenAI-compatible route, streamed or not."""
    question = "黄道镇党委书记是谁？"
    fabricated = Reply.text(lambda r: f"黄道镇党委书记是张三[{r.source_number('王进伟')}]。")
    extractive = sample_service.ask(question).model_dump()
    assert "张三" not in extractive["answer"]

    llm.script("answer", fabricated)
    assert api.post("/v1/ask", json={"question": question}).json() == extractive

    llm.script("answer", fabricated)
    with api.stream("POST", "/v1/ask/stream", json={"question": question}) as response:
        events = list(iter_sse(response))
    assert events and events[-1].event == "done" and all("张三" not in e.data for e in events)

    client = openai.OpenAI(base_url=f"{llm_server.base_url}/v1", api_key="unused", max_retries=0, timeout=HTTP_TIMEOUT)
    for stream in (True, False):
        llm.script("answer", fabricated)
        reply = client.chat.completions.create(model="newsqa", stream=stream,  # type: ignore[call-overload]
                                               messages=[{"role": "user", "content": question}])
        content = ("".join(c.choices[0].delta.content or "" for c in reply if c.choices) if stream
                   else reply.choices[0].message.content)
        assert "张三" not in content and content.startswith(extractive["answer"])
