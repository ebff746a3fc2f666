"""Building and running the Telegram bot (python-telegram-bot ``Application``, long polling)."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from typing import Literal

from telegram import Bot, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application

from bot.feedback_log import FEEDBACK_FILE, FeedbackLog
from bot.service import build_service
from rag.errors import NewsQAError
from rag.service import NewsQA
from rag.settings import Settings

from . import texts
from .context import BotContext, attach_context
from .handlers import bot_commands, register_handlers
from .logsafe import REDACTED, protect_token
from .ratelimit import RateLimiter
from .state import ChatStates

log = logging.getLogger(__name__)

#: At most this many updates are handled at once (each question waits in a worker thread, not the loop).
CONCURRENT_UPDATES = 64
#: Exit codes of :func:`run_bot`.
EXIT_OK, EXIT_ERROR, EXIT_CONFIG = 0, 1, 2
#: Only these update types are fetched: messages (questions, commands) and button presses.
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]

_MISSING_TOKEN = (
    "newsqa bot: no Telegram bot token. Create a bot with @BotFather and set NEWSQA_TELEGRAM_TOKEN "
    "(environment or .env)."
)
_REJECTED_TOKEN = (
    "newsqa bot: the Bot API server at {server} rejected the token in NEWSQA_TELEGRAM_TOKEN (401 Unauthorized). "
    "Check the token with @BotFather."
)
_UNREACHABLE = "newsqa bot: cannot reach the Bot API server at {server} ({reason}). Check NEWSQA_TELEGRAM_BASE_URL and the network."


class MissingTokenError(InvalidToken):
    """No bot token configured (``NEWSQA_TELEGRAM_TOKEN`` unset or empty)."""

    def __init__(self) -> None:
        super().__init__("NEWSQA_TELEGRAM_TOKEN is not set")


def _token(settings: Settings) -> str:
    return settings.telegram_token.get_secret_value().strip() if settings.telegram_token else ""


def file_base_url(base_url: str) -> str | None:
    """The file download URL matching a Bot API base URL (``.../bot`` -> ``.../file/bot``), or None if unknown."""
    match = re.search(r"/bot(\{[^}]*\})?/?$", base_url)
    if not match:
        return None
    return base_url[: match.start()] + "/file/bot" + (match.group(1) or "")


def _server_of(base_url: str) -> str:
    """Scheme and host of the Bot API URL, for messages (a ``{token}`` placeholder or path never shows)."""
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*://[^/]+)", base_url)
    return match.group(1) if match else "the configured URL"


def build_bot(settings: Settings, service: NewsQA | None = None, *, example_question: str | None = None) -> Application:  # type: ignore[type-arg]
    """Build the bot's ``Application`` (not started) with every handler registered.

    Args:
        settings: token, Bot API base URL, allow-list, rate limit (questions per user per minute), data dir
            (feedback goes to ``data_dir/feedback.jsonl``) and the metrics port (``bot_metrics_port``: served from
            start-up to shutdown, see :mod:`bot.telegram.metrics`).
        service: the core service to answer with; when None one is created from ``settings`` and closed when the
            application shuts down. A service passed in stays owned by the caller.
        example_question: shown by /start and /help; defaults to :data:`bot.telegram.texts.EXAMPLE_QUESTION`.

    Raises:
        MissingTokenError: no token configured.
        ValueError: ``telegram_allowed_chats`` holds something that is not a chat id.
    """
    token = _token(settings)
    if not token:
        raise MissingTokenError()
    protect_token(token)
    allowed = frozenset(settings.telegram_allowed_chat_ids)
    owns_service = service is None
    if service is None:
        service = build_service(settings)
    bot_context = BotContext(
        settings=settings,
        service=service,
        states=ChatStates(max_chats=settings.conversation_max_count),
        limiter=RateLimiter(settings.telegram_rate_limit, window=60.0),
        feedback=FeedbackLog(settings.data_dir / FEEDBACK_FILE),
        allowed_ids=allowed,
        example_question=example_question or texts.EXAMPLE_QUESTION,
    )

    async def post_init(application: Application) -> None:  # type: ignore[type-arg]
        if settings.bot_metrics_port is not None:
            try:
                bot_context.metrics.serve(settings.bot_metrics_host, settings.bot_metrics_port)
            except OSError as exc:  # the bot still answers; the operator sees why there are no metrics
                log.error("Bot metrics not served: cannot bind NEWSQA_BOT_METRICS_HOST:NEWSQA_BOT_METRICS_PORT = "
                          "%s:%s (%s)", settings.bot_metrics_host, settings.bot_metrics_port, exc.strerror or exc)
        try:
            await application.bot.set_my_commands(bot_commands())
        except TelegramError as exc:  # the command menu is a convenience; the bot works without it
            log.warning("Could not set the command menu: %s", exc)
        log.info("Telegram bot @%s ready", application.bot.username)

    async def post_shutdown(application: Application) -> None:  # type: ignore[type-arg]
        bot_context.metrics.close()
        if owns_service:
            await asyncio.to_thread(service.close)

    builder = (
        Application.builder()
        .token(token)
        .base_url(settings.telegram_base_url)
        .concurrent_updates(CONCURRENT_UPDATES)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    file_url = file_base_url(settings.telegram_base_url)
    if file_url:
        builder = builder.base_file_url(file_url)
    application = builder.build()
    attach_context(application, bot_context)
    register_handlers(application)
    return application


async def check_token(settings: Settings) -> Literal["ok", "rejected", "unreachable"]:
    """Call getMe once: "ok", "rejected" (401/404: bad token) or "unreachable" (network or server error)."""
    token = _token(settings)
    if not token:
        return "rejected"
    base_url = settings.telegram_base_url
    bot = Bot(token, base_url=base_url, base_file_url=file_base_url(base_url) or "https://api.telegram.org/file/bot")
    try:
        async with bot:
            return "ok"
    except InvalidToken:
        return "rejected"
    except TelegramError:  # NetworkError, TimedOut, or a server error instead of a getMe result
        return "unreachable"


def _configure_logging(settings: Settings) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )


def run_bot(settings: Settings) -> int:
    """Run the bot with long polling until SIGINT/SIGTERM; returns the process exit code.

    0 after a normal stop; 2 when the token is missing or rejected, or the allow-list is invalid; 1 when the Bot
    API server cannot be reached or the store/model cannot be opened. Each failure prints one line to stderr (no
    traceback, never the token).
    """
    _configure_logging(settings)
    token = _token(settings)
    if not token:
        print(_MISSING_TOKEN, file=sys.stderr)
        return EXIT_CONFIG
    protect_token(token)
    server = _server_of(settings.telegram_base_url)
    try:
        settings.telegram_allowed_chat_ids  # noqa: B018 - validate before connecting
    except ValueError as exc:
        print(f"newsqa bot: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    # Check the token ourselves first: python-telegram-bot logs a rejected token with a traceback.
    status = asyncio.run(check_token(settings))
    if status == "rejected":
        print(_REJECTED_TOKEN.format(server=server), file=sys.stderr)
        return EXIT_CONFIG
    if status == "unreachable":
        print(_UNREACHABLE.format(server=server, reason="no valid response to getMe"), file=sys.stderr)
        return EXIT_ERROR
    try:
        service = build_service(settings)
        service.warm_up()
    except NewsQAError as exc:
        print(f"newsqa bot: {str(exc).replace(token, REDACTED)}", file=sys.stderr)
        return EXIT_ERROR
    try:
        application = build_bot(settings, service)
        log.info("Starting the Telegram bot (long polling, %s)", server)
        application.run_polling(allowed_updates=ALLOWED_UPDATES)
    except InvalidToken:  # revoked between the check and the start
        print(_REJECTED_TOKEN.format(server=server), file=sys.stderr)
        return EXIT_CONFIG
    finally:
        service.close()
    return EXIT_OK
