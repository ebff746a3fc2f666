"""A fake Telegram Bot API server (real HTTP on 127.0.0.1) and a runner for the real bot against it."""

from .html_check import TelegramHtmlError, utf16_len, visible_text
from .runner import RunningBot, StartBot, bot_starter
from .server import BOT_ID, BOT_USERNAME, DEFAULT_TOKEN, ApiCall, FakeTelegram, wait_until

__all__ = [
    "BOT_ID",
    "BOT_USERNAME",
    "DEFAULT_TOKEN",
    "ApiCall",
    "FakeTelegram",
    "RunningBot",
    "StartBot",
    "TelegramHtmlError",
    "utf16_len",
    "bot_starter",
    "visible_text",
    "wait_until",
]
