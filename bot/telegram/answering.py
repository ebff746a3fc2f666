"""Answering a question in a chat: the one place where the bot obtains an answer and sends it.

Flow of :func:`respond`: length check, per-user rate limit, then (one question at a time per chat) typing
indicator, :func:`produce_answer` off the event loop, :func:`deliver_answer` with source and feedback buttons,
and the answer remembered in the chat's state for its buttons and /sources.

Seams for streaming LLM answers and conversations (issue 5): :func:`produce_answer` is the only call into the
core's answerer and passes the chat's conversation id (which /reset renews); :func:`deliver_answer` is the only
place an answer message is sent, so it can become "send a placeholder, edit it as tokens arrive, settle on the
final text and buttons".
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Message

from rag.errors import InputError
from rag.models import Answer

from . import texts
from .context import BotContext
from .format import escape, render_answer
from .keyboards import answer_keyboard
from .replies import reply_html, typing_action
from .state import ChatState, StoredAnswer

log = logging.getLogger(__name__)

#: Longest question the core accepts, in characters.
MAX_QUESTION_CHARS = 1000


async def produce_answer(ctx: BotContext, state: ChatState, question: str) -> Answer:
    """Ask the core, in a worker thread so other chats keep being served while this one waits.

    Raises whatever :meth:`rag.service.NewsQA.ask` raises (InputError for a bad question, NewsQAError ...).
    """
    return await asyncio.to_thread(ctx.service.ask, question, None, state.conversation_id)


async def deliver_answer(question_message: Message, stored: StoredAnswer) -> None:
    """Reply to the question with the answer (split if long); buttons go under the last part."""
    sent = await reply_html(question_message, render_answer(stored.answer), reply_markup=answer_keyboard(stored))
    stored.message_id = sent[-1].message_id if sent else None


async def respond(ctx: BotContext, message: Message, question: str) -> None:
    """Answer ``question`` asked in ``message``: rate limit, typing, answer, reply with sources and buttons.

    A question the core rejects (InputError) gets its reason; any other error propagates to the application's
    error handler, which logs it and apologises.
    """
    if len(question) > MAX_QUESTION_CHARS:
        await reply_html(message, texts.QUESTION_TOO_LONG.format(limit=MAX_QUESTION_CHARS))
        return
    user_id = message.from_user.id if message.from_user else message.chat.id
    decision = ctx.limiter.check(user_id)
    if not decision.allowed:
        log.info("Rate limit: user %s must wait %.0f s", user_id, decision.retry_after)
        if decision.notify:
            await reply_html(message, texts.RATE_LIMITED.format(seconds=decision.retry_after_seconds))
        return
    state = ctx.states.get(message.chat.id)
    async with state.lock:
        try:
            async with typing_action(message):
                answer = await produce_answer(ctx, state, question)
        except InputError as exc:
            await reply_html(message, texts.BAD_QUESTION.format(reason=escape(str(exc))))
            return
        log.info(
            "Answered chat %s: found=%s mode=%s citations=%d", message.chat.id, answer.found, answer.mode,
            len(answer.citations),
        )
        await deliver_answer(message, state.remember(answer))
