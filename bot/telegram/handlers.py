"""Telegram update handlers: a gate (group rules, allow-list), commands, questions, buttons, one error handler.

Handler order: the gate runs first (handler group -1) and stops updates the bot must ignore or refuse; the
handlers in group 0 then do one thing each and delegate answering to :mod:`bot.telegram.answering`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

from telegram import BotCommand, CallbackQuery, MaybeInaccessibleMessage, Message, MessageEntity, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from . import texts
from .answering import respond
from .context import get_context
from .filters_cmd import FILTER_COMMANDS, filter_command
from .format import escape, render_article, render_help, render_passage, render_sources, render_start
from .keyboards import (
    ARTICLE,
    FEEDBACK,
    SOURCE,
    VOTES,
    Callback,
    answer_keyboard,
    parse_callback,
    passage_keyboard,
)
from .replies import reply_html
from .state import StoredAnswer

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
_GROUP_CHATS = (ChatType.GROUP, ChatType.SUPERGROUP)


# --- gate ---------------------------------------------------------------------------------------------------------


def _command_target(message: Message) -> str | None:
    """For a command message, the bot it names ("" for a bare /command); None when not a command."""
    entity = next((e for e in message.entities if e.type == MessageEntity.BOT_COMMAND and e.offset == 0), None)
    if entity is None:
        return None
    command = message.parse_entity(entity)
    return command.partition("@")[2]


def _mentions_bot(message: Message, username: str, bot_id: int) -> bool:
    for entity, text in message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION]).items():
        if entity.type == MessageEntity.MENTION and text[1:].lower() == username.lower():
            return True
        if entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot_id:
            return True
    return False


def is_addressed(update: Update, username: str, bot_id: int) -> bool:
    """True when the bot should react: any private message or button, and in groups only commands for this bot,
    messages mentioning it and replies to its messages. Edited messages and channel posts are never addressed."""
    if update.callback_query is not None:
        return True
    message = update.message
    if message is None:
        return False
    if message.chat.type == ChatType.PRIVATE:
        return True
    if message.chat.type not in _GROUP_CHATS:
        return False
    target = _command_target(message)
    if target is not None:
        return target == "" or target.lower() == username.lower()
    if _mentions_bot(message, username, bot_id):
        return True
    replied = message.reply_to_message
    return bool(replied and replied.from_user and replied.from_user.id == bot_id)


async def gate(update: Update, context: Context) -> None:
    """Stop updates not addressed to the bot (silence) and from chats not on the allow-list (one refusal)."""
    if not is_addressed(update, context.bot.username, context.bot.id):
        raise ApplicationHandlerStop
    ctx = get_context(context)
    ctx.metrics.observe_update(update)
    chat, user = update.effective_chat, update.effective_user
    if ctx.is_allowed(chat.id if chat else None, user.id if user else None):
        return
    ctx.metrics.reject("not_allowed")
    log.info("Refused chat %s (user %s): not on the allow-list", chat.id if chat else None, user.id if user else None)
    if update.callback_query is not None:
        await update.callback_query.answer(texts.REFUSAL, show_alert=True)
    elif update.message is not None and chat is not None and ctx.first_refusal(chat.id):
        await reply_html(update.message, escape(texts.REFUSAL))
    raise ApplicationHandlerStop


# --- commands -----------------------------------------------------------------------------------------------------


def _message(update: Update) -> Message:
    """The update's new message (message handlers are registered for new messages only)."""
    if update.message is None:
        raise TypeError(f"update {update.update_id} has no message")
    return update.message


async def start_command(update: Update, context: Context) -> None:
    """/start: what the bot knows (article count, last ingest date) and an example question."""
    ctx = get_context(context)
    stats = await asyncio.to_thread(ctx.service.stats)
    await reply_html(_message(update), render_start(stats, ctx.example_question))


async def help_command(update: Update, context: Context) -> None:
    """/help: how to ask, the buttons, group use, commands, the rate limit."""
    ctx = get_context(context)
    text = render_help(context.bot.username, ctx.settings.telegram_rate_limit, ctx.example_question)
    await reply_html(_message(update), text)


async def sources_command(update: Update, context: Context) -> None:
    """/sources: every source (passage, title, file, score) of the chat's last answer."""
    ctx, message = get_context(context), _message(update)
    last = ctx.states.get(message.chat.id).last_answer
    if last is None:
        await reply_html(message, texts.NO_LAST_ANSWER.format(example=escape(ctx.example_question)))
    elif not last.answer.found or not last.answer.citations:
        await reply_html(message, texts.LAST_ANSWER_NOT_FOUND)
    else:
        await reply_html(message, render_sources(last.answer))


async def reset_command(update: Update, context: Context) -> None:
    """/reset: forget this chat's conversation, answers and buttons."""
    message = _message(update)
    get_context(context).states.get(message.chat.id).reset()
    await reply_html(message, texts.RESET_DONE)


async def unknown_command(update: Update, context: Context) -> None:
    """Unknown command: a hint in private chats, or in groups when explicitly addressed (/cmd@thisbot)."""
    message = _message(update)
    if message.chat.type == ChatType.PRIVATE or _command_target(message):
        await reply_html(message, texts.UNKNOWN_COMMAND)


# --- questions ----------------------------------------------------------------------------------------------------


def extract_question(message: Message, username: str) -> str:
    """The question in ``message``: its text, without mentions of the bot (in groups), stripped."""
    text = message.text or ""
    if message.chat.type != ChatType.PRIVATE and username:
        text = re.sub(rf"@{re.escape(username)}\b", " ", text, flags=re.IGNORECASE)
    return text.strip()


async def question_message(update: Update, context: Context) -> None:
    """A text message addressed to the bot is a question."""
    ctx, message = get_context(context), _message(update)
    question = extract_question(message, context.bot.username)
    if not question:
        hint = texts.EMPTY_MENTION.format(username=escape(context.bot.username), example=escape(ctx.example_question))
        await reply_html(message, hint)
        return
    await respond(ctx, message, question)


async def non_text_message(update: Update, context: Context) -> None:
    """Photos, stickers, voice ... addressed to the bot: only text questions are supported."""
    await reply_html(_message(update), texts.ONLY_TEXT)


# --- buttons ------------------------------------------------------------------------------------------------------


@dataclass
class _Press:
    """A button press: the query, its parsed data, the answer it belongs to and the message carrying the button.
    ``stored`` is None when the data is foreign or the answer was forgotten (/reset, restart, too old)."""

    query: CallbackQuery
    callback: Callback | None
    stored: StoredAnswer | None
    message: MaybeInaccessibleMessage | None


def _press(update: Update, context: Context) -> _Press:
    query = update.callback_query
    if query is None:
        raise TypeError(f"update {update.update_id} has no callback query")
    callback, message = parse_callback(query.data), query.message
    stored = None
    if callback is not None and message is not None:
        stored = get_context(context).states.get(message.chat.id).get(callback.key)
    return _Press(query, callback, stored, message)


async def source_button(update: Update, context: Context) -> None:
    """A source button: show that source's cited passage and title, with a button for the whole article."""
    press = _press(update, context)
    if press.stored is None or press.callback is None or press.message is None:
        await press.query.answer(texts.EXPIRED_BUTTON, show_alert=True)
        return
    citation = press.stored.citation(press.callback.number)
    if citation is None:
        await press.query.answer(texts.SOURCE_NOT_FOUND, show_alert=True)
        return
    await press.query.answer()
    keyboard = passage_keyboard(press.stored, citation.id)
    await reply_html(press.message, render_passage(citation), reply_markup=keyboard)


async def article_button(update: Update, context: Context) -> None:
    """The "whole article" button: send the cited article in full (split over several messages if long)."""
    press = _press(update, context)
    citation = press.stored.citation(press.callback.number) if press.stored and press.callback else None
    if citation is None or press.message is None:
        await press.query.answer(texts.EXPIRED_BUTTON, show_alert=True)
        return
    article = await asyncio.to_thread(get_context(context).service.get_article, citation.article_id)
    if article is None:
        await press.query.answer(texts.ARTICLE_NOT_FOUND, show_alert=True)
        return
    await press.query.answer()
    await reply_html(press.message, render_article(article))


async def feedback_button(update: Update, context: Context) -> None:
    """👍 / 👎: append the vote (question, answer, sources) to the feedback file and show the counts."""
    press = _press(update, context)
    stored, query = press.stored, press.query
    if stored is None or press.callback is None or press.callback.arg not in VOTES:
        await query.answer(texts.EXPIRED_BUTTON, show_alert=True)
        return
    vote, user_id = VOTES[press.callback.arg], query.from_user.id
    if stored.votes.get(user_id) == vote:
        await query.answer(texts.FEEDBACK_ALREADY)
        return
    await asyncio.to_thread(
        get_context(context).feedback.record,
        answer=stored.answer,
        vote=vote,
        channel="telegram",
        conversation_id=stored.conversation_id,
        answer_id=f"telegram:{stored.chat_id}:{stored.key}",
        chat_id=stored.chat_id,
        user_id=user_id,
        message_id=stored.message_id,
    )
    stored.votes[user_id] = vote
    await query.answer(texts.FEEDBACK_THANKS)
    try:
        await query.edit_message_reply_markup(reply_markup=answer_keyboard(stored))
    except BadRequest as exc:  # e.g. "message is not modified", or a message too old to edit: cosmetic only
        log.debug("Could not update feedback buttons: %s", exc)


async def unknown_button(update: Update, context: Context) -> None:
    """Buttons with data this bot does not know (older versions): say so instead of leaving a spinner."""
    await _press(update, context).query.answer(texts.UNKNOWN_BUTTON)


# --- errors -------------------------------------------------------------------------------------------------------


async def error_handler(update: object, context: Context) -> None:
    """The one error handler: log the details, tell the user a short Chinese apology (never the details)."""
    error = context.error
    get_context(context).metrics.error()
    if isinstance(update, Update):
        chat, user = update.effective_chat, update.effective_user
        where = f"update {update.update_id} chat {chat.id if chat else None} user {user.id if user else None}"
    else:
        where = "no update"
    log.error("Error while handling %s: %r", where, error, exc_info=error)
    if not isinstance(update, Update):
        return
    try:
        if update.callback_query is not None:
            try:
                await update.callback_query.answer(texts.APOLOGY, show_alert=True)
                return
            except BadRequest:  # already answered before the failure: tell the chat instead
                pass
        if update.message is not None:
            await reply_html(update.message, escape(texts.APOLOGY))
        elif update.effective_chat is not None:
            await context.bot.send_message(chat_id=update.effective_chat.id, text=escape(texts.APOLOGY))
    except TelegramError as exc:
        log.warning("Could not send the apology: %s", exc)


# --- wiring -------------------------------------------------------------------------------------------------------


def register_handlers(application: Application) -> None:  # type: ignore[type-arg]
    """Add the gate, command, message, button and error handlers to ``application``."""
    application.add_handler(TypeHandler(Update, gate), group=-1)
    application.add_handler(CommandHandler("start", start_command))
    application.add_handler(CommandHandler("help", help_command))
    application.add_handler(CommandHandler("sources", sources_command))
    application.add_handler(CommandHandler("reset", reset_command))
    application.add_handler(CommandHandler(list(FILTER_COMMANDS), filter_command))
    new_messages = filters.UpdateType.MESSAGE
    application.add_handler(MessageHandler(new_messages & filters.COMMAND, unknown_command))
    application.add_handler(MessageHandler(new_messages & filters.TEXT & ~filters.COMMAND, question_message))
    application.add_handler(
        MessageHandler(new_messages & ~filters.TEXT & ~filters.StatusUpdate.ALL, non_text_message)
    )
    application.add_handler(CallbackQueryHandler(source_button, pattern=f"^{SOURCE}:"))
    application.add_handler(CallbackQueryHandler(article_button, pattern=f"^{ARTICLE}:"))
    application.add_handler(CallbackQueryHandler(feedback_button, pattern=f"^{FEEDBACK}:"))
    application.add_handler(CallbackQueryHandler(unknown_button))
    application.add_error_handler(error_handler)


def bot_commands() -> list[BotCommand]:
    """The command menu shown by Telegram clients (setMyCommands)."""
    return [BotCommand(name, description) for name, description in texts.COMMANDS]
