"""Sending HTML that may exceed one message, and the typing indicator."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from telegram import Bot, InlineKeyboardMarkup, MaybeInaccessibleMessage, Message, ReplyParameters
from telegram.constants import ChatAction, ParseMode
from telegram.error import RetryAfter, TelegramError

from .format import split_html

log = logging.getLogger(__name__)

#: Longest flood-control wait (seconds) we sit out before retrying a send once; longer waits fail the send.
MAX_RETRY_AFTER_SECONDS = 30.0
#: Telegram shows "typing…" for about 5 seconds; refresh a little earlier while an answer is computed.
TYPING_REFRESH_SECONDS = 4.0


def thread_id_of(message: MaybeInaccessibleMessage | None) -> int | None:
    """Forum topic of ``message`` (so replies stay in the topic), or None."""
    if isinstance(message, Message) and message.is_topic_message:
        return message.message_thread_id
    return None


async def _send_once(bot: Bot, **kwargs: object) -> Message:
    try:
        return await bot.send_message(**kwargs)  # type: ignore[arg-type]
    except RetryAfter as exc:
        # Flood control: wait as told (bounded) and try once more; the second failure propagates.
        delay = exc.retry_after
        seconds = delay.total_seconds() if hasattr(delay, "total_seconds") else float(delay)
        if seconds > MAX_RETRY_AFTER_SECONDS:
            raise
        log.warning("Flood control: waiting %.0f s before resending", seconds)
        await asyncio.sleep(seconds)
        return await bot.send_message(**kwargs)  # type: ignore[arg-type]


async def send_html(
    bot: Bot,
    chat_id: int,
    html_text: str,
    *,
    reply_to: int | None = None,
    thread_id: int | None = None,
    reply_markup: InlineKeyboardMarkup | None = None,
) -> list[Message]:
    """Send Telegram HTML to a chat, split into as many messages as needed (see :func:`split_html`).

    The first message replies to ``reply_to`` (still sent if that message is gone); ``reply_markup`` goes on the
    last message, under the end of the text. Returns the messages sent, in order.

    Raises:
        telegram.error.TelegramError: a send failed (after one bounded retry on flood control).
    """
    parts = split_html(html_text)
    sent: list[Message] = []
    for index, part in enumerate(parts):
        reply_parameters = (
            ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
            if index == 0 and reply_to is not None
            else None
        )
        message = await _send_once(
            bot,
            chat_id=chat_id,
            text=part,
            parse_mode=ParseMode.HTML,
            reply_parameters=reply_parameters,
            message_thread_id=thread_id,
            reply_markup=reply_markup if index == len(parts) - 1 else None,
        )
        sent.append(message)
    return sent


async def reply_html(
    message: MaybeInaccessibleMessage, html_text: str, *, reply_markup: InlineKeyboardMarkup | None = None
) -> list[Message]:
    """:func:`send_html` as a reply to ``message``, in its chat and forum topic."""
    return await send_html(
        message.get_bot(),
        message.chat.id,
        html_text,
        reply_to=message.message_id,
        thread_id=thread_id_of(message),
        reply_markup=reply_markup,
    )


@contextlib.asynccontextmanager
async def typing_action(message: Message) -> AsyncIterator[None]:
    """Show "typing…" in ``message``'s chat now and keep it visible until the block ends.

    The first action is sent before the block starts (so it always precedes the reply); failures to send it are
    logged and ignored, as the indicator is cosmetic.
    """
    bot, chat_id, thread_id = message.get_bot(), message.chat.id, thread_id_of(message)

    async def send() -> None:
        try:
            await bot.send_chat_action(chat_id=chat_id, action=ChatAction.TYPING, message_thread_id=thread_id)
        except TelegramError as exc:
            log.debug("sendChatAction failed: %s", exc)

    async def refresh() -> None:
        while True:
            await asyncio.sleep(TYPING_REFRESH_SECONDS)
            await send()

    await send()
    task = asyncio.create_task(refresh())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
