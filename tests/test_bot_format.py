"""Telegram bot building blocks without a server: HTML rendering and splitting, callback data, rate limit,
feedback file, per-chat state, token redaction in logs."""

from __future__ import annotations

import json
import logging
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.feedback_log import FeedbackLog
from bot.telegram import texts
from bot.telegram.format import (
    MAX_MESSAGE_CHARS,
    escape,
    render_answer,
    render_article,
    render_passage,
    render_sources,
    render_start,
    source_button_label,
    split_html,
    utf16_len,
)
from bot.telegram.keyboards import (
    MAX_CALLBACK_BYTES,
    answer_keyboard,
    callback_data,
    parse_callback,
    passage_keyboard,
)
from bot.telegram.logsafe import REDACTED, TokenRedactingFilter, protect_token
from bot.telegram.ratelimit import RateLimiter
from bot.telegram.state import ChatStates
from rag.models import NOT_FOUND_ANSWER, Answer, Article, Citation, StoreStats
from tests.telegram_fake import visible_text
from tests.telegram_fake.html_check import TelegramHtmlError

NASTY = 'a<b>&amp; "quotes" <script>alert(1)</script> & 5 > 3 < 4 &lt;'


def _citation(n: int, **kw: object) -> Citation:
    data = {
        "id": n,
        "title": f"标题{n}",
        "source": f"00{n}_page.txt",
        "article_id": f"art-{n}",
        "chunk_id": f"chunk-{n}",
        "text": f"第{n}段引用的原文。",
        "score": 0.5,
    }
    data.update(kw)
    return Citation(**data)  # type: ignore[arg-type]


def _no_space(text: str) -> str:
    return re.sub(r"\s+", "", text)


# --- rendering -------------------------------------------------------------------------------------------------------


def test_answer_lists_numbered_sources_with_title_and_file() -> None:
    answer = Answer(question="q", answer="郏县建成5G基站300座[1]。", found=True, citations=[_citation(1), _citation(2)])
    html = render_answer(answer)
    shown = visible_text(html)
    assert shown.startswith("郏县建成5G基站300座[1]。")
    assert "[1] 标题1（001_page.txt）" in shown
    assert "[2] 标题2（002_page.txt）" in shown


def test_not_found_answer_has_no_sources() -> None:
    answer = Answer(question="q", answer=NOT_FOUND_ANSWER, found=False)
    assert visible_text(render_answer(answer)) == NOT_FOUND_ANSWER


def test_every_text_field_is_escaped() -> None:
    citation = _citation(1, title=NASTY, source=NASTY, text=NASTY)
    answer = Answer(question=NASTY, answer=NASTY, found=True, citations=[citation])
    article = Article(article_id="x", title=NASTY, source=NASTY, position=0, text=NASTY, chunk_ids=[])
    for html in (
        render_answer(answer),
        render_passage(citation),
        render_sources(answer),
        render_article(article),
        render_start(StoreStats(articles=1, chunks=2, files=1, embedding_model=None, dimension=None, last_ingest=None), NASTY),
    ):
        shown = visible_text(html)  # raises like Telegram's "can't parse entities" would
        assert NASTY in shown


def test_escape_drops_control_characters_and_normalises_newlines() -> None:
    assert escape("a\x00b\x07c\r\nd\re") == "abc\nd\ne"


def test_start_shows_counts_date_and_example() -> None:
    stats = StoreStats(
        articles=42, chunks=300, files=5, embedding_model="m", dimension=384, last_ingest="2024-05-06T07:08:09+00:00"
    )
    shown = visible_text(render_start(stats, "示例问题？"))
    assert "42 篇报道" in shown and "2024-05-06" in shown and "示例问题？" in shown
    never = StoreStats(articles=0, chunks=0, files=0, embedding_model=None, dimension=None, last_ingest=None)
    assert texts.NOTHING_INGESTED in visible_text(render_start(never, "q"))


def test_button_label_is_short() -> None:
    label = source_button_label(_citation(3, title="很长的标题" * 20))
    assert label.startswith("[3] ") and label.endswith("…") and len(label) <= 4 + 24


# --- splitting -------------------------------------------------------------------------------------------------------


def test_short_text_is_one_part() -> None:
    assert split_html("<b>x</b> y") == ["<b>x</b> y"]
    assert split_html("  <b> </b> ") == []


def test_splits_on_paragraphs_first() -> None:
    paragraphs = [f"第{i}段。" + "内容" * 40 for i in range(30)]
    parts = split_html("\n\n".join(paragraphs), limit=500)
    assert len(parts) > 1
    for part in parts:
        assert utf16_len(part) <= 500
        assert part.startswith("第") and part.endswith("内容")  # every cut is between paragraphs


def test_long_paragraph_splits_on_sentences_and_keeps_markers() -> None:
    sentence = "这是一个比较长的句子，里面有数字12345和引用[12]。"
    text = sentence * 200  # one paragraph, no newlines
    parts = split_html(escape(text), limit=300)
    assert len(parts) > 1
    for part in parts:
        assert utf16_len(part) <= 300
        assert part.endswith("[12]。"), part[-20:]  # cut after a sentence, marker kept with it
    assert "".join(parts) == text


def test_marker_after_sentence_end_stays_with_sentence() -> None:
    text = ("句子结束了。[3]" + "下一句" * 5) * 100
    for part in split_html(text, limit=200):
        assert not part.startswith("[3]")
        assert not re.search(r"\[\d*$", part)


def test_tags_are_closed_and_reopened_across_parts() -> None:
    html = "<b>标题</b>\n\n<blockquote>" + "引用的句子。" * 300 + "</blockquote>"
    parts = split_html(html, limit=400)
    assert len(parts) > 2
    for part in parts[1:]:
        assert part.startswith("<blockquote>") and part.endswith("</blockquote>")
    for part in parts:
        visible_text(part)
        assert utf16_len(part) <= 400
    assert _no_space("".join(visible_text(p) for p in parts)) == _no_space(visible_text(html))


def test_hard_cut_never_breaks_entities() -> None:
    html = escape("<&>" * 2000)  # no break points at all
    parts = split_html(html, limit=100)
    assert "".join(visible_text(p) for p in parts) == "<&>" * 2000


def test_emoji_count_as_two_units() -> None:
    parts = split_html("😀" * 3000)
    assert [utf16_len(p) for p in parts] == [4096, 1904]


@settings(max_examples=150, deadline=None)
@given(
    text=st.lists(
        st.sampled_from(list("报道中的句子。，！？;；…”」 \n<>&\"'ab[]12") + ["[1]", "[23]", "😀", "\n\n"]),
        max_size=1500,
    ).map("".join),
    limit=st.integers(min_value=40, max_value=600),
)
def test_split_property(text: str, limit: int) -> None:
    html = f"<b>{escape('标题&<')}</b>\n<i>src</i>\n\n<blockquote>{escape(text)}</blockquote>"
    parts = split_html(html, limit=limit)
    for part in parts:
        assert utf16_len(part) <= limit
        visible_text(part)  # each part parses on its own
    assert _no_space("".join(visible_text(p) for p in parts)) == _no_space(visible_text(html))


def test_html_checker_rejects_what_telegram_rejects() -> None:
    for bad in ("a < b", "<b>x", "<div>x</div>", "a & b", "&nbsp;", "<b><i>x</b></i>"):
        with pytest.raises(TelegramHtmlError):
            visible_text(bad)
    assert visible_text("&lt;&amp;&gt;&quot;&#39;") == "<&>\"'"


def test_full_message_limit_default() -> None:
    assert MAX_MESSAGE_CHARS == 4096


# --- keyboards -------------------------------------------------------------------------------------------------------


def test_callback_data_fits_and_round_trips() -> None:
    states = ChatStates()
    state = states.get(-1001234567890)
    stored = state.remember(Answer(question="q", answer="a", found=True, citations=[_citation(i) for i in range(1, 21)]))
    markup = answer_keyboard(stored)
    datas = [b.callback_data for row in markup.inline_keyboard for b in row]
    datas += [b.callback_data for row in passage_keyboard(stored, 20).inline_keyboard for b in row]
    assert len(datas) == 20 + 2 + 1
    for data in datas:
        assert isinstance(data, str) and len(data.encode()) <= MAX_CALLBACK_BYTES
        assert parse_callback(data) is not None
    assert parse_callback("s:zz:1") is None and parse_callback(None) is None
    with pytest.raises(ValueError):
        callback_data("s", "k" * 70, 1)


# --- state -----------------------------------------------------------------------------------------------------------


def test_reset_forgets_answers_and_renews_the_conversation() -> None:
    state = ChatStates().get(7)
    first = state.remember(Answer(question="q", answer="a", found=False))
    conversation = state.conversation_id
    assert state.get(first.key) is first and state.last_answer is first
    state.reset()
    assert state.get(first.key) is None and state.last_answer is None
    assert state.conversation_id != conversation
    second = state.remember(Answer(question="q", answer="a", found=False))
    assert second.key != first.key  # a stale button never points at a newer answer


def test_chat_states_are_bounded() -> None:
    states = ChatStates(max_chats=3)
    for chat_id in range(10):
        states.get(chat_id)
    assert len(states) == 3


# --- rate limit ------------------------------------------------------------------------------------------------------


def test_rate_limit_window_and_single_notification() -> None:
    now = [1000.0]
    limiter = RateLimiter(2, window=60, clock=lambda: now[0])
    assert limiter.check("u").allowed and limiter.check("u").allowed
    refused = limiter.check("u")
    assert not refused.allowed and refused.notify and refused.retry_after_seconds == 60
    assert not limiter.check("u").notify  # one wait message per blocked period
    assert limiter.check("other").allowed  # per user
    now[0] += 30
    assert limiter.check("u").retry_after_seconds == 30
    now[0] += 31  # both earlier questions left the window
    assert limiter.check("u").allowed and limiter.check("u").allowed
    again = limiter.check("u")
    assert not again.allowed and again.notify  # a new blocked period gets its own wait message
    now[0] += 1000
    limiter.check("x")  # sweeps idle users
    assert set(limiter._hits) == {"x"}


# --- feedback --------------------------------------------------------------------------------------------------------


def test_feedback_appends_json_lines(tmp_path) -> None:  # noqa: ANN001
    log = FeedbackLog(tmp_path / "sub" / "feedback.jsonl")
    answer = Answer(question="问？", answer="答[1]", found=True, citations=[_citation(1)])
    log.record(answer=answer, vote="up", channel="telegram", chat_id=1, user_id=2, message_id=3)
    log.record(answer=answer, vote="down", channel="web", conversation_id="web-1", answer_id="a1")
    lines = [json.loads(line) for line in (tmp_path / "sub" / "feedback.jsonl").read_text("utf-8").splitlines()]
    assert [line["vote"] for line in lines] == ["up", "down"]
    assert [line["channel"] for line in lines] == ["telegram", "web"]
    assert (lines[1]["conversation_id"], lines[1]["answer_id"], lines[1]["chat_id"]) == ("web-1", "a1", None)
    assert lines[0]["question"] == "问？" and lines[0]["answer"] == "答[1]"
    assert lines[0]["sources"][0] == {
        "id": 1, "title": "标题1", "source": "001_page.txt", "article_id": "art-1", "chunk_id": "chunk-1"
    }


# --- token in logs ---------------------------------------------------------------------------------------------------


def test_token_is_redacted_from_messages_args_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    token = "987654:SECRET-token-value"
    redactor = TokenRedactingFilter({token})
    caplog.handler.addFilter(redactor)
    try:
        logger = logging.getLogger("bot.telegram.test")
        logger.warning("HTTP Request: POST http://x/bot%s/getMe", token)
        try:
            raise RuntimeError(f"The token `{token}` was rejected by the server.")
        except RuntimeError:
            logger.exception("failed")
        caplog.handler.flush()
        output = caplog.text
    finally:
        caplog.handler.removeFilter(redactor)
    assert token not in output
    assert output.count(REDACTED) >= 2


def test_protect_token_quiets_httpx() -> None:
    logging.getLogger("httpx").setLevel(logging.NOTSET)
    protect_token("111:abc")
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING
