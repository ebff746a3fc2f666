"""The Telegram bot's own Prometheus port (``NEWSQA_BOT_METRICS_PORT``): the real bot against the fake Bot API
server, scraped over HTTP and parsed with prometheus-client's parser; counters move with questions, answers,
refusals, rejections and errors; the port is served only while the bot runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.telegram import texts
from bot.telegram.context import BOT_DATA_KEY
from rag.models import Answer
from rag.service import NewsQA
from rag.settings import Settings
from tests.telegram_fake import FakeTelegram, StartBot, bot_starter
from tests.telegram_fake.runner import RunningBot

ANSWERABLE = "郏县建成了多少座5G基站？"
OFF_TOPIC = "火星基地第一任站长的名字叫什么？"


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def start_bot(telegram: FakeTelegram, sample_service: NewsQA, tmp_path: Path, packaged_model_path: str) -> Iterator[StartBot]:
    with bot_starter(telegram, sample_service, tmp_path, packaged_model_path) as start:
        yield start


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


def test_questions_answers_refusals_and_rejections_are_counted(telegram: FakeTelegram, start_bot: StartBot) -> None:
    bot = start_bot(bot_metrics_port=0)
    url = metrics_url(bot)
    assert total(scrape(url), "newsqa_bot_updates_total") == 0
    found = 0
    for question in (ANSWERABLE, OFF_TOPIC):
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


class FailingNewsQA(NewsQA):
    """Test double for the error path: the real service, except that ``ask`` raises."""

    def ask(self, question: str, *args: Any, **kwargs: Any) -> Answer:
        raise RuntimeError("answerer exploded")


def test_errors_and_allow_list_refusals_are_counted(
    telegram: FakeTelegram, start_bot: StartBot, sample_settings: Settings
) -> None:
    bot = start_bot(service=FailingNewsQA(sample_settings), bot_metrics_port=0, telegram_allowed_chats="601")
    url = metrics_url(bot)
    assert telegram.wait_reply(telegram.send_text(ANSWERABLE, user_id=601)).visible == texts.APOLOGY
    telegram.wait_reply(telegram.send_text(ANSWERABLE, user_id=602))  # not on the allow-list: one refusal
    samples = scrape(url)
    assert total(samples, "newsqa_bot_errors_total") == 1
    assert total(samples, "newsqa_bot_rejected_total", reason="not_allowed") == 1
    assert total(samples, "newsqa_bot_answers_total") == 0
