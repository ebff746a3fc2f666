"""Answering a question in a chat: the one place where the bot obtains an answer and sends it.

Flow of :func:`respond`: length check, per-user rate limit, then (one question at a time per chat) typing
indicator, the answer from the core with the chat's conversation id (which /reset renews, so follow-ups such as
``那郏县呢？`` are understood until then), the reply with source and feedback buttons, and the answer remembered in
the chat's state for its buttons and /sources.

Without an LLM the extractive answer is computed off the event loop (:func:`produce_answer`) and sent once
(:func:`deliver_answer`). With an LLM (``settings.llm_enabled``) :func:`stream_reply` follows the core's
:meth:`rag.service.NewsQA.ask_stream`: the first verified text is sent as the reply, the message is edited as more
arrives, at most once per :data:`EDIT_INTERVAL_PRIVATE` seconds in private chats and :data:`EDIT_INTERVAL_GROUP`
in groups (Telegram's limits: about one message per second per chat and 20 per minute per group, see
https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this), and it settles on the final
verified text with its numbered sources and buttons. Streamed text is already verified, so an edit only ever adds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Generator

from telegram import Message
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, RetryAfter, TelegramError

from rag.answering.generate import AskEvent, TextDelta
from rag.errors import EmptyStoreError, InputError
from rag.models import Answer

from . import texts
from .context import BotContext
from .format import escape, render_answer, split_html
from .keyboards import answer_keyboard
from .replies import MAX_RETRY_AFTER_SECONDS, reply_html, send_html, thread_id_of, typing_action
from .state import ChatState, StoredAnswer

log = logging.getLogger(__name__)

#: Longest question the core accepts, in characters.
MAX_QUESTION_CHARS = 1000
#: Seconds between two edits of a streaming answer in a private chat (about one message per second per chat).
EDIT_INTERVAL_PRIVATE = 1.0
#: Seconds between two edits in a group (at most 20 messages per minute per group).
EDIT_INTERVAL_GROUP = 3.0
#: Shown after the text of an answer that is still being written.
STREAMING_MARK = " …"
#: Longest partial text shown while streaming, in characters (the final answer is split over messages if needed).
PARTIAL_MAX_CHARS = 3500

_END = object()


async def produce_answer(ctx: BotContext, state: ChatState, question: str) -> Answer:
    """Ask the core, in a worker thread so other chats keep being served while this one waits.

    Raises whatever :meth:`rag.service.NewsQA.ask` raises (InputError for a bad question, NewsQAError ...).
    """
    return await asyncio.to_thread(ctx.service.ask, question, None, state.conversation_id, None,
                                   state.archive_filter)


async def deliver_answer(question_message: Message, stored: StoredAnswer) -> None:
    """Reply to the question with the answer (split if long); buttons go under the last part."""
    sent = await reply_html(question_message, render_answer(stored.answer), reply_markup=answer_keyboard(stored))
    stored.message_id = sent[-1].message_id if sent else None


class LiveReply:
    """The reply message of a streaming answer: sent with the first text, edited (throttled) as text arrives.

    Args:
        question_message: the question; the reply goes to its chat and forum topic.
        interval: seconds between two edits.
    """

    def __init__(self, question_message: Message, interval: float) -> None:
        self.question_message = question_message
        self.interval = interval
        self.message: Message | None = None
        self.text = ""
        self._shown = ""
        self._next_edit = 0.0
        self._editing = True

    @property
    def dirty(self) -> bool:
        """True when the text has grown since it was last shown."""
        return self.message is not None and self._editing and self.text != self._shown

    def seconds_to_next_edit(self) -> float:
        """Seconds until the next edit is allowed (0 when it is)."""
        return max(0.0, self._next_edit - asyncio.get_running_loop().time())

    def _partial_html(self) -> str:
        text = self.text.strip()
        if len(text) > PARTIAL_MAX_CHARS:
            text = text[:PARTIAL_MAX_CHARS]
        return escape(text) + STREAMING_MARK

    async def add(self, delta: str) -> None:
        """Append ``delta``: the first text is sent at once as the reply; later text is shown by :meth:`refresh`."""
        self.text += delta
        if self.message is None and self.text.strip():
            sent = await reply_html(self.question_message, self._partial_html())
            self.message = sent[0] if sent else None
            self._shown = self.text
            self._next_edit = asyncio.get_running_loop().time() + self.interval
        elif self.seconds_to_next_edit() == 0.0:
            await self.refresh()

    async def refresh(self) -> None:
        """Edit the message to show the current text (if it changed). Failures only stop the live edits."""
        if not self.dirty or self.message is None:
            return
        loop = asyncio.get_running_loop()
        try:
            await self.message.edit_text(self._partial_html(), parse_mode=ParseMode.HTML)
            self._shown = self.text
            self._next_edit = loop.time() + self.interval
        except RetryAfter as exc:
            self._next_edit = loop.time() + _seconds(exc.retry_after)
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                self._shown = self.text
                self._next_edit = loop.time() + self.interval
            else:
                log.debug("Stopped live edits: %s", exc)
                self._editing = False
        except TelegramError as exc:
            log.debug("Stopped live edits: %s", exc)
            self._editing = False

    async def settle(self, stored: StoredAnswer) -> None:
        """Show the final answer with its sources and buttons: edit the live message into the first part (after
        the edit interval) and send any further parts; without a live message (or if it cannot be edited), send
        the answer as a new reply."""
        if self.message is None:
            await deliver_answer(self.question_message, stored)
            return
        keyboard = answer_keyboard(stored)
        parts = split_html(render_answer(stored.answer)) or [escape(stored.answer.answer)]
        await asyncio.sleep(self.seconds_to_next_edit())
        try:
            await _edit_once(self.message, parts[0], keyboard if len(parts) == 1 else None)
        except TelegramError as exc:
            log.warning("Could not edit the streamed answer (%s); sending it anew", exc)
            await deliver_answer(self.question_message, stored)
            return
        last = self.message
        for index, part in enumerate(parts[1:], 2):
            sent = await send_html(
                self.question_message.get_bot(), self.question_message.chat.id, part,
                reply_to=self.message.message_id, thread_id=thread_id_of(self.question_message),
                reply_markup=keyboard if index == len(parts) else None,
            )
            last = sent[-1] if sent else last
        stored.message_id = last.message_id


def _seconds(delay: object) -> float:
    return delay.total_seconds() if hasattr(delay, "total_seconds") else float(delay)  # type: ignore[arg-type]


async def _edit_once(message: Message, html_text: str, keyboard: object) -> None:
    """Edit ``message`` to ``html_text`` with ``keyboard``; sit out one bounded flood-control wait."""
    for attempt in (1, 2):
        try:
            await message.edit_text(html_text, parse_mode=ParseMode.HTML, reply_markup=keyboard)  # type: ignore[arg-type]
            return
        except RetryAfter as exc:
            seconds = _seconds(exc.retry_after)
            if attempt == 2 or seconds > MAX_RETRY_AFTER_SECONDS:
                raise
            await asyncio.sleep(seconds)
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return
            raise


async def stream_reply(ctx: BotContext, state: ChatState, message: Message, question: str) -> StoredAnswer:
    """Answer ``question`` by streaming: send the first verified text, edit as more arrives (throttled), settle on
    the final answer with sources and buttons. The core runs in worker threads.

    Raises whatever the core raises before the first event (InputError for a bad question, NewsQAError ...).
    """
    group = message.chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)
    live = LiveReply(message, EDIT_INTERVAL_GROUP if group else EDIT_INTERVAL_PRIVATE)
    events: Generator[AskEvent, None, None] = ctx.service.ask_stream(
        question, None, state.conversation_id, None, state.archive_filter)
    answer: Answer | None = None
    pending = asyncio.ensure_future(asyncio.to_thread(next, events, _END))
    try:
        while True:
            timeout = live.seconds_to_next_edit() if live.dirty else None
            done, _ = await asyncio.wait({pending}, timeout=timeout)
            if not done:
                await live.refresh()
                continue
            event = pending.result()
            if event is _END:
                break
            if isinstance(event, TextDelta):
                await live.add(event.text)
            elif isinstance(event, Answer):
                answer = event
            pending = asyncio.ensure_future(asyncio.to_thread(next, events, _END))
    finally:
        if not pending.done():
            with contextlib.suppress(Exception):
                await pending
        with contextlib.suppress(ValueError):
            await asyncio.to_thread(events.close)
    if answer is None:
        raise RuntimeError("the core's answer stream ended without an answer")
    stored = state.remember(answer)
    await live.settle(stored)
    return stored


async def respond(ctx: BotContext, message: Message, question: str) -> None:
    """Answer ``question`` asked in ``message``: rate limit, typing, answer, reply with sources and buttons.

    A question the core rejects (InputError) gets its reason, one asked before anything was ingested
    (EmptyStoreError) says so and how to fix it; any other error propagates to the application's
    error handler, which logs it and apologises. LLM failures never reach here (the core answers extractively).
    """
    if len(question) > MAX_QUESTION_CHARS:
        ctx.metrics.reject("too_long")
        await reply_html(message, texts.QUESTION_TOO_LONG.format(limit=MAX_QUESTION_CHARS))
        return
    user_id = message.from_user.id if message.from_user else message.chat.id
    decision = ctx.limiter.check(user_id)
    if not decision.allowed:
        log.info("Rate limit: user %s must wait %.0f s", user_id, decision.retry_after)
        ctx.metrics.reject("rate_limited")
        if decision.notify:
            await reply_html(message, texts.RATE_LIMITED.format(seconds=decision.retry_after_seconds))
        return
    state = ctx.states.get(message.chat.id)
    async with state.lock:
        streaming = ctx.service.settings.llm_enabled
        try:
            async with typing_action(message):
                if streaming:
                    stored = await stream_reply(ctx, state, message, question)  # delivered as it streams
                else:
                    stored = state.remember(await produce_answer(ctx, state, question))
        except InputError as exc:
            ctx.metrics.reject("bad_question")
            await reply_html(message, texts.BAD_QUESTION.format(reason=escape(str(exc))))
            return
        except EmptyStoreError as exc:
            log.warning("Question in chat %s before anything was ingested: %s", message.chat.id, exc)
            ctx.metrics.reject("empty_archive")
            await reply_html(message, texts.EMPTY_ARCHIVE)
            return
        answer = stored.answer
        ctx.metrics.observe_answer(answer)
        log.info(
            "Answered chat %s: found=%s mode=%s citations=%d", message.chat.id, answer.found, answer.mode,
            len(answer.citations),
        )
        if not streaming:
            await deliver_answer(message, stored)
