"""The real Telegram bot (python-telegram-bot Application, long polling) against a fake Bot API server.

The bot answers from the real core over the ingested sample corpus (and, for long articles and special
characters, a small extra corpus). The fake server checks every message like Telegram would (HTML entities,
4,096-character limit, 64-byte callback data) and records every call; the bot's metrics port is scraped and parsed
with prometheus-client's parser; tests wait for recorded calls with a bounded
polling helper and never assert on timings.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.service import build_service
from bot.telegram import texts
from bot.telegram.context import BOT_DATA_KEY
from bot.telegram.format import utf16_len
from rag.models import NOT_FOUND_ANSWER, Answer
from rag.service import NewsQA
from rag.settings import Settings
from tests.conftest import make_settings
from tests.telegram_fake import BOT_USERNAME, ApiCall, FakeTelegram, StartBot, bot_starter
from tests.telegram_fake.runner import RunningBot

# Questions about the sample pages (data/articles), none from a dev set: question, answer, its source file.
SEED_QUESTION = "郏县建成了多少座5G基站？"
SEED_GOLD, SEED_SOURCE = "120", "000_a17aea0bf2d75ea6.txt"
OTHER_QUESTION = "示范区管委会主任是谁？"
UNANSWERABLE = "火星上有多少座水电站？"

@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    """A fresh fake Bot API server for one test."""
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def start_bot(telegram: FakeTelegram, sample_service: NewsQA, tmp_path: Path, packaged_model_path: str) -> Iterator[StartBot]:
    """``start_bot(service=None, **settings_overrides)`` over the sample corpus (see ``bot_starter``)."""
    with bot_starter(telegram, sample_service, tmp_path, packaged_model_path) as start:
        yield start


def _source_lines(shown: str) -> list[str]:
    # The source file, after where and when it was printed when known (《平顶山日报》 2021-12-31).
    return re.findall(r"^\[\d+\] .+（(?:《[^》]*》 ?(?:\d{4}-\d{2}-\d{2})?(?: 第?\S+版)? |\d{4}-\d{2}-\d{2} )?\S+）$", shown,
                      flags=re.M)


def _ask(telegram: FakeTelegram, text: str, **kwargs: object) -> tuple[dict, ApiCall]:
    question = telegram.send_text(text, **kwargs)  # type: ignore[arg-type]
    return question, telegram.wait_reply(question)


# --- private questions ------------------------------------------------------------------------------------------------


def test_private_question_typing_then_cited_html_reply(telegram: FakeTelegram, start_bot: StartBot) -> None:
    start_bot()
    question, reply = _ask(telegram, SEED_QUESTION, user_id=201)

    typing = [c for c in telegram.calls_of("sendChatAction") if c.chat_id == 201]
    assert typing and typing[0].params["action"] == "typing"
    assert typing[0].seq < reply.seq  # typing shown before the answer arrives
    assert reply.reply_to == question["message_id"]
    assert reply.params["parse_mode"] == "HTML"

    shown = reply.visible
    assert SEED_GOLD in shown or SEED_SOURCE in shown, shown
    assert texts.SOURCES_HEADER in shown
    sources = _source_lines(shown)
    assert sources and sources[0].startswith("[1] ")
    assert all(re.search(r"[（ ]\S+\.txt）$", line) for line in sources)

    # one button per numbered source, then 👍 / 👎
    labels = [b["text"] for b in reply.buttons]
    assert labels[-2:] == ["👍", "👎"]
    assert [label.split(" ")[0] for label in labels[:-2]] == [line.split(" ")[0] for line in sources]
    assert all(len(b["callback_data"].encode()) <= 64 for b in reply.buttons)


def test_question_without_answer_gets_not_found_text(telegram: FakeTelegram, start_bot: StartBot) -> None:
    start_bot()
    _, reply = _ask(telegram, UNANSWERABLE, user_id=202)
    assert reply.visible == NOT_FOUND_ANSWER
    assert [b["text"] for b in reply.buttons] == ["👍", "👎"]  # no sources to show, feedback still possible


def test_too_long_question_and_non_text(telegram: FakeTelegram, start_bot: StartBot) -> None:
    start_bot()
    _, reply = _ask(telegram, "问" * 1001, user_id=203)
    assert reply.visible == texts.QUESTION_TOO_LONG.format(limit=1000)
    photo = telegram.send_photo(user_id=203)
    assert telegram.wait_reply(photo).visible == texts.ONLY_TEXT
    _, reply = _ask(telegram, "/nosuchcommand", user_id=203)
    assert reply.visible == texts.UNKNOWN_COMMAND


# --- groups ----------------------------------------------------------------------------------------------------------


def test_group_answers_only_mentions_replies_and_commands(telegram: FakeTelegram, start_bot: StartBot) -> None:
    start_bot()
    group: dict[str, Any] = {"chat_id": -100777, "chat_type": "supergroup", "user_id": 301}
    plain = telegram.send_text(SEED_QUESTION, **group)
    other_bot = telegram.send_text("/help@some_other_bot", **group)
    mention, answer = _ask(telegram, f"@{BOT_USERNAME} {OTHER_QUESTION}", **group)
    assert _source_lines(answer.visible) and texts.SOURCES_HEADER in answer.visible

    bot_message = telegram.message(-100777, answer.result["message_id"])
    follow_up, reply_answer = _ask(telegram, SEED_QUESTION, reply_to=bot_message, **group)
    assert SEED_GOLD in reply_answer.visible or SEED_SOURCE in reply_answer.visible

    help_command, help_reply = _ask(telegram, "/help", **group)
    assert f"@{BOT_USERNAME}" in help_reply.visible
    addressed_help, _ = _ask(telegram, f"/help@{BOT_USERNAME}", **group)
    empty_mention, hint = _ask(telegram, f"@{BOT_USERNAME}", **group)
    assert hint.visible.startswith(f"请在 @{BOT_USERNAME} 后面写上你的问题")

    # By now the bot has fetched the earlier plain messages too: it stayed silent on them.
    answered = {c.reply_to for c in telegram.sent(-100777)}
    assert plain["message_id"] not in answered and other_bot["message_id"] not in answered
    assert answered == {
        m["message_id"] for m in (mention, follow_up, help_command, addressed_help, empty_mention)
    }


# --- access and rate limit ---------------------------------------------------------------------------------------------


def test_allow_list_refuses_others_once(telegram: FakeTelegram, start_bot: StartBot) -> None:
    start_bot(telegram_allowed_chats="401, -100402")
    first = telegram.send_text(SEED_QUESTION, user_id=499)
    second = telegram.send_text(OTHER_QUESTION, user_id=499)
    refusal = telegram.wait_reply(first)
    assert refusal.visible == texts.REFUSAL

    _, allowed = _ask(telegram, SEED_QUESTION, user_id=401)  # allowed by user id
    assert _source_lines(allowed.visible)
    _, in_group = _ask(telegram, f"@{BOT_USERNAME} {OTHER_QUESTION}", chat_id=-100402, chat_type="group", user_id=498)
    assert _source_lines(in_group.visible)  # allowed by chat id

    assert [c.visible for c in telegram.sent(499)] == [texts.REFUSAL]  # one refusal, no answer
    assert second["message_id"] not in {c.reply_to for c in telegram.sent(499)}


def test_rate_limit_sends_one_wait_message(telegram: FakeTelegram, start_bot: StartBot) -> None:
    start_bot(telegram_rate_limit=1)
    _, first = _ask(telegram, SEED_QUESTION, user_id=501)
    assert _source_lines(first.visible)
    telegram.send_text(OTHER_QUESTION, user_id=501)
    telegram.send_text(UNANSWERABLE, user_id=501)
    wait = telegram.wait_for(lambda: next((c for c in telegram.sent(501) if "提问太频繁" in c.text), None))
    assert re.fullmatch(r"提问太频繁了，请 \d+ 秒后再试。", wait.visible)
    _, other_user = _ask(telegram, OTHER_QUESTION, user_id=502)  # the limit is per user
    assert _source_lines(other_user.visible)
    _, help_reply = _ask(telegram, "/help", user_id=501)  # commands are not limited; by now all were handled
    assert "每人每分钟最多提问 1 次" in help_reply.visible
    assert len(telegram.sent(501)) == 3  # the answer, one wait message, the help


# --- buttons ----------------------------------------------------------------------------------------------------------


def test_feedback_buttons_append_to_the_feedback_file(telegram: FakeTelegram, start_bot: StartBot, tmp_path: Path) -> None:
    start_bot()
    _, reply = _ask(telegram, SEED_QUESTION, user_id=601)
    message_id = reply.result["message_id"]
    up, down = reply.buttons[-2]["callback_data"], reply.buttons[-1]["callback_data"]
    feedback = tmp_path / "feedback.jsonl"

    def lines() -> list[dict]:
        return [json.loads(line) for line in feedback.read_text("utf-8").splitlines()] if feedback.exists() else []

    query = telegram.press_button(message_id, 601, up, user_id=601)
    ack = telegram.wait_call("answerCallbackQuery", lambda c: c.params["callback_query_id"] == query)
    assert ack.params.get("text") == texts.FEEDBACK_THANKS
    edited = telegram.wait_call("editMessageReplyMarkup")
    assert [b["text"] for row in edited.params["reply_markup"]["inline_keyboard"] for b in row][-2:] == ["👍 1", "👎"]
    record = lines()[0]
    assert record["vote"] == "up" and record["question"] == SEED_QUESTION
    assert record["chat_id"] == 601 and record["user_id"] == 601 and record["message_id"] == message_id
    assert record["channel"] == "telegram" and record["conversation_id"] and record["answer_id"]
    assert record["answer"] and record["answer"] in reply.visible
    assert [s["source"] for s in record["sources"]] and all(s["title"] is not None for s in record["sources"])

    query = telegram.press_button(message_id, 601, up, user_id=601)  # same vote again: not recorded twice
    ack = telegram.wait_call("answerCallbackQuery", lambda c: c.params["callback_query_id"] == query)
    assert ack.params.get("text") == texts.FEEDBACK_ALREADY
    query = telegram.press_button(message_id, 601, down, user_id=601)  # changed vote: a new line
    telegram.wait_call("answerCallbackQuery", lambda c: c.params["callback_query_id"] == query)
    records = telegram.wait_for(lambda: lines() if len(lines()) == 2 else None, message="two feedback lines")
    assert [record["vote"] for record in records] == ["up", "down"]
    telegram.wait_for(
        lambda: [b["text"] for b in telegram.message(601, message_id)["reply_markup"]["inline_keyboard"][-1]]
        == ["👍", "👎 1"],
        message="feedback buttons show the changed vote",
    )


# --- commands ---------------------------------------------------------------------------------------------------------


def test_start_help_and_command_menu(telegram: FakeTelegram, start_bot: StartBot, sample_service: NewsQA) -> None:
    start_bot()
    stats = sample_service.stats()
    _, start = _ask(telegram, "/start", user_id=701)
    assert f"已收录 {stats.articles} 篇报道" in start.visible
    assert stats.last_ingest and stats.last_ingest[:10] in start.visible
    assert texts.EXAMPLE_QUESTION in start.visible
    _, help_reply = _ask(telegram, "/help", user_id=701)
    for command in ("/start", "/help", "/sources", "/reset", f"@{BOT_USERNAME}"):
        assert command in help_reply.visible
    menu = telegram.calls_of("setMyCommands")[0].params["commands"]
    assert [c["command"] for c in menu] == ["start", "help", "sources", "reset", "since", "until", "publication"]


def test_sources_and_reset(telegram: FakeTelegram, start_bot: StartBot, sample_service: NewsQA) -> None:
    start_bot()
    _, none_yet = _ask(telegram, "/sources", user_id=702)
    assert none_yet.visible.startswith("还没有回答过问题")

    _, answer = _ask(telegram, SEED_QUESTION, user_id=702)
    expected: Answer = sample_service.ask(SEED_QUESTION)  # the core is deterministic: same sources as the bot's
    _, sources = _ask(telegram, "/sources", user_id=702)
    shown = " ".join(sources.visible.split())
    for citation in expected.citations:
        assert f"[{citation.id}] {citation.title.strip()}" in shown
        assert citation.source in shown
        assert " ".join(citation.text.split())[:40] in shown

    _, reset = _ask(telegram, "/reset", user_id=702)
    assert reset.visible == texts.RESET_DONE
    _, after = _ask(telegram, "/sources", user_id=702)
    assert after.visible.startswith("还没有回答过问题")
    query = telegram.press_button(answer.result["message_id"], 702, answer.buttons[0]["callback_data"], user_id=702)
    expired = telegram.wait_call("answerCallbackQuery", lambda c: c.params["callback_query_id"] == query)
    assert expired.params["text"] == texts.EXPIRED_BUTTON and expired.params.get("show_alert") is True


# --- archive filters ---------------------------------------------------------------------------------------------------


def test_since_until_publication_limit_the_chat(telegram: FakeTelegram, start_bot: StartBot) -> None:
    start_bot()
    _, shown = _ask(telegram, "/since", user_id=1301)
    assert shown.visible == texts.FILTER_NONE
    _, bad = _ask(telegram, "/since 2021-13-01", user_id=1301)
    assert bad.visible.startswith("无法设置") and "since" in bad.visible
    _, now = _ask(telegram, "/since 2021-01-01", user_id=1301)
    assert "2021-01-01 及以后" in now.visible
    # The sample pages print no date: a date limit leaves no report to answer from.
    _, limited = _ask(telegram, SEED_QUESTION, user_id=1301)
    assert limited.visible.startswith(NOT_FOUND_ANSWER[:6]) and texts.SOURCES_HEADER not in limited.visible
    _, other_chat = _ask(telegram, SEED_QUESTION, user_id=1302)  # limits are per chat
    assert texts.SOURCES_HEADER in other_chat.visible
    _, cleared = _ask(telegram, "/since off", user_id=1301)
    assert cleared.visible == texts.FILTER_NONE
    _, paper = _ask(telegram, "/publication 平顶山", user_id=1301)
    assert "《平顶山》" in paper.visible
    _, answered = _ask(telegram, SEED_QUESTION, user_id=1301)
    assert texts.SOURCES_HEADER in answered.visible and "平顶山日报" in answered.visible
    _, elsewhere = _ask(telegram, "/publication 焦作", user_id=1301)
    _, none_there = _ask(telegram, SEED_QUESTION, user_id=1301)
    assert texts.SOURCES_HEADER not in none_there.visible


# --- failures ---------------------------------------------------------------------------------------------------------


class FailingNewsQA(NewsQA):
    """Test double for the failure path: the real service, except that ``ask`` raises."""

    def ask(self, question: str, *args: Any, **kwargs: Any) -> Answer:
        raise RuntimeError("answerer exploded: index shard 7 is corrupt")


def test_failing_answerer_gets_apology_and_details_only_in_log(
    telegram: FakeTelegram, start_bot: StartBot, sample_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="bot.telegram")
    start_bot(service=FailingNewsQA(sample_settings))
    _, reply = _ask(telegram, SEED_QUESTION, user_id=801)
    assert reply.visible == texts.APOLOGY
    assert all("exploded" not in c.text and "Traceback" not in c.text for c in telegram.calls_of("sendMessage"))
    telegram.wait_for(lambda: "index shard 7 is corrupt" in caplog.text, message="error details logged")
    assert "RuntimeError" in caplog.text and "Traceback" in caplog.text
    # the chat is not stuck: the next question is handled too (and fails the same polite way)
    _, again = _ask(telegram, OTHER_QUESTION, user_id=801)
    assert again.visible == texts.APOLOGY


# --- long article, special characters: an extra small corpus -------------------------------------------------------

LONG_TITLE = "长河县<数字乡村>试点 & 报告"
LONG_FACT_QUESTION = "长河县数字乡村试点覆盖了多少个行政村？"


def _long_page() -> str:
    topics = ["智慧农业", "电商物流", "远程医疗", "在线教育", "乡村治理", "文化旅游", "金融服务", "生态保护"]
    paragraphs = []
    for i in range(48):
        topic = topics[i % len(topics)]
        paragraphs.append(
            f"在{topic}方面，长河县第{i + 1}项工作稳步推进，相关部门把“数据跑路”与群众需求结合起来，"
            f"建成服务站点{10 + i}个，培训骨干{100 + 7 * i}人次，收到意见建议{i * 3 + 5}条并全部办结。"
            f"负责人表示，下一步将在<{topic}>与&创新融合上持续发力，让更多村民共享数字红利。"
        )
    paragraphs.insert(5, "截至目前，长河县数字乡村试点已覆盖27个行政村，带动农户增收明显。")
    return f"## {LONG_TITLE}\n\n" + "\n\n".join(paragraphs) + "\n"


@pytest.fixture(scope="module")
def long_service(tmp_path_factory: pytest.TempPathFactory, sample_service: NewsQA) -> Iterator[NewsQA]:
    """The real core over one page holding a single article longer than a Telegram message."""
    data_dir = tmp_path_factory.mktemp("long-corpus")
    (data_dir / "articles").mkdir()
    (data_dir / "articles" / "long_page.txt").write_text(_long_page(), encoding="utf-8")
    settings = make_settings(data_dir, sample_service.settings.embedding_model)  # type: ignore[arg-type]
    service = build_service(settings, embedder=sample_service.embedder)  # same real model, loaded once
    summary = service.ingest()
    assert summary.files_failed == 0, summary.failures
    yield service
    service.close()
    shutil.rmtree(data_dir, ignore_errors=True)


def test_source_button_then_whole_article_split_over_messages(
    telegram: FakeTelegram, start_bot: StartBot, long_service: NewsQA
) -> None:
    start_bot(service=long_service)
    _, answer = _ask(telegram, LONG_FACT_QUESTION, user_id=901)
    assert "27" in answer.visible
    assert LONG_TITLE in answer.visible  # "<" and "&" arrive intact: escaped, and accepted by the server

    expected = long_service.ask(LONG_FACT_QUESTION)
    citation = expected.citations[0]
    query = telegram.press_button(answer.result["message_id"], 901, answer.buttons[0]["callback_data"], user_id=901)
    telegram.wait_call("answerCallbackQuery", lambda c: c.params["callback_query_id"] == query)
    passage = telegram.wait_for(
        lambda: next((c for c in telegram.sent(901) if c.reply_to == answer.result["message_id"]), None)
    )
    shown = passage.visible
    assert shown.startswith(f"[1] {citation.title}") and citation.source in shown
    assert " ".join(citation.text.split()) in " ".join(shown.split())
    assert [b["text"] for b in passage.buttons] == [texts.ARTICLE_BUTTON]

    before = len(telegram.sent(901))
    telegram.press_button(passage.result["message_id"], 901, passage.buttons[0]["callback_data"], user_id=901)
    article = long_service.get_article(citation.article_id)
    assert article is not None and utf16_len(article.text) > 4096
    header = f"{article.title}\n{article.source}\n\n"

    def whole_article() -> list[ApiCall] | None:
        parts = telegram.sent(901)[before:]
        joined = "".join(c.visible for c in parts)
        return parts if re.sub(r"\s", "", joined) == re.sub(r"\s", "", header + article.text) else None

    parts = telegram.wait_for(whole_article, message="the whole article, in parts")
    assert len(parts) >= 2
    assert parts[0].reply_to == passage.result["message_id"]
    for part in parts:
        assert utf16_len(part.visible) <= 4096
    for part in parts[:-1]:
        assert part.visible.rstrip()[-1] in "。！？”"  # cut between paragraphs or sentences


# --- the bot's metrics port (NEWSQA_BOT_METRICS_PORT) ---------------------------------------------------------------

METRICS_ANSWERABLE = "郏县建成了多少座5G基站？"  # the README's example
METRICS_OFF_TOPIC = "火星基地第一任站长的名字叫什么？"


def metrics_url(bot: RunningBot) -> str:
    port = bot.application.bot_data[BOT_DATA_KEY].metrics.port
    assert port, "the metrics port is not served"
    return f"http://127.0.0.1:{port}/metrics"


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def total(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def test_metrics_port_counts_questions_answers_refusals_and_rejections(telegram: FakeTelegram, start_bot: StartBot) -> None:
    bot = start_bot(bot_metrics_port=0)
    url = metrics_url(bot)
    assert total(scrape(url), "newsqa_bot_updates_total") == 0
    found = 0
    for question in (METRICS_ANSWERABLE, METRICS_OFF_TOPIC):
        reply = telegram.wait_reply(telegram.send_text(question, user_id=501))
        found += texts.SOURCES_HEADER in reply.visible
    assert telegram.wait_reply(telegram.send_text("问" * 1001, user_id=501)).visible.startswith(
        texts.QUESTION_TOO_LONG.split("{")[0])
    telegram.wait_reply(telegram.send_text("/help", user_id=501))
    samples = scrape(url)
    assert total(samples, "newsqa_bot_updates_total", kind="question") == 3
    assert total(samples, "newsqa_bot_updates_total", kind="command") == 1
    assert total(samples, "newsqa_bot_answers_total", result="found") == found
    assert total(samples, "newsqa_bot_answers_total", result="refused") == 2 - found
    assert found == 1  # one answered, one refused: both counters were exercised
    assert total(samples, "newsqa_bot_rejected_total", reason="too_long") == 1
    assert total(samples, "newsqa_bot_errors_total") == 0
    bot.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=5)  # served only while the bot runs


def test_metrics_port_counts_errors_and_allow_list_refusals(
    telegram: FakeTelegram, start_bot: StartBot, sample_settings: Settings
) -> None:
    bot = start_bot(service=FailingNewsQA(sample_settings), bot_metrics_port=0, telegram_allowed_chats="601")
    url = metrics_url(bot)
    assert telegram.wait_reply(telegram.send_text(METRICS_ANSWERABLE, user_id=601)).visible == texts.APOLOGY
    telegram.wait_reply(telegram.send_text(METRICS_ANSWERABLE, user_id=602))  # not on the allow-list: one refusal
    samples = scrape(url)
    assert total(samples, "newsqa_bot_errors_total") == 1
    assert total(samples, "newsqa_bot_rejected_total", reason="not_allowed") == 1
    assert total(samples, "newsqa_bot_answers_total") == 0
